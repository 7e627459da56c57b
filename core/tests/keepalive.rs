//! Liveness (DESIGN §4) in virtual time: pings after send silence, ping deadlines, the
//! dead-socket timer anchored on the first unanswered send, and server pings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tether_core::binary::{Jid, Node, Server};
use tether_core::keepalive::{
    KeepAlive, KeepAliveConfig, KeepAliveOutput, is_server_ping, ping_stanza, pong_for,
};
use tether_core::timer::Timer;

/// The one real instant of a test; everything else is this plus virtual durations.
#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A keepalive under test with its jitter generator and a log of what it asked for.
struct Harness {
    ka: KeepAlive,
    rng: ChaCha20Rng,
    log: Vec<(Instant, KeepAliveOutput)>,
}

impl Harness {
    fn new(config: KeepAliveConfig, seed: u8) -> Self {
        Self {
            ka: KeepAlive::new(config),
            rng: ChaCha20Rng::from_seed([seed; 32]),
            log: Vec::new(),
        }
    }

    fn started(config: KeepAliveConfig, seed: u8, at: Instant) -> Self {
        let mut h = Self::new(config, seed);
        h.ka.start(at, &mut h.rng);
        h
    }

    /// Fires every deadline up to and including `until`, in order, logging the outputs.
    fn run_until(&mut self, until: Instant) {
        while let Some(at) = self.ka.poll_timeout() {
            if at > until {
                break;
            }
            let before = self.log.len();
            while let Some(out) = self.ka.handle_timeout(at, &mut self.rng) {
                self.log.push((at, out));
            }
            assert!(
                self.log.len() > before || self.ka.poll_timeout().is_none_or(|next| next > at),
                "handle_timeout made no progress at a due deadline"
            );
        }
    }

    /// Like `run_until`, with a live server on the other end: every ping is answered `rtt`
    /// after it was sent.
    fn run_answering_until(&mut self, until: Instant, rtt: Duration) {
        while let Some(at) = self.ka.poll_timeout() {
            if at > until {
                break;
            }
            let before = self.log.len();
            self.run_until(at);
            let new: Vec<(Instant, KeepAliveOutput)> = self.log[before..].to_vec();
            for (sent, out) in new {
                if let KeepAliveOutput::SendPing { id } = out {
                    self.ka.on_pong(&id, sent + rtt);
                }
            }
        }
    }

    fn pings(&self) -> Vec<(Instant, String)> {
        self.log
            .iter()
            .filter_map(|(at, out)| match out {
                KeepAliveOutput::SendPing { id } => Some((*at, id.clone())),
                _ => None,
            })
            .collect()
    }

    fn dead_at(&self) -> Option<Instant> {
        self.log
            .iter()
            .find(|(_, out)| *out == KeepAliveOutput::Dead)
            .map(|(at, _)| *at)
    }
}

#[test]
fn defaults_match_design() {
    let config = KeepAliveConfig::default();
    assert_eq!(config.interval, ms(25_000));
    assert_eq!(config.timeout, ms(20_000));
    assert_eq!(config.ping_deadline, secs(10));
    assert_eq!(config.jitter, 0.2);
}

#[test]
fn half_open_socket_detected_within_timeout() {
    let t0 = base();
    let mut h = Harness::started(KeepAliveConfig::default(), 1, t0);
    h.ka.on_receive(t0 + secs(1)); // <success>
    let send = t0 + secs(5);
    h.run_until(send);
    h.ka.on_send(send); // the application sends a message; the link is silently gone
    h.run_until(send + secs(120));
    assert_eq!(h.dead_at(), Some(send + secs(20)));
    assert!(!h.ka.is_running());
    assert_eq!(h.ka.poll_timeout(), None);
}

#[test]
fn silent_server_after_handshake_is_dead() {
    let t0 = base();
    let mut h = Harness::started(KeepAliveConfig::default(), 2, t0);
    h.run_until(t0 + secs(60));
    assert_eq!(
        h.dead_at(),
        Some(t0 + secs(20)),
        "the handshake's last send is the anchor"
    );
}

