//! Transport attempts: opening one (with the right ClientPayload), the handshake milestones,
//! and ending one — where every disconnect gets its reason, its log line and the reconnect
//! policy's verdict (reconnect at an instant, refresh the version, or stop for good).

use std::time::Instant;

use tracing::{debug, info, warn};

use super::{Action, AfterPersist, Attempt, Connection, Event, State, Transmit, TransportId};
use crate::backoff::Decision;
use crate::binary::Node;
use crate::creds::{CredentialChange, Credentials};
use crate::crypto::KeyPair;
use crate::link::{Link, LinkError};
use crate::payload::{self, LoginParams, RegistrationParams};
use crate::reason::{DisconnectReason, LostCause, ProtocolFault};
use crate::timer::Timer;

impl Connection {
    /// Asks for a transport attempt: now, or as soon as pending persists are confirmed.
    pub(super) fn want_attempt(&mut self, now: Instant) {
        self.attempt_wanted = true;
        self.state = State::Connecting;
        if self.pending.is_empty() && !self.fetching_version {
            self.start_attempt(now);
        }
    }

    pub(super) fn start_attempt(&mut self, now: Instant) {
        if self.attempt.is_some() || !self.attempt_wanted {
            return;
        }
        let Some(creds) = self.creds.as_ref() else {
            return;
        };
        let client_payload = match self.client_payload(creds) {
            Ok(payload) => payload,
            Err(detail) => {
                self.stop(DisconnectReason::StoreFailure { detail });
                return;
            }
        };
        self.attempt_wanted = false;
        self.next_transport += 1;
        let id = TransportId(self.next_transport);
        self.attempt = Some(Attempt {
            id,
            link: None,
            client_payload,
            finished_at: None,
        });
        self.state = State::Connecting;
        self.timers
            .set(Timer::Connect, now + self.config.connect_timeout);
        self.actions.push_back(Action::OpenTransport {
            id,
            endpoint: self.config.endpoint.clone(),
        });
        debug!(%id, endpoint = %self.config.endpoint, "opening transport");
    }

    pub(super) fn client_payload(&self, creds: &Credentials) -> Result<Vec<u8>, String> {
        match &creds.device {
            Some(device) => {
                let username = device.jid.user_str().parse::<u64>().map_err(|_| {
                    format!(
                        "the stored JID {} has a non-numeric user; the credentials are damaged — \
                         restore a backup or link again",
                        device.jid
                    )
                })?;
                let mut params = LoginParams::new(username, device.jid.device_id());
                params.version = self.version;
                params.profile = self.config.profile.clone();
                Ok(payload::login_payload(&params))
            }
            None => {
                let spk = &creds.signed_pre_key;
                let mut params = RegistrationParams::new(
                    creds.registration_id,
                    creds.identity_key.public_bytes(),
                    spk.id,
                    spk.key_pair.public_bytes(),
                    spk.signature,
                );
                params.version = self.version;
                params.profile = self.config.profile.clone();
                params.companion = self.config.companion.clone();
                payload::registration_payload(&params).map_err(|e| e.to_string())
            }
        }
    }

    pub(super) fn on_opened(&mut self, now: Instant) {
        let Some(creds) = self.creds.as_ref() else {
            return;
        };
        let ephemeral = KeyPair::generate(&mut self.rng.keys);
        let opened = Link::open(
            creds.noise_key.clone(),
            ephemeral,
            creds.routing_info.as_deref(),
            self.config.max_frame_len,
        );
        let Some(attempt) = self.attempt.as_mut() else {
            return;
        };
        match opened {
            Ok((link, first)) => {
                attempt.link = Some(link);
                self.transmits.push_back(Transmit {
                    transport: attempt.id,
                    payload: first,
                });
                self.timers.clear(Timer::Connect);
                self.timers
                    .set(Timer::Handshake, now + self.config.handshake_timeout);
                self.state = State::Handshaking;
            }
            Err(error) => self.end_transport(reason_for_link_error(error), now),
        }
    }

    pub(super) fn on_handshake_done(&mut self, now: Instant) {
        if let Some(attempt) = self.attempt.as_mut() {
            attempt.finished_at = Some(now);
        }
        self.state = State::Authenticating;
        self.keepalive.start(now, &mut self.rng.jitter);
        self.keepalive.on_send(now);
    }

    pub(super) fn on_timer(&mut self, timer: Timer, now: Instant) {
        match timer {
            Timer::Connect => self.end_transport(
                DisconnectReason::ConnectionLost {
                    cause: LostCause::ConnectTimeout,
                },
                now,
            ),
            Timer::Handshake => self.end_transport(
                DisconnectReason::ConnectionLost {
                    cause: LostCause::HandshakeTimeout,
                },
                now,
            ),
            Timer::Reconnect => {
                if matches!(self.state, State::WaitingToReconnect { .. }) {
                    self.want_attempt(now);
                }
            }
            Timer::PairingRef | Timer::PairingCode => self.on_pairing_timer(timer, now),
            _ => {}
        }
    }

    /// Encrypts and queues `node` on the current transport.
    pub(super) fn send(&mut self, node: &Node, now: Instant) {
        let Some(attempt) = self.attempt.as_mut() else {
            return;
        };
        let Some(link) = attempt.link.as_mut() else {
            return;
        };
        match link.send_node(node) {
            Ok(payload) => {
                self.transmits.push_back(Transmit {
                    transport: attempt.id,
                    payload,
                });
                self.keepalive.on_send(now);
            }
            Err(error) => self.end_transport(reason_for_link_error(error), now),
        }
    }

