//! Linking a new companion inside a [`Connection`] (`session.md` §3, `DESIGN.md` §3.2).
//!
//! ```text
//!  Authenticating ──pair-device (refs)──▶ Pairing ──QrCode(ref 1, 60 s)──▶ QrCode(ref 2, 20 s) …
//!                                           │                                  │ refs run out
//!                                           │ RequestPairingCode{phone}        ▼
//!                                           ├──▶ companion_hello ─▶ PairingCode   QrCodesExhausted
//!                                           │      (QR events stop; window = the code's lifetime)
//!                                           │    primary_hello ─▶ persist ADV secret ─▶ companion_finish
//!                                           ▼
//!                    pair-success ─▶ verify HMAC + account signature ─▶ persist identity
//!                          (unconfirmed) ─▶ Persisted ─▶ send pair-device-sign, emit Paired
//!                          ─▶ server sends 515 ─▶ immediate reconnect and login
//! ```
//!
//! Nothing is sent on the strength of credentials the store has not confirmed.

use std::time::{Duration, Instant};

use rand_core::Rng;
use tracing::{info, warn};

use super::{AfterPersist, CommandError, Connection, Event, State};
use crate::binary::Node;
use crate::creds::{CredentialChange, DeviceIdentity, Secret32};
use crate::crypto::KeyPair;
use crate::pairing::code::{
    self as pair_code, CodeFinished, CompanionFinishRandom, CompanionHelloParams,
    CompanionHelloRandom, PendingPairCode, PrimaryHello, RegisteredPairCode,
};
use crate::pairing::qr::{self, ClientType, QrPayload};
use crate::pairing::{self, AdvSecret, success};
use crate::reason::{DisconnectReason, ProtocolFault};
use crate::timer::Timer;

/// How long a pair code stays usable (whatsmeow and the phone show about three minutes).
pub(super) const PAIR_CODE_LIFETIME: Duration = Duration::from_secs(180);

/// Where a pair-code request stands.
#[derive(Debug)]
pub(super) enum PairCode {
    /// Asked for before `pair-device` arrived; sent as soon as it does.
    Requested(String),
    /// Stage 1 sent (iq id), waiting for the server's ref.
    Sent {
        iq_id: String,
        pending: PendingPairCode,
    },
    /// The code is shown; waiting for the phone's stage 2.
    Registered(RegisteredPairCode),
}

/// Linking state of the current transport.
#[derive(Debug, Default)]
pub(super) struct Linking {
    refs: Vec<String>,
    next_ref: usize,
    pub(super) pair_code: Option<PairCode>,
}

impl Connection {
    /// `<iq xmlns="md" type="set"><pair-device>…`: start showing QR codes.
    pub(super) fn on_pair_device(&mut self, node: &Node, now: Instant) {
        let pair_device = match qr::parse_pair_device(node) {
            Ok(p) => p,
            Err(error) => {
                warn!(%error, "malformed pair-device");
                return self.unexpected("a well-formed pair-device iq", node, now);
            }
        };
        let ack = qr::pair_device_ack(&pair_device.id);
        self.send(&ack, now);
        self.timers.clear(Timer::Handshake);
        self.state = State::Pairing;
        // A code sent or shown on an earlier connection is tied to that connection's
        // registration: ask again for the same phone, so the user gets a new code.
        let pair_code = self
            .linking
            .take()
            .and_then(|l| l.pair_code)
            .map(|code| match code {
                PairCode::Requested(phone) => PairCode::Requested(phone),
                PairCode::Sent { pending, .. } => {
                    PairCode::Requested(pending.phone_jid.user_str().to_owned())
                }
                PairCode::Registered(registered) => {
                    PairCode::Requested(registered.phone_jid.user_str().to_owned())
                }
            });
        self.linking = Some(Linking {
            refs: pair_device.refs,
            next_ref: 0,
            pair_code,
        });
        let requested = match self.linking.as_ref().and_then(|l| l.pair_code.as_ref()) {
            Some(PairCode::Requested(phone)) => Some(phone.clone()),
            _ => None,
        };
        if let Some(phone) = requested
            && let Err(error) = self.send_companion_hello(&phone, now)
        {
            warn!(%error, "pair code request dropped; showing QR codes");
            if let Some(linking) = self.linking.as_mut() {
                linking.pair_code = None;
            }
        }
        if self.pair_code_active() {
            return;
        }
        self.next_qr(now);
    }