#[test]
fn quiet_chat_is_not_dead() {
    let t0 = base();
    let mut h = Harness::started(KeepAliveConfig::default(), 3, t0);
    h.ka.on_receive(t0 + ms(300));
    // Nothing but keepalive traffic for ten minutes; every ping is answered 200 ms later.
    h.run_answering_until(t0 + secs(600), ms(200));
    assert_eq!(h.dead_at(), None);
    assert!(
        h.log
            .iter()
            .all(|(_, o)| matches!(o, KeepAliveOutput::SendPing { .. }))
    );
    assert!(
        h.pings().len() >= 600 / 30,
        "pings keep flowing: {}",
        h.pings().len()
    );
}

#[test]
fn sends_do_not_hide_a_half_open_socket() {
    let t0 = base();
    let mut h = Harness::started(KeepAliveConfig::default(), 4, t0);
    h.ka.on_receive(t0 + ms(100));
    let first = t0 + secs(2);
    for i in 0..120 {
        let at = first + secs(i);
        h.run_until(at);
        if !h.ka.is_running() {
            break;
        }
        h.ka.on_send(at);
    }
    h.run_until(first + secs(300));
    assert_eq!(h.dead_at(), Some(first + secs(20)));
    let pings: Vec<Instant> = h.pings().iter().map(|(at, _)| *at).collect();
    assert_eq!(
        pings,
        [first + secs(10)],
        "only the probe: steady sends need no pings"
    );
}

#[test]
fn unanswered_send_in_a_quiet_chat_is_probed_not_dead() {
    let t0 = base();
    let mut h = Harness::started(KeepAliveConfig::default(), 14, t0);
    h.ka.on_receive(t0 + ms(100));
    // The last frame of the conversation is ours (an ack): the server never answers it.
    let ack = t0 + secs(1);
    h.ka.on_send(ack);
    let probe = h.ka.poll_timeout().unwrap();
    assert_eq!(
        probe,
        ack + secs(10),
        "probe halfway through the dead-socket timeout"
    );
    assert_eq!(h.ka.next_timer(), Some((Timer::KeepAlive, probe)));
    h.run_until(probe);
    let (at, id) = h.pings().last().cloned().unwrap();
    assert_eq!(at, probe);
    // A live server answers the probe (and every later ping) well before the deadline.
    assert_eq!(h.ka.on_pong(&id, probe + ms(150)), None);
    h.run_answering_until(ack + secs(600), ms(150));
    assert_eq!(h.dead_at(), None);
    assert!(
        h.log
            .iter()
            .all(|(_, out)| matches!(out, KeepAliveOutput::SendPing { .. }))
    );
}

#[test]
fn probe_is_sent_once_per_anchor() {
    let config = KeepAliveConfig {
        timeout: secs(120),
        ..KeepAliveConfig::default()
    };
    let t0 = base();
    let mut h = Harness::started(config, 15, t0);
    h.ka.on_receive(t0);
    h.ka.on_send(t0 + secs(1));
    h.run_until(t0 + secs(61));
    let pings: Vec<Instant> = h.pings().iter().map(|(at, _)| *at).collect();
    // The regular ping (20-30 s after the last send) comes before the 60 s probe point and
    // already counts as the probe; after it only the regular cadence remains.
    assert!(pings.len() >= 2, "{pings:?}");
    assert!(pings[0] - (t0 + secs(1)) <= secs(30), "{pings:?}");
    for pair in pings.windows(2) {
        assert!(pair[1] - pair[0] >= secs(20), "{pings:?}");
    }
}

#[test]
fn a_whole_frame_received_clears_the_anchor() {
    let t0 = base();
    let mut h = Harness::started(KeepAliveConfig::default(), 5, t0);
    h.ka.on_receive(t0 + ms(100));
    h.ka.on_send(t0 + secs(1));
    h.run_until(t0 + secs(15));
    h.ka.on_receive(t0 + secs(15));
    h.ka.on_send(t0 + secs(16));
    h.run_until(t0 + secs(35));
    assert_eq!(
        h.dead_at(),
        None,
        "anchor moved to the send after the receive"
    );
    h.run_until(t0 + secs(36));
    assert_eq!(h.dead_at(), Some(t0 + secs(36)));
}

