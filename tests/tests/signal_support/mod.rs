//! The 1:1 lockstep world of the libsignal differential suite: two devices, each run by Tether
//! or by libsignal, driven through a seeded script of bundles, sends, deliveries (reordered
//! within a window, dropped, replayed) and re-established sessions, recording a transcript of
//! every ciphertext byte and every decryption outcome.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use tether_signal::{
    IdentityPolicy, PreKeyId, PreKeySignalMessage, ResponderKeys, SessionRecord, SignalMessage,
};
use tether_tests::interop::signal::{DeviceKeys, Libsignal, StreamRng};

/// How many one-time pre-keys each device has.
pub(crate) const PRE_KEYS: u32 = 40;
/// A message is delivered (or dropped) at the latest after this many other deliveries, so no
/// message outlives the five receiving chains a Tether state keeps (libsignal keeps all).
const MAX_WAIT: u32 = 4;
/// Sessions built per direction at most (far below the 40 archived states either side keeps).
const MAX_BUNDLES: u32 = 6;

/// Who runs a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Impl {
    /// tether-signal.
    Tether,
    /// npm libsignal 6.0.0 through Baileys' repository.
    Libsignal,
}

/// A device run by Tether: its keys, key stream, and records stored as bytes between
/// operations (so every step also goes through the binary record format).
pub(crate) struct TetherDevice {
    pub(crate) keys: DeviceKeys,
    pub(crate) rng: StreamRng,
    pub(crate) sessions: BTreeMap<String, Vec<u8>>,
    pub(crate) used_pre_keys: BTreeSet<u32>,
}

impl TetherDevice {
    pub(crate) fn new(keys: DeviceKeys, stream: &str) -> Self {
        Self {
            keys,
            rng: StreamRng::new(stream),
            sessions: BTreeMap::new(),
            used_pre_keys: BTreeSet::new(),
        }
    }

    pub(crate) fn record(&self, peer: &str) -> SessionRecord {
        self.sessions
            .get(peer)
            .map_or_else(SessionRecord::new, |b| {
                SessionRecord::from_bytes(b).expect("a stored record reads back")
            })
    }

    pub(crate) fn store(&mut self, peer: &str, record: &SessionRecord) {
        self.sessions.insert(peer.to_owned(), record.to_bytes());
    }

    pub(crate) fn init(&mut self, peer: &str, bundle: &tether_signal::PreKeyBundle) {
        let mut record = self.record(peer);
        record
            .process_bundle(
                &self.keys.identity,
                self.keys.registration_id,
                bundle,
                IdentityPolicy::AcceptAny,
                &mut self.rng,
            )
            .expect("the bundle verifies");
        self.store(peer, &record);
    }

    pub(crate) fn encrypt(&mut self, peer: &str, plaintext: &[u8]) -> (String, Vec<u8>) {
        let mut record = self.record(peer);
        let out = record.encrypt(plaintext).expect("an open session");
        self.store(peer, &record);
        (out.kind.enc_type().to_owned(), out.bytes)
    }

    pub(crate) fn decrypt(
        &mut self,
        peer: &str,
        kind: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, String> {
        let mut record = self.record(peer);
        let result = match kind {
            "msg" => SignalMessage::parse(body)
                .map_err(tether_signal::DecryptError::from)
                .and_then(|m| record.decrypt(&m, IdentityPolicy::AcceptAny, &mut self.rng)),
            "pkmsg" => {
                let message = PreKeySignalMessage::parse(body).map_err(|e| e.to_string())?;
                let keys = &self.keys;
                let one_time = message
                    .pre_key_id()
                    .filter(|id| !self.used_pre_keys.contains(&id.value()))
                    .and_then(|id| keys.pre_keys.iter().find(|k| k.id() == id));
                let responder = record.needs_pre_keys(&message).then_some(ResponderKeys {
                    identity: &keys.identity,
                    registration_id: keys.registration_id,
                    signed_pre_key: Some(&keys.signed_pre_key)
                        .filter(|k| k.id() == message.signed_pre_key_id()),
                    one_time_pre_key: one_time,
                });
                record.decrypt_pre_key(
                    &message,
                    responder,
                    IdentityPolicy::AcceptAny,
                    &mut self.rng,
                )
            }
            other => panic!("unknown kind {other}"),
        };
        match result {
            Ok(decrypted) => {
                if let Some(id) = decrypted.consumed_pre_key {
                    self.used_pre_keys.insert(id.value());
                }
                self.store(peer, &record);
                Ok(decrypted.plaintext)
            }
            Err(e) => {
                assert_eq!(
                    record,
                    self.record(peer),
                    "a failed decryption changed the record"
                );
                Err(e.to_string())
            }
        }
    }
}

/// Two devices, `0` and `1`, each run by Tether or libsignal.
pub(crate) struct World<'a> {
    node: &'a mut Libsignal,
    names: [String; 2],
    keys: [DeviceKeys; 2],
    tether: [Option<TetherDevice>; 2],
}