    fn pair_code_active(&self) -> bool {
        self.linking.as_ref().is_some_and(|l| l.pair_code.is_some())
    }

    /// Shows the next ref as a QR code, or ends linking when none is left.
    fn next_qr(&mut self, now: Instant) {
        let Some(creds) = self.creds.as_ref() else {
            return;
        };
        let Some(linking) = self.linking.as_mut() else {
            return;
        };
        let index = linking.next_ref;
        let Some(reference) = linking.refs.get(index).cloned() else {
            info!("every QR code expired unscanned");
            return self.end_transport(DisconnectReason::QrCodesExhausted, now);
        };
        linking.next_ref += 1;
        let payload = QrPayload {
            reference,
            noise_public: creds.noise_key.public_bytes(),
            identity_public: creds.identity_key.public_bytes(),
            adv_secret: AdvSecret::from_bytes(*creds.adv_secret.expose()),
            client_type: Some(ClientType::for_device(
                self.config.companion.platform_type,
                self.config.profile.platform,
            )),
        };
        let expires_at = now + qr::ref_lifetime(index);
        self.timers.set(Timer::PairingRef, expires_at);
        self.events.push_back(Event::QrCode {
            code: payload.encode(),
            expires_at,
        });
    }

    pub(super) fn on_pairing_timer(&mut self, timer: Timer, now: Instant) {
        match timer {
            Timer::PairingRef if !self.pair_code_active() => self.next_qr(now),
            Timer::PairingCode => {
                info!("the pair code expired unused");
                self.end_transport(DisconnectReason::QrCodesExhausted, now);
            }
            _ => {}
        }
    }