#[test]
fn ping_after_send_silence_within_jitter_bounds() {
    for seed in 0..64u8 {
        let t0 = base();
        let mut h = Harness::started(KeepAliveConfig::default(), seed, t0);
        h.ka.on_receive(t0);
        let last_send = t0 + secs(3);
        h.ka.on_send(last_send);
        h.ka.on_receive(last_send + ms(50));
        h.run_until(last_send + secs(31));
        let pings = h.pings();
        assert_eq!(pings.len(), 1, "seed {seed}: {pings:?}");
        let gap = pings[0].0 - last_send;
        assert!(gap >= secs(20) && gap <= secs(30), "seed {seed}: {gap:?}");
    }
}

#[test]
fn intervals_are_redrawn_per_ping() {
    let t0 = base();
    let mut h = Harness::started(KeepAliveConfig::default(), 6, t0);
    h.ka.on_receive(t0);
    for _ in 0..8 {
        let next = h.ka.poll_timeout().unwrap();
        h.run_until(next);
        let (at, id) = h.pings().last().cloned().unwrap();
        h.ka.on_pong(&id, at + ms(10));
    }
    let pings = h.pings();
    let gaps: Vec<Duration> = pings.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(
        gaps.iter().all(|g| *g >= secs(20) && *g <= secs(30)),
        "{gaps:?}"
    );
    assert!(
        gaps.windows(2).any(|w| w[0] != w[1]),
        "jitter varies: {gaps:?}"
    );
}

#[test]
fn timeout_then_restored() {
    let t0 = base();
    let mut h = Harness::started(KeepAliveConfig::default(), 7, t0);
    h.ka.on_receive(t0);
    let ping_at = h.ka.poll_timeout().unwrap();
    h.run_until(ping_at);
    let (_, id) = h.pings()[0].clone();
    assert_eq!(
        h.ka.next_timer(),
        Some((Timer::PingDeadline, ping_at + secs(10)))
    );
    h.run_until(ping_at + secs(10));
    assert_eq!(
        h.log.last().unwrap(),
        &(ping_at + secs(10), KeepAliveOutput::Timeout { failures: 1 })
    );
    assert_eq!(h.ka.failures(), 1);
    assert!(h.ka.is_running(), "a timeout is not a disconnect");
    let pong_at = ping_at + secs(12);
    assert_eq!(h.ka.on_pong(&id, pong_at), Some(KeepAliveOutput::Restored));
    assert_eq!(h.ka.failures(), 0);
    assert_eq!(h.ka.last_success(), Some(pong_at));
    h.run_until(ping_at + secs(40));
    assert_eq!(h.dead_at(), None);
}

#[test]
fn failures_count_up_across_unanswered_pings() {
    let config = KeepAliveConfig {
        timeout: secs(120),
        ..KeepAliveConfig::default()
    };
    let t0 = base();
    let mut h = Harness::started(config, 8, t0);
    h.ka.on_receive(t0);
    h.run_until(t0 + secs(100));
    let timeouts: Vec<u32> = h
        .log
        .iter()
        .filter_map(|(_, o)| match o {
            KeepAliveOutput::Timeout { failures } => Some(*failures),
            _ => None,
        })
        .collect();
    assert_eq!(timeouts[..3], [1, 2, 3]);
    // A pong for the first (old) ping still proves the link is alive.
    let first_id = h.pings()[0].1.clone();
    assert_eq!(
        h.ka.on_pong(&first_id, t0 + secs(100)),
        Some(KeepAliveOutput::Restored)
    );
}

#[test]
fn unknown_pong_is_ignored_but_counts_as_received() {
    let t0 = base();
    let mut h = Harness::started(KeepAliveConfig::default(), 9, t0);
    assert_eq!(h.ka.on_pong("not-ours", t0 + secs(1)), None);
    assert_eq!(h.ka.last_success(), None);
    h.run_until(t0 + secs(21));
    assert_eq!(h.dead_at(), None, "the receive cleared the anchor");
}