impl<'a> World<'a> {
    /// Devices `alice` and `bob` of scenario `label` (which names their key streams, the same
    /// whoever runs them); `tag` makes libsignal's party names unique per run.
    pub(crate) fn new(node: &'a mut Libsignal, label: &str, tag: &str, impls: [Impl; 2]) -> Self {
        let base = ["alice", "bob"];
        let keys = base.map(|n| DeviceKeys::derive(&format!("{label}/{n}"), PRE_KEYS));
        let names = base.map(|n| format!("{tag}-{n}"));
        let mut tether = [None, None];
        for i in 0..2 {
            let stream = format!("{label}/{}", base[i]);
            match impls[i] {
                Impl::Tether => tether[i] = Some(TetherDevice::new(keys[i].clone(), &stream)),
                Impl::Libsignal => node.party(&names[i], &stream, &keys[i]),
            }
        }
        Self {
            node,
            names,
            keys,
            tether,
        }
    }

    pub(crate) fn bundle(&mut self, from: usize, to: usize, pre_key: Option<PreKeyId>) {
        let bundle = self.keys[to].bundle(pre_key);
        let peer = self.names[to].clone();
        match &mut self.tether[from] {
            Some(device) => device.init(&peer, &bundle),
            None => self.node.init(&self.names[from], &peer, &bundle),
        }
    }

    pub(crate) fn encrypt(
        &mut self,
        from: usize,
        to: usize,
        plaintext: &[u8],
    ) -> (String, Vec<u8>) {
        let peer = self.names[to].clone();
        match &mut self.tether[from] {
            Some(device) => device.encrypt(&peer, plaintext),
            None => self.node.encrypt(&self.names[from], &peer, plaintext),
        }
    }

    pub(crate) fn decrypt(
        &mut self,
        to: usize,
        from: usize,
        kind: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, String> {
        let peer = self.names[from].clone();
        match &mut self.tether[to] {
            Some(device) => device.decrypt(&peer, kind, body),
            None => self.node.decrypt(&self.names[to], &peer, kind, body),
        }
    }
}

/// One scripted message.
#[derive(Clone, Debug)]
pub(crate) struct Message {
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) plaintext: Vec<u8>,
}

/// One step of a script.
#[derive(Clone, Debug)]
pub(crate) enum Event {
    /// `from` builds a session from `to`'s bundle.
    Bundle {
        from: usize,
        to: usize,
        pre_key: Option<PreKeyId>,
    },
    /// Message `id` is encrypted.
    Send { id: usize },
    /// Message `id` is decrypted (it must decrypt).
    Deliver { id: usize },
    /// Message `id` is decrypted again (it must fail).
    Replay { id: usize },
}

/// A seeded script: events and the messages they name.
pub(crate) struct Script {
    pub(crate) events: Vec<Event>,
    pub(crate) messages: Vec<Message>,
}

impl Script {
    /// About `steps` events between two devices: device 0 starts (sometimes both start at
    /// once), then sends both ways, deliveries reordered within a small window, drops,
    /// replays, and re-established sessions while messages are in flight.
    pub(crate) fn generate(seed: u64, steps: usize) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut events = Vec::new();
        let mut messages: Vec<Message> = Vec::new();
        let mut has_session = [false; 2];
        let mut next_pre_key = [1u32; 2];
        let mut bundles = [0u32; 2];
        let mut in_flight: Vec<(usize, u32)> = Vec::new();
        let mut delivered: Vec<usize> = Vec::new();
        let mut bundle =
            |events: &mut Vec<Event>, rng: &mut ChaCha20Rng, from: usize, has: &mut [bool; 2]| {
                if bundles[from] >= MAX_BUNDLES {
                    return;
                }
                let to = 1 - from;
                let pre_key = (!rng.next_u32().is_multiple_of(4) && next_pre_key[to] <= PRE_KEYS)
                    .then(|| {
                        next_pre_key[to] += 1;
                        PreKeyId::new(next_pre_key[to] - 1)
                    });
                bundles[from] += 1;
                has[from] = true;
                events.push(Event::Bundle { from, to, pre_key });
            };
        bundle(&mut events, &mut rng, 0, &mut has_session);
        if rng.next_u32() % 4 == 0 {
            bundle(&mut events, &mut rng, 1, &mut has_session);
        }
        let deliver = |events: &mut Vec<Event>,
                       in_flight: &mut Vec<(usize, u32)>,
                       delivered: &mut Vec<usize>,
                       has: &mut [bool; 2],
                       messages: &[Message],
                       at: usize| {
            let (id, _) = in_flight.remove(at);
            for (_, age) in in_flight.iter_mut() {
                *age += 1;
            }
            has[messages[id].to] = true;
            delivered.push(id);
            events.push(Event::Deliver { id });
        };
        for _ in 0..steps {
            if let Some(at) = in_flight.iter().position(|&(_, age)| age >= MAX_WAIT) {
                if rng.next_u32() % 10 == 0 {
                    in_flight.remove(at);
                } else {
                    deliver(
                        &mut events,
                        &mut in_flight,
                        &mut delivered,
                        &mut has_session,
                        &messages,
                        at,
                    );
                }
                continue;
            }
            match rng.next_u32() % 100 {
                0..=44 => {
                    let from = (rng.next_u32() % 2) as usize;
                    let from = if has_session[from] { from } else { 1 - from };
                    let len = 1 + (rng.next_u32() % 200) as usize;
                    let mut plaintext = vec![0u8; len];
                    rng.fill_bytes(&mut plaintext);
                    messages.push(Message {
                        from,
                        to: 1 - from,
                        plaintext,
                    });
                    in_flight.push((messages.len() - 1, 0));
                    events.push(Event::Send {
                        id: messages.len() - 1,
                    });
                }
                45..=86 if !in_flight.is_empty() => {
                    let window = in_flight.len().min(3);
                    let at = (rng.next_u32() as usize) % window;
                    deliver(
                        &mut events,
                        &mut in_flight,
                        &mut delivered,
                        &mut has_session,
                        &messages,
                        at,
                    );
                }
                87..=91 if !in_flight.is_empty() => {
                    let at = (rng.next_u32() as usize) % in_flight.len();
                    in_flight.remove(at);
                }
                92..=96 if !delivered.is_empty() => {
                    let id = delivered[(rng.next_u32() as usize) % delivered.len()];
                    events.push(Event::Replay { id });
                }
                97..=99 => {
                    let from = (rng.next_u32() % 2) as usize;
                    if has_session[from] {
                        bundle(&mut events, &mut rng, from, &mut has_session);
                    }
                }
                _ => {}
            }
        }
        while !in_flight.is_empty() {
            let at = (rng.next_u32() as usize) % in_flight.len().min(3);
            deliver(
                &mut events,
                &mut in_flight,
                &mut delivered,
                &mut has_session,
                &messages,
                at,
            );
        }
        Self { events, messages }
    }
}

