//! [`ConversationPlan`]: what the messaging world does and what goes wrong meanwhile — a
//! seeded (or fuzzed) script of sends and faults at virtual-time offsets.
//!
//! The cast is fixed: accounts A (0) and B (1) each have a phone and a Tether companion; C (2)
//! is a contact with a phone only. Sends come from any of them to any account, addressed by
//! phone number or LID. Faults cover every durable step of issue 13 item 9: the companions'
//! connection faults (the transient kinds of [`PlannedFault`]) and crash-restarts, crashes
//! armed at the next write in flight / just durable / message accepted, phones going away,
//! duplicated deliveries and lost acks, an empty one-time pre-key pool, a signed pre-key
//! rotation with messages in flight, a contact's identity change, a device linked between a
//! usync and the send, lost sessions, corrupted ciphertexts and failed decryptions (retry
//! receipts at every count, with and without keys).

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use super::{PlannedFault, below, net_of};
use crate::mesh::CrashPoint;
use crate::network::NetConfig;

/// Accounts in the cast: A and B (phone + companion), C (phone only).
pub const ACCOUNTS: u8 = 3;
/// Accounts with a Tether companion (A and B).
pub const COMPANIONS: u8 = 2;
/// The span of virtual time sends and faults are spread over.
pub const SCRIPT_WINDOW: Duration = Duration::from_secs(180);
/// The most sends one seeded plan holds.
pub const MAX_SENDS: u64 = 12;
/// The most faults one seeded plan holds.
pub const MAX_MESSAGING_FAULTS: u64 = 5;
/// The most sends to the group one plan of [`ConversationPlan::with_groups`] holds.
pub const MAX_GROUP_SENDS: u64 = 10;
/// The most membership changes one plan of [`ConversationPlan::with_groups`] holds.
pub const MAX_GROUP_CHANGES: u64 = 4;

/// Who sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    /// The Tether companion of account A (0) or B (1).
    Companion(u8),
    /// The phone of account A (0), B (1) or C (2).
    Phone(u8),
}

/// One thing the script does.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// `from` sends a text to account `to` (any account, itself included), addressed by
    /// LID or by phone number.
    Send {
        /// The sender.
        from: Sender,
        /// The recipient account.
        to: u8,
        /// Address the recipient by LID (else by phone number).
        lid: bool,
    },
    /// Something goes wrong.
    Fault(MessagingFault),
    /// `from` sends a text to the group (plans of
    /// [`with_groups`](ConversationPlan::with_groups): A, B and C are in it at the start, A
    /// is its admin).
    GroupSend {
        /// The sender (a member or not, by then).
        from: Sender,
    },
    /// A's account adds account `account` (B or C) to the group, or removes it (a no-op when
    /// it already is in, or out).
    GroupChange {
        /// Add (else remove).
        add: bool,
        /// B (1) or C (2).
        account: u8,
    },
}