#[test]
fn spurious_timeouts_and_stopped_machine_do_nothing() {
    let t0 = base();
    let mut h = Harness::new(KeepAliveConfig::default(), 10);
    assert_eq!(h.ka.poll_timeout(), None);
    assert_eq!(h.ka.handle_timeout(t0 + secs(999), &mut h.rng), None);
    h.ka.start(t0, &mut h.rng);
    assert_eq!(h.ka.handle_timeout(t0 + secs(1), &mut h.rng), None);
    h.ka.stop();
    h.ka.on_send(t0 + secs(2));
    assert_eq!(h.ka.poll_timeout(), None);
    assert_eq!(h.ka.handle_timeout(t0 + secs(999), &mut h.rng), None);
}

#[test]
fn restart_begins_a_fresh_transport_with_fresh_ids() {
    let t0 = base();
    let mut h = Harness::started(KeepAliveConfig::default(), 11, t0);
    h.ka.on_receive(t0);
    h.run_until(t0 + secs(31));
    let first = h.pings()[0].1.clone();
    h.ka.start(t0 + secs(40), &mut h.rng);
    assert_eq!(h.ka.failures(), 0);
    h.ka.on_receive(t0 + secs(40));
    h.run_until(t0 + secs(71));
    let second = h.pings().last().unwrap().1.clone();
    assert_ne!(first, second);
    assert!(first.starts_with("ka.") && second.starts_with("ka."));
}

#[test]
fn same_seed_gives_the_same_pings() {
    let run = |seed| {
        let t0 = base();
        let mut h = Harness::started(KeepAliveConfig::default(), seed, t0);
        h.ka.on_receive(t0);
        h.run_until(t0 + secs(19));
        let mut out = Vec::new();
        for _ in 0..6 {
            let next = h.ka.poll_timeout().unwrap();
            h.run_until(next);
            let (at, id) = h.pings().last().cloned().unwrap();
            h.ka.on_pong(&id, at);
            out.push(at - t0);
        }
        out
    };
    assert_eq!(run(12), run(12));
    assert_ne!(run(12), run(13));
}

#[test]
fn ping_stanza_is_a_w_p_get_to_the_server() {
    let ping = ping_stanza("ka.7");
    assert_eq!(ping.tag, "iq");
    assert_eq!(ping.attr_str("id"), Some("ka.7"));
    assert_eq!(ping.attr_str("type"), Some("get"));
    assert_eq!(ping.attr_str("xmlns"), Some("w:p"));
    assert_eq!(
        ping.get_attr("to").and_then(|v| v.as_jid()),
        Some(&Jid::server_jid(Server::WhatsApp))
    );
    assert!(!is_server_ping(&ping), "a client ping is not a server ping");
}