/// What one run produced, event by event: ciphertexts and decryption outcomes.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Sent { kind: String, bytes: Vec<u8> },
    Decrypted(Vec<u8>),
    Failed(String),
    Done,
}

impl fmt::Debug for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sent { kind, bytes } => write!(f, "{kind} {}", hex::encode(bytes)),
            Self::Decrypted(p) => write!(f, "decrypted {}", hex::encode(p)),
            Self::Failed(e) => write!(f, "failed ({e})"),
            Self::Done => f.write_str("done"),
        }
    }
}

impl Outcome {
    /// Outcomes compare equal across implementations when bytes and plaintexts are equal and
    /// both failed or both succeeded (error messages differ between libraries).
    pub(crate) fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Failed(_), Self::Failed(_)) => true,
            (a, b) => a == b,
        }
    }
}

/// Runs `script` in `world`; returns the transcript, or the first broken expectation.
pub(crate) fn run(world: &mut World<'_>, script: &Script) -> Result<Vec<Outcome>, String> {
    let mut sent: Vec<Option<(String, Vec<u8>)>> = vec![None; script.messages.len()];
    let mut transcript = Vec::with_capacity(script.events.len());
    for (i, event) in script.events.iter().enumerate() {
        let outcome = match *event {
            Event::Bundle { from, to, pre_key } => {
                world.bundle(from, to, pre_key);
                Outcome::Done
            }
            Event::Send { id } => {
                let m = &script.messages[id];
                let (kind, bytes) = world.encrypt(m.from, m.to, &m.plaintext);
                sent[id] = Some((kind.clone(), bytes.clone()));
                Outcome::Sent { kind, bytes }
            }
            Event::Deliver { id } | Event::Replay { id } => {
                let m = &script.messages[id];
                let (kind, bytes) = sent[id].clone().expect("delivered after it was sent");
                match world.decrypt(m.to, m.from, &kind, &bytes) {
                    Ok(plaintext) => {
                        if matches!(event, Event::Replay { .. }) {
                            return Err(format!(
                                "event {i}: replayed message {id} decrypted again"
                            ));
                        }
                        if plaintext != m.plaintext {
                            return Err(format!(
                                "event {i}: message {id} decrypted to other bytes"
                            ));
                        }
                        Outcome::Decrypted(plaintext)
                    }
                    Err(e) => {
                        if matches!(event, Event::Deliver { .. }) {
                            return Err(format!(
                                "event {i}: message {id} ({kind}) did not decrypt: {e}"
                            ));
                        }
                        Outcome::Failed(e)
                    }
                }
            }
        };
        transcript.push(outcome);
    }
    Ok(transcript)
}

/// The first event where two transcripts differ, described.
pub(crate) fn first_difference(a: &[Outcome], b: &[Outcome]) -> Option<String> {
    a.iter()
        .zip(b)
        .position(|(x, y)| !x.same(y))
        .map(|i| format!("event {i}: {:?}\n  vs {:?}", a[i], b[i]))
        .or_else(|| (a.len() != b.len()).then(|| format!("lengths {} vs {}", a.len(), b.len())))
}