/// A fault of the messaging world.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessagingFault {
    /// A transient connection fault on a companion.
    Connection {
        /// Which companion.
        companion: u8,
        /// The fault.
        fault: PlannedFault,
    },
    /// The companion's process crashes now and restarts from its store.
    Crash {
        /// Which companion.
        companion: u8,
    },
    /// The companion's process crashes at its next durable step of this kind.
    CrashAt {
        /// Which companion.
        companion: u8,
        /// Where.
        point: CrashPoint,
    },
    /// A phone is offline for a while (its messages queue up).
    PhoneAway {
        /// Whose phone.
        account: u8,
        /// For how long.
        secs: u16,
    },
    /// The next deliveries to a companion come twice.
    DuplicateDeliveries {
        /// Which companion.
        companion: u8,
        /// How many.
        n: u8,
    },
    /// The companion's next acks and receipts are lost at the server (redelivered at its
    /// next login).
    LoseAcks {
        /// Which companion.
        companion: u8,
        /// How many.
        n: u8,
    },
    /// Someone fetches every one-time pre-key of the account's phone and companion: the next
    /// sessions are built without one.
    DrainPreKeys {
        /// Whose.
        account: u8,
    },
    /// The account's phone rotates its signed pre-key (messages built on the old one may be
    /// in flight).
    RotateSignedPreKey {
        /// Whose phone.
        account: u8,
    },
    /// C's phone is reinstalled: a new identity; its contacts get an identity notification.
    Reinstall,
    /// A headless companion links to the account right after the server next answers a
    /// device query for it (between that usync and the send).
    LinkDevice {
        /// Which account.
        account: u8,
    },
    /// The account's phone loses its sessions (peers' next messages need retry receipts).
    ForgetSessions {
        /// Whose phone.
        account: u8,
    },
    /// The account's phone sends its next `n` ciphertexts corrupted (the receiver asks for
    /// retries, `n` ≥ 5 runs out of them).
    CorruptSends {
        /// Whose phone.
        account: u8,
        /// How many.
        n: u8,
    },
    /// The account's phone fails to decrypt its next `n` messages (retry receipts 1…n; keys
    /// from the second).
    FailDecrypts {
        /// Whose phone.
        account: u8,
        /// How many.
        n: u8,
    },
}

/// When each companion's application confirms what it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfirmPolicy {
    /// This long after each message.
    After(Duration),
    /// Only once everything is over (until then every crash replays it all).
    AtTheEnd,
}

/// The script (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationPlan {
    /// Each companion's network.
    pub nets: [NetConfig; COMPANIONS as usize],
    /// Each companion's application's confirmation policy.
    pub confirm: [ConfirmPolicy; COMPANIONS as usize],
    /// `(offset, step)`, sorted by offset.
    pub steps: Vec<(Duration, Step)>,
}

/// Connection fault kinds drawn for companions: the transient ones (a terminal fault or a
/// failing store would end the conversation).
const CONNECTION_KINDS: [usize; 20] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 27,
];

/// Messaging fault kinds with their weights (index = kind of [`MessagingFault::of_kind`]).
const WEIGHTS: [u64; 14] = [14, 8, 14, 5, 5, 5, 4, 4, 3, 4, 4, 5, 5, 3];

impl MessagingFault {
    /// The fault of kind `kind % 14`, its parameters drawn from `p`.
    pub fn of_kind(kind: usize, p: u64) -> Self {
        let companion = (p % u64::from(COMPANIONS)) as u8;
        let account = (p % u64::from(COMPANIONS)) as u8;
        let n = 1 + ((p >> 8) % 6) as u8;
        match kind % WEIGHTS.len() {
            0 => {
                let k = CONNECTION_KINDS[((p >> 4) % CONNECTION_KINDS.len() as u64) as usize];
                Self::Connection {
                    companion,
                    fault: PlannedFault::of_kind(k, p >> 12),
                }
            }
            1 => Self::Crash { companion },
            2 => Self::CrashAt {
                companion,
                point: match (p >> 4) % 3 {
                    0 => CrashPoint::PersistInFlight,
                    1 => CrashPoint::PersistDurable,
                    _ => CrashPoint::AfterSend,
                },
            },
            3 => Self::PhoneAway {
                account: ((p >> 2) % u64::from(ACCOUNTS)) as u8,
                secs: 5 + ((p >> 8) % 90) as u16,
            },
            4 => Self::DuplicateDeliveries { companion, n },
            5 => Self::LoseAcks { companion, n },
            6 => Self::DrainPreKeys { account },
            7 => Self::RotateSignedPreKey {
                account: ((p >> 2) % u64::from(ACCOUNTS)) as u8,
            },
            8 => Self::Reinstall,
            9 => Self::LinkDevice { account },
            10 => Self::ForgetSessions {
                account: ((p >> 2) % u64::from(ACCOUNTS)) as u8,
            },
            11 => Self::CorruptSends {
                account: ((p >> 2) % u64::from(ACCOUNTS)) as u8,
                n,
            },
            12 => Self::FailDecrypts {
                account: ((p >> 2) % u64::from(ACCOUNTS)) as u8,
                n,
            },
            _ => Self::LoseAcks {
                companion,
                n: n.max(2),
            },
        }
    }
}

