//! The pairing half of the fake server: the phone finds the registering connection showing a
//! QR ref, relays `<pair-success>` through it, and the companion's `<pair-device-sign>` reply is
//! verified before the device is registered and the connection restarted with a 515.

use std::time::Instant;

use bytes::Bytes;
use tether_core::binary::Node;
use tether_core::pairing::phone::{
    CompanionHello, IssuedPairSuccess, PendingPrimary, PrimaryFinished, companion_hello_result,
};

use super::{Conn, ConnId, Device, FakeServer, Fault, Role, stanzas};

/// Where a pair-code linking stands on one connection.
#[derive(Debug)]
pub(super) enum PairCodeState {
    /// Stage 1 answered; the user has yet to type the code on the phone.
    Hello {
        hello: Box<CompanionHello>,
        reference: Bytes,
    },
    /// The phone sent `primary_hello`; waiting for `companion_finish`.
    Primary(Box<PendingPrimary>),
    /// Both sides hold the same ADV secret; the phone builds the `<pair-success>`.
    Finished(Box<PrimaryFinished>),
}

impl FakeServer {
    /// A connection whose companion asked for a pair code (stage 1 done): its id, the parsed
    /// `companion_hello` and the ref the server issued.
    pub fn pair_code_request(&self) -> Option<(ConnId, CompanionHello, Bytes)> {
        self.conns
            .iter()
            .find_map(|(id, conn)| match &conn.pair_code {
                Some(PairCodeState::Hello { hello, reference }) => {
                    Some((*id, (**hello).clone(), reference.clone()))
                }
                _ => None,
            })
    }

    /// Relays the phone's `primary_hello` notification on `id`.
    pub fn deliver_primary_hello(&mut self, id: ConnId, pending: PendingPrimary, node: &Node) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.pair_code = Some(PairCodeState::Primary(Box::new(pending)));
            self.send(id, node);
        }
    }

    /// Pair-code linkings whose stage 2 completed, for the phone to finish with a
    /// `<pair-success>` (each is returned once).
    pub fn take_finished_pair_codes(&mut self) -> Vec<(ConnId, PrimaryFinished)> {
        let ids: Vec<ConnId> = self.codes_finished.drain(..).collect();
        ids.into_iter()
            .filter_map(|id| match self.conns.get_mut(&id)?.pair_code.take()? {
                PairCodeState::Finished(done) => Some((id, *done)),
                _ => None,
            })
            .collect()
    }

    /// `<iq xmlns="md" type="set"><link_code_companion_reg stage=…>` from the companion.
    pub(super) fn on_link_code(&mut self, id: ConnId, node: &Node) {
        let iq_id = node.attr_str("id").unwrap_or_default().to_owned();
        let stage = node
            .child("link_code_companion_reg")
            .and_then(|r| r.attr_str("stage"))
            .unwrap_or_default();
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let reply = match (stage, conn.pair_code.take()) {
            ("companion_hello", _) => match CompanionHello::parse(node) {
                Ok(hello) => {
                    self.counter += 1;
                    let reference = Bytes::from(format!("sim-code-ref-{}", self.counter));
                    let reply = companion_hello_result(&iq_id, &reference);
                    conn.pair_code = Some(PairCodeState::Hello {
                        hello: Box::new(hello),
                        reference,
                    });
                    reply
                }
                Err(_) => stanzas::iq_error(&iq_id, 400, "bad-request"),
            },
            ("companion_finish", Some(PairCodeState::Primary(pending))) => {
                match pending.finish(node) {
                    Ok(done) => {
                        conn.pair_code = Some(PairCodeState::Finished(Box::new(done)));
                        self.codes_finished.push_back(id);
                        stanzas::result(&iq_id, None)
                    }
                    Err(_) => stanzas::iq_error(&iq_id, 401, "not-authorized"),
                }
            }
            (_, state) => {
                conn.pair_code = state;
                stanzas::iq_error(&iq_id, 400, "bad-request")
            }
        };
        self.send(id, &reply);
    }

    // ---- the phone's side -------------------------------------------------------------------

    /// The registering connection showing `reference` for the companion with this noise key.
    pub fn pairing_conn(&self, noise_public: &[u8; 32], reference: &str) -> Option<ConnId> {
        self.conns.iter().find_map(|(id, conn)| match &conn.role {
            Role::Registering { noise, refs, .. }
                if noise == noise_public && refs.iter().any(|r| r == reference) =>
            {
                Some(*id)
            }
            _ => None,
        })
    }

    /// Server time `t` as connection `id` reports it (with its skew).
    pub fn server_time(&self, id: ConnId, now: Instant) -> u64 {
        let skew = self.conns.get(&id).map_or(0, |c| c.skew);
        self.unix_at(now).saturating_add_signed(skew)
    }

    /// Relays the phone's `<pair-success>` on `id`; `device` is registered once the
    /// companion's reply verifies against `issued`. `false` if `id` is not registering.
    pub fn deliver_pair_success(
        &mut self,
        id: ConnId,
        node: &Node,
        issued: IssuedPairSuccess,
        device: Device,
    ) -> bool {
        let Some(Conn {
            role: Role::Registering { issued: slot, .. },
            ..
        }) = self.conns.get_mut(&id)
        else {
            return false;
        };
        *slot = Some((issued, device));
        self.send(id, node);
        true
    }

    pub(super) fn on_pair_reply(&mut self, id: ConnId, reply: &Node) {
        let Some(Conn {
            role:
                Role::Registering {
                    noise,
                    issued: Some((issued, device)),
                    ..
                },
            ..
        }) = self.conns.get(&id)
        else {
            return;
        };
        let Ok(confirmed) = issued.verify_reply(reply) else {
            return self.inject(id, Fault::StreamError(500), self.created_at);
        };
        let (noise, device) = (*noise, device.clone());
        self.ensure_companion(
            &device,
            confirmed.key_index,
            Some(confirmed.signed_identity),
        );
        self.devices.insert(noise, device);
        self.inject(id, Fault::StreamError(515), self.created_at);
    }
}
