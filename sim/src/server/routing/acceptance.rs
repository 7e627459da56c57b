//! Accepting or refusing a `<message>` (`messaging.md` §9.2): a stanza seen before from the
//! same device is answered with its first ack again and delivered no second time; a new one
//! gets its server time `t`, its ack (with `phash` when the caller computed one) and a line in
//! [`FakeServer::accepted`]; a refused one gets `<ack error>` and, when the client broke the
//! protocol rather than raced a change, a complaint.
//!
//! ```text
//!  key = (sender, id, [target, count])   count: a retry resend's, so each retry goes once
//!    seen within EXPIRY ─▶ the remembered <ack class="message" id from t [phash]> again
//!    accepted          ─▶ t, remember, ack (withheld for a phone under the planted bug), log
//!    refused (Nack)    ─▶ <ack class="message" id [from] error=code>, complaint if any
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use tether_core::binary::{Jid, Node};

use super::Accepted;
use crate::server::FakeServer;
use crate::server::accounts::{DeviceAddr, Endpoint};
use crate::server::queues::EXPIRY;

/// Which stanza a repeat would duplicate: sender, id, and for a retry resend its target and
/// count.
pub(crate) type DedupKey = (DeviceAddr, String, Option<(DeviceAddr, String)>);

/// The ack a repeat gets again.
#[derive(Clone, Debug)]
struct AckedAs {
    to: Jid,
    t: u64,
    phash: Option<String>,
}

/// Routing state: what each sender already sent (dedup), kept for [`EXPIRY`].
#[derive(Debug, Default)]
pub(crate) struct Routing {
    seen: BTreeMap<DedupKey, AckedAs>,
    seen_order: VecDeque<(Instant, DedupKey)>,
}

impl Routing {
    fn remember(&mut self, key: DedupKey, acked: AckedAs, now: Instant) {
        while let Some((at, _)) = self.seen_order.front() {
            if now.saturating_duration_since(*at) < EXPIRY {
                break;
            }
            if let Some((_, old)) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.seen_order.push_back((now, key.clone()));
        self.seen.insert(key, acked);
    }
}

/// Why a message was refused: the `error` of the ack, and a complaint when the client broke
/// the protocol (rather than, say, racing a device-list change).
pub(crate) struct Nack {
    pub(crate) code: u16,
    pub(crate) complaint: Option<String>,
}

pub(crate) fn nack(code: u16, complaint: impl Into<String>) -> Nack {
    Nack {
        code,
        complaint: Some(complaint.into()),
    }
}

/// A refusal that is no protocol violation (a stale retry, a race with a device-list or
/// membership change): the error ack only.
pub(crate) fn refuse(code: u16) -> Nack {
    Nack {
        code,
        complaint: None,
    }
}

impl FakeServer {
    /// Answers a repeat of an accepted stanza with its first ack; `true` if it was one.
    pub(crate) fn repeat(
        &mut self,
        key: &DedupKey,
        sender: &DeviceAddr,
        endpoint: Endpoint,
    ) -> bool {
        let Some(acked) = self.routing.seen.get(key).cloned() else {
            return false;
        };
        self.transmit(sender, endpoint, &message_ack(&key.1, &acked));
        true
    }

    /// Accepts the stanza `key` names: assigns `t`, remembers the ack for repeats, sends it,
    /// and logs the message. Returns `t`.
    pub(crate) fn accept(
        &mut self,
        key: DedupKey,
        endpoint: Endpoint,
        to: &Jid,
        phash: Option<String>,
        recipients: Vec<DeviceAddr>,
        retry_count: Option<u32>,
    ) -> u64 {
        let t = self.stanza_time(endpoint);
        let acked = AckedAs {
            to: to.clone(),
            t,
            phash,
        };
        let (sender, id) = (key.0.clone(), key.1.clone());
        self.routing.remember(key, acked.clone(), self.now);
        let withheld = sender.device == 0
            && self.config.planted == Some(crate::server::PlantedBug::PhoneMessageAckWithheld);
        if !withheld {
            self.transmit(&sender, endpoint, &message_ack(&id, &acked));
        }
        self.accepted.push(Accepted {
            sender,
            id,
            t,
            to: to.clone(),
            recipients,
            retry_count,
        });
        t
    }

    /// Answers a refused `<message>`: its complaint, if any, then `<ack error>`.
    pub(super) fn refuse_message(
        &mut self,
        sender: &DeviceAddr,
        endpoint: Endpoint,
        id: String,
        to: Option<Jid>,
        Nack { code, complaint }: Nack,
    ) {
        if let Some(what) = complaint {
            self.complain(Some(sender), format!("message {id}: {what}"));
        }
        let mut ack = Node::new("ack").attr("class", "message").attr("id", id);
        if let Some(to) = to {
            ack = ack.jid_attr("from", to);
        }
        let ack = ack.attr("error", code.to_string());
        self.transmit(sender, endpoint, &ack);
    }

    /// The server time of a stanza arriving on `endpoint` (with the connection's skew).
    fn stanza_time(&self, endpoint: Endpoint) -> u64 {
        match endpoint {
            Endpoint::Conn(id) => self.server_time(id, self.now),
            Endpoint::Local => self.unix_at(self.now),
        }
    }
}

/// `<ack class="message" id from=to t [phash]/>`.
fn message_ack(id: &str, acked: &AckedAs) -> Node {
    let mut ack = Node::new("ack")
        .attr("class", "message")
        .attr("id", id.to_owned())
        .jid_attr("from", acked.to.clone())
        .attr("t", acked.t.to_string());
    if let Some(phash) = &acked.phash {
        ack = ack.attr("phash", phash.clone());
    }
    ack
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::server::fixture::{
        A2, B_USER, Fixture, ack_of, all_of_b_and_a0, jid, message, summary,
    };

    #[test]
    fn a_repeat_is_acked_again_and_not_delivered_twice() {
        let mut f = Fixture::new();
        f.connect("100002:3@lid");
        let stanza = message("M2", B_USER, &all_of_b_and_a0());
        let first = f.submit(A2, &stanza);
        f.advance(std::time::Duration::from_secs(30));
        let second = f.submit(A2, &stanza);
        assert_eq!(
            ack_of(&first, "M2").unwrap().attr_str("t"),
            ack_of(&second, "M2").unwrap().attr_str("t")
        );
        assert_eq!(summary(&f.take("100002:3@lid")), vec!["message:M2"]);
        assert_eq!(f.server.queue_len(&jid("100002:3@lid")), Some(1));
        assert_eq!(f.server.accepted().len(), 1);
    }
}