fn sender_of(p: u64) -> Sender {
    // Companions send about half of the messages.
    match p % 5 {
        0 | 1 => Sender::Companion(((p >> 3) % u64::from(COMPANIONS)) as u8),
        _ => Sender::Phone(((p >> 3) % u64::from(ACCOUNTS)) as u8),
    }
}

fn send_of(p: u64) -> Step {
    Step::Send {
        from: sender_of(p),
        to: ((p >> 8) % u64::from(ACCOUNTS)) as u8,
        lid: (p >> 12).is_multiple_of(2),
    }
}

/// Removals are drawn more often than adds: a removal is what the invariants watch.
fn group_change_of(p: u64) -> Step {
    Step::GroupChange {
        add: p.is_multiple_of(3),
        account: 1 + ((p >> 4) % 2) as u8,
    }
}

fn confirm_of(p: u64) -> ConfirmPolicy {
    if p.is_multiple_of(5) {
        ConfirmPolicy::AtTheEnd
    } else {
        ConfirmPolicy::After(Duration::from_millis((p >> 3) % 30_000))
    }
}

impl ConversationPlan {
    /// Draws the plan for `seed`.
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0x434f_4e56_4552_5341);
        let window = u64::try_from(SCRIPT_WINDOW.as_millis()).unwrap_or(u64::MAX);
        let mut steps = Vec::new();
        let sends = 2 + below(&mut rng, MAX_SENDS - 1);
        for _ in 0..sends {
            let at = Duration::from_millis(below(&mut rng, window));
            steps.push((at, send_of(rng.next_u64())));
        }
        let faults = below(&mut rng, MAX_MESSAGING_FAULTS + 1);
        let total: u64 = WEIGHTS.iter().sum();
        for _ in 0..faults {
            let at = Duration::from_millis(below(&mut rng, window));
            let mut roll = below(&mut rng, total);
            let p = rng.next_u64();
            let mut kind = 0;
            for (k, w) in WEIGHTS.iter().enumerate() {
                if roll < *w {
                    kind = k;
                    break;
                }
                roll -= w;
            }
            steps.push((at, Step::Fault(MessagingFault::of_kind(kind, p))));
        }
        let nets = [
            net_of(rng.next_u64(), rng.next_u64()),
            net_of(rng.next_u64(), rng.next_u64()),
        ];
        let confirm = [confirm_of(rng.next_u64()), confirm_of(rng.next_u64())];
        Self::new(nets, confirm, steps)
    }

    /// The plan of `seed` with a group: the sends and faults of a seeded plan (of another
    /// seed stream) plus sends to the group from anyone and membership changes of B and C,
    /// spread over the same window, so that they happen with messages in flight.
    pub fn with_groups(seed: u64) -> Self {
        let mut plan = Self::from_seed(seed ^ 0x4752_4f55_5053);
        let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0x4752_4f55_5053_0000);
        let window = u64::try_from(SCRIPT_WINDOW.as_millis()).unwrap_or(u64::MAX);
        let sends = 3 + below(&mut rng, MAX_GROUP_SENDS - 2);
        let changes = 1 + below(&mut rng, MAX_GROUP_CHANGES);
        let mut steps = std::mem::take(&mut plan.steps);
        for _ in 0..sends {
            let at = Duration::from_millis(below(&mut rng, window));
            steps.push((
                at,
                Step::GroupSend {
                    from: sender_of(rng.next_u64()),
                },
            ));
        }
        for _ in 0..changes {
            let at = Duration::from_millis(below(&mut rng, window));
            let p = rng.next_u64();
            steps.push((at, group_change_of(p)));
        }
        Self::new(plan.nets, plan.confirm, steps)
    }

    /// Whether the plan has group steps (the world then makes the group first).
    pub fn has_group(&self) -> bool {
        self.steps
            .iter()
            .any(|(_, s)| matches!(s, Step::GroupSend { .. } | Step::GroupChange { .. }))
    }

    /// A plan from parts; the steps are sorted by offset (stable for equal offsets).
    pub fn new(
        nets: [NetConfig; COMPANIONS as usize],
        confirm: [ConfirmPolicy; COMPANIONS as usize],
        mut steps: Vec<(Duration, Step)>,
    ) -> Self {
        steps.sort_by_key(|(at, _)| *at);
        Self {
            nets,
            confirm,
            steps,
        }
    }

    /// The offset of the last step (zero for an empty plan).
    pub fn last_offset(&self) -> Duration {
        self.steps.last().map_or(Duration::ZERO, |(at, _)| *at)
    }

    /// How many sends the plan holds.
    pub fn sends(&self) -> usize {
        self.steps
            .iter()
            .filter(|(_, s)| matches!(s, Step::Send { .. }))
            .count()
    }
}