    /// Ends the current transport with `reason` and decides what comes next.
    pub(super) fn end_transport(&mut self, reason: DisconnectReason, now: Instant) {
        if let Some(attempt) = self.attempt.take() {
            self.actions
                .push_back(Action::CloseTransport { id: attempt.id });
        }
        self.keepalive.stop();
        for timer in [
            Timer::Connect,
            Timer::Handshake,
            Timer::PairingRef,
            Timer::PairingCode,
        ] {
            self.timers.clear(timer);
        }
        self.session.on_disconnect();
        self.media_conn_lost();
        self.messaging.on_disconnected();
        info!("{}", reason.closed_line());

        // A 401 on a pairing the server never confirmed: forget it and link again.
        let unconfirmed = self
            .creds
            .as_ref()
            .is_some_and(|c| c.is_paired() && !c.confirmed);
        if unconfirmed && matches!(reason, DisconnectReason::LoggedOut { .. }) {
            warn!("the server refused a pairing it never confirmed; linking again");
            self.persist(CredentialChange::PairingDiscarded, AfterPersist::Nothing);
            self.emit_disconnected(reason, Some(now), 0);
            self.want_attempt(now);
            return;
        }

        match self
            .policy
            .on_disconnected(now, &reason, &mut self.rng.jitter)
        {
            Decision::ReconnectAt { at, attempt } => {
                if at > now {
                    info!(
                        "{}",
                        crate::reason::reconnecting_line(
                            at - now,
                            attempt,
                            self.policy.max_attempts()
                        )
                    );
                }
                self.emit_disconnected(reason, Some(at), attempt);
                self.state = State::WaitingToReconnect { at };
                self.timers.set(Timer::Reconnect, at);
            }
            Decision::RefreshVersion => {
                self.emit_disconnected(reason, Some(now), 0);
                self.fetching_version = true;
                self.attempt_wanted = true;
                self.state = State::Connecting;
                self.actions.push_back(Action::FetchVersion {
                    url: self.config.version_url.clone(),
                });
            }
            Decision::Stop {
                reason,
                reconnect_at,
            } => {
                self.finish_stop(reason, reconnect_at);
            }
        }
    }

    pub(super) fn emit_disconnected(
        &mut self,
        reason: DisconnectReason,
        at: Option<Instant>,
        attempt: u32,
    ) {
        self.events.push_back(Event::Disconnected {
            reason,
            reconnect_at: at,
            attempt,
            max_attempts: self.policy.max_attempts(),
        });
    }

    /// Stops for good: closes the transport (if any) and reports the terminal reason.
    pub(super) fn stop(&mut self, reason: DisconnectReason) {
        if let Some(attempt) = self.attempt.take() {
            self.actions
                .push_back(Action::CloseTransport { id: attempt.id });
        }
        self.keepalive.stop();
        self.session.on_disconnect();
        self.media_conn_lost();
        self.messaging.on_disconnected();
        self.finish_stop(reason, None);
    }

    pub(super) fn finish_stop(&mut self, reason: DisconnectReason, reconnect_at: Option<Instant>) {
        self.attempt_wanted = false;
        self.fetching_version = false;
        for timer in Timer::ALL {
            self.timers.clear(timer);
        }
        if let Some(line) = reason.invalidated_line() {
            warn!("{line}");
        }
        if matches!(reason, DisconnectReason::LoggedOut { .. }) && self.creds.is_some() {
            self.next_seq = self.next_seq.next();
            let seq = self.next_seq;
            self.pending.insert(seq, AfterPersist::Nothing);
            self.actions.push_back(Action::QuarantineCredentials {
                seq,
                reason: reason.closed_line(),
            });
            self.creds = None;
            // Nothing of the logged-out account's messaging state (cached records, pending
            // sends, timers) may reach a later link.
            self.messaging = super::fresh_messaging(&self.config, &mut self.rng.msg);
        }
        info!(
            advice = reason.advice(),
            "stopped: {}",
            reason.closed_line()
        );
        self.events.push_back(Event::Disconnected {
            reason: reason.clone(),
            reconnect_at,
            attempt: self.policy.attempt(),
            max_attempts: self.policy.max_attempts(),
        });
        self.events.push_back(Event::Stopped {
            reason: reason.clone(),
        });
        self.state = State::Stopped(reason);
    }
}

/// Maps a link failure to the reason the connection reports.
pub(super) fn reason_for_link_error(error: LinkError) -> DisconnectReason {
    match error {
        LinkError::Certificate(why) => DisconnectReason::from_cert_error(why),
        LinkError::Handshake(why) => DisconnectReason::HandshakeFailed { why },
        LinkError::Frame(e) => DisconnectReason::ProtocolError {
            fault: ProtocolFault::Frame(e),
        },
        LinkError::Transport(e) => DisconnectReason::ProtocolError {
            fault: ProtocolFault::Transport(e),
        },
        LinkError::Decode(e) => DisconnectReason::ProtocolError {
            fault: ProtocolFault::Decode(e),
        },
        other => DisconnectReason::ProtocolError {
            fault: ProtocolFault::Unexpected {
                expected: link_error_text(&other),
                raw: None,
            },
        },
    }
}

pub(super) fn link_error_text(error: &LinkError) -> &'static str {
    match error {
        LinkError::Encode(_) => "a stanza Tether can encode",
        _ => "a usable transport",
    }
}