    /// `Command::RequestPairingCode`.
    pub(super) fn request_pairing_code(
        &mut self,
        phone: &str,
        now: Instant,
    ) -> Result<(), CommandError> {
        let digits: String = phone
            .chars()
            .filter(|c| !matches!(c, '+' | ' ' | '-'))
            .collect();
        if !(6..=15).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(CommandError::InvalidPhone(phone.to_owned()));
        }
        let unpaired = self.creds.as_ref().is_some_and(|c| !c.is_paired());
        match self.state {
            State::Pairing => self
                .send_companion_hello(&digits, now)
                .map_err(|_| CommandError::InvalidPhone(phone.to_owned())),
            State::Idle
            | State::Connecting
            | State::Handshaking
            | State::Authenticating
            | State::WaitingToReconnect { .. }
                if unpaired =>
            {
                let linking = self.linking.get_or_insert_with(Linking::default);
                linking.pair_code = Some(PairCode::Requested(digits));
                if self.state == State::Idle {
                    self.want_attempt(now);
                }
                Ok(())
            }
            _ => Err(self.invalid("request a pairing code")),
        }
    }

    fn send_companion_hello(
        &mut self,
        phone: &str,
        now: Instant,
    ) -> Result<(), pairing::PairingError> {
        let Some(creds) = self.creds.as_ref() else {
            return Ok(());
        };
        let mut random = CompanionHelloRandom {
            code: [0; 5],
            salt: [0; 32],
            iv: [0; 16],
        };
        self.rng.keys.fill_bytes(&mut random.code);
        self.rng.keys.fill_bytes(&mut random.salt);
        self.rng.keys.fill_bytes(&mut random.iv);
        let ephemeral = KeyPair::generate(&mut self.rng.keys);
        let iq_id = self.session.next_iq_id();
        let params = CompanionHelloParams::new(phone);
        let (pending, node) = pair_code::companion_hello(
            &iq_id,
            &params,
            &creds.noise_key.public_bytes(),
            ephemeral,
            &random,
        )?;
        self.timers.clear(Timer::PairingRef);
        self.send(&node, now);
        let linking = self.linking.get_or_insert_with(Linking::default);
        linking.pair_code = Some(PairCode::Sent { iq_id, pending });
        Ok(())
    }

    /// The server's answer to stage 1: show the code.
    pub(super) fn on_pair_code_answer(&mut self, node: &Node, now: Instant) -> bool {
        let Some(linking) = self.linking.as_mut() else {
            return false;
        };
        let Some(PairCode::Sent { iq_id, pending }) = &linking.pair_code else {
            return false;
        };
        if node.attr_str("id") != Some(iq_id.as_str()) {
            return false;
        }
        match pending.registered(node) {
            Ok(registered) => {
                let code = registered.code.formatted();
                linking.pair_code = Some(PairCode::Registered(registered));
                self.timers
                    .set(Timer::PairingCode, now + PAIR_CODE_LIFETIME);
                self.events.push_back(Event::PairingCode { code });
            }
            Err(error) => {
                warn!(%error, "the server refused the pair code request; showing QR codes again");
                linking.pair_code = None;
                self.next_qr(now);
            }
        }
        true
    }

    /// Stage 2 from the phone (`notification type="link_code_companion_reg"`).
    pub(super) fn on_primary_hello(&mut self, node: &Node) {
        let Some(PairCode::Registered(registered)) =
            self.linking.as_ref().and_then(|l| l.pair_code.as_ref())
        else {
            return;
        };
        let Some(creds) = self.creds.as_ref() else {
            return;
        };
        let hello = match PrimaryHello::parse(node) {
            Ok(h) => h,
            Err(error) => return warn!(%error, "ignoring a malformed primary_hello"),
        };
        let mut random = CompanionFinishRandom {
            adv_random: [0; 32],
            bundle_salt: [0; 32],
            bundle_nonce: [0; 12],
        };
        let iq_id = format!("pc-{}", self.session.next_iq_id());
        self.rng.keys.fill_bytes(&mut random.adv_random);
        self.rng.keys.fill_bytes(&mut random.bundle_salt);
        self.rng.keys.fill_bytes(&mut random.bundle_nonce);
        match registered.finish(&hello, &creds.identity_key, &random, &iq_id) {
            Ok(CodeFinished { adv_secret, reply }) => {
                // The new ADV secret keys the coming pair-success HMAC: durable first.
                self.persist(
                    CredentialChange::AdvSecret(Secret32::new(*adv_secret.as_bytes())),
                    AfterPersist::SendNode(Box::new(reply)),
                );
            }
            Err(error) => warn!(%error, "pair code stage 2 failed"),
        }
    }

    /// `<pair-success>`: verify, persist the identity (unconfirmed), then reply.
    pub(super) fn on_pair_success(&mut self, node: &Node, now: Instant) {
        let Some(creds) = self.creds.as_ref() else {
            return;
        };
        let random = super::rng::random64(&mut self.rng.keys);
        let adv = AdvSecret::from_bytes(*creds.adv_secret.expose());
        match success::handle_pair_success(node, &adv, &creds.identity_key, &random) {
            Ok(paired) => {
                let identity = paired.identity;
                if let Some(t) = identity.server_time {
                    self.check_clock(t, None, now);
                }
                self.timers.clear(Timer::PairingRef);
                self.timers.clear(Timer::PairingCode);
                let jid = identity.jid.clone();
                info!(%jid, "pair-success verified; persisting the new identity before replying");
                self.persist(
                    CredentialChange::Paired(DeviceIdentity {
                        jid: identity.jid,
                        lid: identity.lid,
                        account: identity.account,
                        platform: identity.platform,
                        business_name: identity.business_name,
                    }),
                    AfterPersist::PairReply {
                        reply: Box::new(paired.reply),
                        jid,
                    },
                );
            }
            Err(error) => {
                warn!(%error, "pair-success refused");
                if let Some(id) = node.attr_str("id") {
                    let reply = pairing::pair_error_reply(id, &error);
                    self.send(&reply, now);
                }
                self.unexpected("a pair-success that verifies", node, now);
            }
        }
    }

    /// Ends the transport: the peer sent something the protocol does not allow here.
    pub(super) fn unexpected(&mut self, expected: &'static str, node: &Node, now: Instant) {
        self.end_transport(
            DisconnectReason::ProtocolError {
                fault: ProtocolFault::Unexpected {
                    expected,
                    raw: Some(node.clone()),
                },
            },
            now,
        );
    }
}