/// The most steps a fuzzed plan holds.
pub const MAX_FUZZ_STEPS: usize = 24;

impl<'a> Arbitrary<'a> for ConversationPlan {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let nets = [
            net_of(u64::arbitrary(u)?, u64::arbitrary(u)?),
            net_of(u64::arbitrary(u)?, u64::arbitrary(u)?),
        ];
        let confirm = [
            confirm_of(u64::arbitrary(u)?),
            confirm_of(u64::arbitrary(u)?),
        ];
        let count = u.int_in_range(0..=MAX_FUZZ_STEPS)?;
        let window = u64::try_from(SCRIPT_WINDOW.as_millis()).unwrap_or(u64::MAX);
        let mut steps = Vec::with_capacity(count);
        for _ in 0..count {
            let at = Duration::from_millis(u.int_in_range(0..=window - 1)?);
            let p = u64::arbitrary(u)?;
            let step = if bool::arbitrary(u)? {
                send_of(p)
            } else {
                Step::Fault(MessagingFault::of_kind(u.choose_index(WEIGHTS.len())?, p))
            };
            steps.push((at, step));
        }
        Ok(Self::new(nets, confirm, steps))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_plans_are_sorted_varied_and_cover_every_kind() {
        let mut kinds = std::collections::BTreeSet::new();
        for seed in 0..3000 {
            let plan = ConversationPlan::from_seed(seed);
            assert!(plan.steps.windows(2).all(|w| w[0].0 <= w[1].0));
            assert!(plan.sends() >= 2 && plan.sends() <= MAX_SENDS as usize);
            for (at, step) in &plan.steps {
                assert!(*at < SCRIPT_WINDOW);
                if let Step::Fault(fault) = step {
                    let name = format!("{fault:?}");
                    kinds.insert(name.split([' ', '{', '(']).next().unwrap_or("").to_owned());
                    if let MessagingFault::Connection { fault, .. } = fault {
                        assert!(!fault.may_stop(), "seed {seed}: {fault:?} may stop");
                    }
                }
            }
        }
        assert_eq!(kinds.len(), 13, "every fault kind is drawn: {kinds:?}");
        assert!(!ConversationPlan::from_seed(9).has_group());
        let (mut removes, mut adds) = (0, 0);
        for seed in 0..300 {
            let plan = ConversationPlan::with_groups(seed);
            assert!(plan.has_group());
            assert!(plan.steps.windows(2).all(|w| w[0].0 <= w[1].0));
            for (_, step) in &plan.steps {
                if let Step::GroupChange { add, account } = step {
                    assert!(matches!(account, 1 | 2));
                    if *add {
                        adds += 1;
                    } else {
                        removes += 1;
                    }
                }
            }
        }
        assert!(
            removes > adds && adds > 50,
            "{removes} removes, {adds} adds"
        );
        assert_eq!(
            ConversationPlan::from_seed(9),
            ConversationPlan::from_seed(9)
        );
    }
}
