//! The deterministic stream of credential updates the crash test applies: update `seq` is a
//! pure function of `seq`, so the test can compute the state after any prefix.
//!
//! Update 1 creates the identity with 20 pre-keys; the others cycle through every kind of
//! change, with pre-key batches of 10, removals, pairing, app-state keys and versions. The
//! pre-keys are records of the delta (`Table::PreKeys`), as the core writes them.

use bytes::Bytes;
use tether_core::binary::{Jid, Server};
use tether_core::creds::{
    CredentialChange, Credentials, CredentialsDelta, DeviceIdentity, Secret32,
};
use tether_core::crypto::KeyPair;
use tether_core::payload::AppVersion;
use tether_core::records::{self, RecordWrite, Table};

fn key(id: u64) -> KeyPair {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&id.to_le_bytes());
    bytes[31] = 0x5a;
    KeyPair::from_private_bytes(bytes)
}

fn pre_keys(from: u32, to: u32) -> Vec<RecordWrite> {
    (from..to)
        .map(|id| records::pre_key_record(id, &key(u64::from(id) + 1000)))
        .collect()
}

/// The identity update 1 creates: the core's own generator on a fixed seed, so every process
/// and the test compute the same one.
pub(crate) fn identity() -> Credentials {
    use rand::SeedableRng as _;
    Credentials::generate(&mut rand::rngs::StdRng::seed_from_u64(0x7e7e))
}

/// Update number `seq` (1-based).
pub(crate) fn delta(seq: u64) -> CredentialsDelta {
    let s = u32::try_from(seq)
        .unwrap_or(u32::MAX / 16)
        .min(u32::MAX / 16);
    let mut writes = Vec::new();
    let changes = if seq <= 1 {
        writes = pre_keys(1, 21);
        vec![
            CredentialChange::Created(Box::new(identity())),
            CredentialChange::PreKeysGenerated {
                next_pre_key_id: 21,
            },
        ]
    } else {
        match seq % 6 {
            // A batch of 10 pre-keys with ids s*10 .. s*10+9.
            0 => {
                writes = pre_keys(s * 10, s * 10 + 10);
                vec![CredentialChange::PreKeysGenerated {
                    next_pre_key_id: s * 10 + 10,
                }]
            }
            // Five of the previous batch are consumed.
            1 => {
                writes = ((s - 1) * 10..(s - 1) * 10 + 5)
                    .map(|id| RecordWrite::delete(Table::PreKeys, records::pre_key_key(id)))
                    .collect();
                Vec::new()
            }
            2 => vec![
                CredentialChange::PushName(format!("name-{seq}")),
                CredentialChange::RoutingInfo(Bytes::from(seq.to_le_bytes().to_vec())),
            ],
            3 => vec![
                CredentialChange::AppStateSyncKeys(vec![(
                    Bytes::from(format!("key-{}", seq % 7)),
                    Bytes::from(format!("data-{seq}")),
                )]),
                CredentialChange::AppStateVersion {
                    name: ["regular", "regular_high", "critical_block"][(seq % 3) as usize].into(),
                    state: Bytes::from(seq.to_be_bytes().to_vec()),
                },
            ],
            4 => vec![
                CredentialChange::PreKeysUploaded {
                    first_unuploaded_pre_key_id: s * 10,
                },
                CredentialChange::Version(AppVersion::new(2, 3000, s)),
            ],
            _ if seq % 12 == 5 => vec![CredentialChange::Paired(DeviceIdentity {
                jid: Jid::device("15551234567", (seq % 50) as u16 + 1, Server::WhatsApp),
                lid: None,
                account: Bytes::from(format!("account-{seq}")),
                platform: Some("android".into()),
                business_name: None,
            })],
            _ => vec![
                CredentialChange::Confirmed,
                CredentialChange::Lid(Jid::device("123456789012345", 1, Server::Lid)),
                CredentialChange::AdvSecret(Secret32::new([(seq % 251) as u8; 32])),
            ],
        }
    };
    CredentialsDelta {
        changes,
        records: writes,
    }
}