#[test]
fn server_ping_answered() {
    let ping = Node::parse_text(
        r#"<iq from=jid"s.whatsapp.net" id="1234" type="get" xmlns="urn:xmpp:ping"/>"#,
    )
    .unwrap();
    assert!(is_server_ping(&ping));
    assert_eq!(
        pong_for(&ping),
        Node::parse_text(r#"<iq to=jid"s.whatsapp.net" type="result" id="1234"/>"#).unwrap()
    );
}

#[test]
fn server_ping_forms_per_session_5_3() {
    let child_form = Node::parse_text(r#"<iq id="9"><ping/></iq>"#).unwrap();
    assert!(is_server_ping(&child_form), "ping child, no type");
    let pong = pong_for(&child_form);
    assert_eq!(
        pong.get_attr("to").and_then(|v| v.as_jid()),
        Some(&Jid::server_jid(Server::WhatsApp)),
        "no from: answer the server"
    );
    assert_eq!(pong.attr_str("id"), Some("9"));
    let no_id = Node::parse_text(r#"<iq xmlns="urn:xmpp:ping"/>"#).unwrap();
    assert!(is_server_ping(&no_id));
    assert_eq!(pong_for(&no_id).get_attr("id"), None);
    for not_ping in [
        r#"<iq type="result" xmlns="urn:xmpp:ping"/>"#,
        r#"<iq type="set"><ping/></iq>"#,
        r#"<message xmlns="urn:xmpp:ping"/>"#,
        r#"<iq type="get" xmlns="w:p"/>"#,
    ] {
        assert!(
            !is_server_ping(&Node::parse_text(not_ping).unwrap()),
            "{not_ping}"
        );
    }
}

impl Harness {
    /// When a `Stalled` was reported, if ever.
    fn stalled_at(&self) -> Option<Instant> {
        self.log
            .iter()
            .find(|(_, out)| matches!(out, KeepAliveOutput::Stalled))
            .map(|(at, _)| *at)
    }

    /// A peer trickling one byte of a frame that never completes every `every`, from `from`
    /// until `until` (or until the machine stops).
    fn trickle(&mut self, from: Instant, until: Instant, every: Duration) {
        let mut t = from;
        while t <= until && self.ka.is_running() {
            self.run_until(t);
            self.ka.on_frames(t, 0, true);
            t += every;
        }
    }
}

fn trickle_config() -> KeepAliveConfig {
    KeepAliveConfig {
        frame_timeout: secs(10),
        ..KeepAliveConfig::default()
    }
}

#[test]
fn loose_bytes_never_count_as_life_so_a_trickle_cannot_hide_a_dead_socket() {
    // The frame timeout is out of the way: only the dead-socket timer can end this.
    let config = KeepAliveConfig {
        frame_timeout: secs(3600),
        ..KeepAliveConfig::default()
    };
    let t0 = base();
    let mut h = Harness::started(config.clone(), 21, t0);
    // The handshake's last message is the first unanswered send; from then on the peer sends
    // one byte every half second and never a whole frame.
    h.trickle(t0 + ms(500), t0 + secs(120), ms(500));
    assert_eq!(h.dead_at(), Some(t0 + config.timeout));
    assert_eq!(h.stalled_at(), None);
}

#[test]
fn a_started_frame_must_complete_within_the_frame_timeout() {
    let t0 = base();
    let mut h = Harness::started(trickle_config(), 22, t0);
    // A whole frame (the server's answer) clears the dead-socket timer: nothing is unanswered.
    h.ka.on_frames(t0 + ms(10), 1, false);
    let started = t0 + secs(1);
    h.trickle(started, t0 + secs(120), ms(500));
    assert_eq!(h.stalled_at(), Some(started + secs(10)));
    assert_eq!(h.dead_at(), None, "the frame timer ended it first");
    assert!(!h.ka.is_running(), "the machine stops with the transport");
}

#[test]
fn every_completed_frame_restarts_the_clock_and_no_partial_frame_disarms_it() {
    let t0 = base();
    let mut h = Harness::started(trickle_config(), 23, t0);
    h.ka.on_frames(t0, 1, false);
    // Frames keep completing, each followed by the start of the next: never stalled.
    for n in 1..=20 {
        let at = t0 + secs(4 * n);
        h.run_until(at);
        h.ka.on_frames(at, 1, true);
    }
    assert_eq!(h.stalled_at(), None);
    // The last frame completes with nothing after it: the frame timer is disarmed.
    h.ka.on_frames(t0 + secs(81), 1, false);
    h.run_until(t0 + secs(200));
    assert_eq!(h.stalled_at(), None);

    // The same traffic, but the last frame never completes: stalled exactly one frame timeout
    // after it started.
    let mut h = Harness::started(trickle_config(), 23, t0);
    h.ka.on_frames(t0, 1, false);
    for n in 1..=20 {
        let at = t0 + secs(4 * n);
        h.run_until(at);
        h.ka.on_frames(at, 1, true);
    }
    h.run_until(t0 + secs(200));
    assert_eq!(h.stalled_at(), Some(t0 + secs(80) + secs(10)));
}
