//! The pre-key pool (`messaging.md` §1): one-time pre-key top-up, the digest check, signed
//! pre-key rotation and the one-time pre-keys handed out in retry receipts — every write set of
//! §8.1 durable before its stanza leaves.
//!
//! ```text
//!  login ─▶ <count/> iq ─▶ count < low watermark ─▶ generate keys (commit: keys + next id)
//!             │                                              │ durable
//!             │                                              ▼
//!             │                              upload iq (ids first..end) ─▶ result: commit
//!             │                                                            first_unuploaded = end
//!             │   (ids are never reused: after a cut upload the next batch starts at next id)
//!             ├─▶ <digest/> iq ─▶ hash mismatch / 404 ─▶ generate + upload a fresh batch
//!             └─▶ rotation due ─▶ stage new signed pre-key (commit: candidate + retired old)
//!                                   │ durable
//!                                   ▼
//!                          <rotate> iq ─▶ result: commit (current = candidate)
//!                                      ─▶ 406/409: candidate dropped; other errors: kept,
//!                                         uploaded again at the next login
//! ```
//!
//! A key handed out in a retry receipt gets the next id and moves the upload watermark past it
//! in the same commit, so it is never also offered to the server's pool (§1.7).

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use sha1::{Digest, Sha1};
use tracing::{debug, info, warn};

use super::ctx::{Ctx, IqFor};
use super::rows::{self, SignedPreKeyRow, meta};
use super::stanza::{RetryKeys, key_node};
use super::store::{Deferred, Durable, RangeFor};
use crate::binary::{Content, Node};
use crate::creds::{CredentialChange, SignedPreKey};
use crate::crypto::KeyPair;
use crate::payload::{KEY_TYPE_DJB, MAX_SIGNED_PRE_KEY_ID};
use crate::records::{self, RecordRead, Table};

/// Pre-key policy (whatsmeow's numbers by default).
#[derive(Clone, Debug)]
pub(crate) struct PreKeyPolicy {
    pub(crate) initial_batch: u32,
    pub(crate) batch: u32,
    pub(crate) low_watermark: u32,
    /// Rotate the signed pre-key this often (`None`: never).
    pub(crate) rotation: Option<Duration>,
    /// Retired signed pre-keys kept loadable.
    pub(crate) retired_kept: usize,
    /// Ask the server for its digest after login.
    pub(crate) digest_check: bool,
}

/// The pre-key sub-machine.
#[derive(Debug)]
pub(crate) struct PreKeys {
    policy: PreKeyPolicy,
    /// An upload (or its key generation) is in flight: do not start another.
    busy: bool,
    /// A rotation check waits for its records to load.
    rotation_wanted: bool,
    /// The server's digest, while the keys it lists are read.
    digest: Option<ServerDigest>,
}

impl PreKeys {
    pub(crate) fn new(policy: PreKeyPolicy) -> Self {
        Self {
            policy,
            busy: false,
            rotation_wanted: false,
            digest: None,
        }
    }

    /// Logged in: ask for the server's count (and the digest), resume a staged rotation or
    /// start a due one.
    pub(crate) fn on_connected(&mut self, ctx: &mut Ctx<'_>) {
        self.busy = false;
        let count = ctx
            .iq(IqFor::PreKeyCount, "encrypt", "get")
            .children(vec![Node::new("count")]);
        ctx.send(count);
        if self.policy.digest_check && ctx.creds.first_unuploaded_pre_key_id > 1 {
            let digest = ctx
                .iq(IqFor::Digest, "encrypt", "get")
                .children(vec![Node::new("digest")]);
            ctx.send(digest);
        }
        self.check_rotation(ctx);
    }

    /// The connection is gone: iqs in flight are lost.
    pub(crate) fn on_disconnected(&mut self) {
        self.busy = false;
        self.rotation_wanted = false;
    }

    /// The server's one-time pre-key count (answer or notification).
    pub(crate) fn on_count(&mut self, ctx: &mut Ctx<'_>, server_count: u32) {
        if server_count >= self.policy.low_watermark || self.busy {
            return;
        }
        let never_uploaded = ctx.creds.first_unuploaded_pre_key_id <= 1;
        let wanted = if server_count == 0 && never_uploaded {
            self.policy.initial_batch
        } else {
            self.policy.batch
        };
        info!(server_count, "topping up the one-time pre-keys");
        self.generate_and_upload(ctx, wanted);
    }

    /// Generates `wanted` keys under ids never used before (commit: keys + next id), then
    /// uploads them once that is durable. Keys generated earlier but not confirmed uploaded
    /// are never offered again: an upload cut by a crash or a lost connection may have reached
    /// the server, which may have handed those ids out already, and an id must not go out
    /// twice (§1.3). They stay stored, so a session built on one of them still decrypts.
    fn generate_and_upload(&mut self, ctx: &mut Ctx<'_>, wanted: u32) {
        let first = ctx.creds.next_pre_key_id.max(1);
        let end = first.saturating_add(wanted).min(MAX_SIGNED_PRE_KEY_ID);
        if first >= end {
            warn!("the one-time pre-key ids are used up; no keys generated");
            return;
        }
        self.busy = true;
        debug!(count = end - first, "generating one-time pre-keys");
        let public = (first..end).map(|id| (id, put_pre_key(ctx, id))).collect();
        ctx.change(CredentialChange::PreKeysGenerated {
            next_pre_key_id: end,
        });
        ctx.defer(Deferred::Notify(Durable::PreKeysGenerated { public, end }));
    }

    /// A commit of this machine is durable.
    pub(crate) fn on_durable(&mut self, ctx: &mut Ctx<'_>, durable: &Durable) {
        match durable {
            Durable::PreKeysGenerated { public, end } => self.upload(ctx, public, *end),
            Durable::SignedPreKeyStaged(id) => self.send_rotate(ctx, *id),
            Durable::OutboxReady(_) => {}
        }
    }

    /// The upload iq for the keys just generated, ids below `end` (`messaging.md` §1.3).
    fn upload(&mut self, ctx: &mut Ctx<'_>, public: &[(u32, [u8; 32])], end: u32) {
        let keys: Vec<Node> = public
            .iter()
            .map(|(id, key)| key_node("key", *id, key, None))
            .collect();
        let creds = &*ctx.creds;
        let spk = &creds.signed_pre_key;
        let children = vec![
            Node::new("registration").bytes(creds.registration_id.to_be_bytes().to_vec()),
            Node::new("type").bytes(vec![KEY_TYPE_DJB]),
            Node::new("identity").bytes(creds.identity_key.public_bytes().to_vec()),
            Node::new("list").children(keys),
            key_node(
                "skey",
                spk.id,
                &spk.key_pair.public_bytes(),
                Some(&spk.signature),
            ),
        ];
        let iq = ctx
            .iq(IqFor::PreKeyUpload { end }, "encrypt", "set")
            .children(children);
        ctx.send(iq);
    }

    /// The answer to one of this machine's iqs.
    pub(crate) fn on_answer(&mut self, ctx: &mut Ctx<'_>, purpose: &IqFor, node: &Node, ok: bool) {
        match purpose {
            IqFor::PreKeyCount => {
                let count = node
                    .child("count")
                    .and_then(|c| c.attr_str("value"))
                    .map_or(Some(0), |v| v.parse().ok());
                match count {
                    Some(count) if ok => self.on_count(ctx, count),
                    _ => warn!(answer = %node, "unexpected answer to the pre-key count"),
                }
            }
            IqFor::PreKeyUpload { end } => {
                self.busy = false;
                if ok {
                    ctx.change(CredentialChange::PreKeysUploaded {
                        first_unuploaded_pre_key_id: *end,
                    });
                } else {
                    warn!(answer = %node, "the server refused the pre-key upload");
                }
            }
            IqFor::Digest => self.on_digest(ctx, node, ok),
            IqFor::Rotate(id) => self.on_rotated(ctx, *id, node, ok),
            IqFor::Usync(_)
            | IqFor::Bundles(_)
            | IqFor::GroupInfo(_)
            | IqFor::GroupInfoReport(_)
            | IqFor::GroupList => {}
        }
    }

    /// The digest check (`messaging.md` §1.5): a missing bundle (404) or a hash that does not
    /// match the keys this device holds makes it upload a fresh batch. The one-time keys the
    /// digest lists are read from the store first (one range read over their ids).
    fn on_digest(&mut self, ctx: &mut Ctx<'_>, node: &Node, ok: bool) {
        let code = node.child("error").and_then(|e| e.attr_str("code"));
        if !ok {
            if code == Some("404") {
                self.digest_mismatch(ctx);
            } else {
                warn!(answer = %node, "the pre-key digest query failed");
            }
            return;
        }
        let Some(digest) = node.child("digest") else {
            return self.digest_mismatch(ctx);
        };
        let Some(digest) = ServerDigest::parse(digest) else {
            return self.digest_mismatch(ctx);
        };
        let Some(hash) = &digest.hash else {
            return; // a server without hashes: nothing to compare (whatsapp-rust skips too)
        };
        let (Some(first), Some(last)) = (digest.ids.iter().min(), digest.ids.iter().max()) else {
            if *hash != digest_of(ctx.creds, &[], &BTreeMap::new()).unwrap_or_default() {
                self.digest_mismatch(ctx);
            }
            return;
        };
        let read = RecordRead::Range {
            table: Table::PreKeys,
            start: records::pre_key_key(*first),
            end: last
                .checked_add(1)
                .map(records::pre_key_key)
                .unwrap_or_default(),
            limit: last.saturating_sub(*first).saturating_add(1),
        };
        ctx.range(read, RangeFor::PreKeyDigest);
        self.digest = Some(digest);
    }

    /// The stored one-time pre-keys over the range the server's digest lists.
    pub(crate) fn on_digest_rows(&mut self, ctx: &mut Ctx<'_>, rows: Vec<(Bytes, Bytes)>) {
        let Some(digest) = self.digest.take() else {
            return;
        };
        let held: BTreeMap<u32, [u8; 32]> = rows
            .iter()
            .filter_map(|(k, v)| records::pre_key_from_row(k, v))
            .map(|(id, pair)| (id, pair.public_bytes()))
            .collect();
        let ours = digest_of(ctx.creds, &digest.ids, &held);
        if ours.is_some() && ours == digest.hash {
            debug!("the server's pre-key digest matches");
        } else {
            self.digest_mismatch(ctx);
        }
    }

    fn digest_mismatch(&mut self, ctx: &mut Ctx<'_>) {
        warn!(
            "the server's pre-key bundle differs from this device's keys; uploading a fresh batch"
        );
        if !self.busy {
            // Fresh ids: the keys the server may still hold (and hand out) are not offered
            // again.
            self.generate_and_upload(ctx, self.policy.batch);
        }
    }

    /// Rotation: stage a new signed pre-key when the current one is older than the policy
    /// allows (a staged one from an interrupted rotation is sent again).
    fn check_rotation(&mut self, ctx: &mut Ctx<'_>) {
        let Some(interval) = self.policy.rotation else {
            return;
        };
        let keys = [
            (
                Table::Meta,
                Bytes::from_static(meta::SPK_ROTATED_AT.as_bytes()),
            ),
            (
                Table::Meta,
                Bytes::from_static(meta::SPK_CANDIDATE.as_bytes()),
            ),
        ];
        if !ctx.want(keys) {
            self.rotation_wanted = true; // `poll` comes back when they are loaded
            return;
        }
        self.rotation_wanted = false;
        let candidate = ctx
            .get(Table::Meta, meta::SPK_CANDIDATE.as_bytes())
            .flatten()
            .and_then(|v| rows::read_u64(&v))
            .and_then(|id| u32::try_from(id).ok());
        if let Some(id) = candidate {
            self.send_rotate(ctx, id);
            return;
        }
        let rotated = ctx
            .get(Table::Meta, meta::SPK_ROTATED_AT.as_bytes())
            .flatten()
            .and_then(|v| rows::read_u64(&v));
        let Some(rotated) = rotated else {
            // First login with this identity: its key is fresh; start the clock.
            ctx.put(
                Table::Meta,
                Bytes::from_static(meta::SPK_ROTATED_AT.as_bytes()),
                rows::u64_value(ctx.unix),
            );
            return;
        };
        if ctx.unix.saturating_sub(rotated) < interval.as_secs() {
            return;
        }
        self.stage_rotation(ctx);
    }

    /// Resumes a rotation check whose records were loading.
    pub(crate) fn poll(&mut self, ctx: &mut Ctx<'_>) {
        if self.rotation_wanted && ctx.connected {
            self.check_rotation(ctx);
        }
    }

    fn stage_rotation(&mut self, ctx: &mut Ctx<'_>) {
        let old = ctx.creds.signed_pre_key.clone();
        let id = if old.id >= MAX_SIGNED_PRE_KEY_ID {
            1
        } else {
            old.id + 1
        };
        let pair = KeyPair::generate(&mut *ctx.rng);
        let mut message = [0u8; 33];
        message[0] = KEY_TYPE_DJB;
        message[1..].copy_from_slice(&pair.public_bytes());
        let random: [u8; 64] = ctx.random();
        let signature = ctx.creds.identity_key.sign(&message, &random);
        info!(old = old.id, new = id, "rotating the signed pre-key");
        ctx.put(
            Table::SignedPreKeys,
            rows::id_key(id),
            rows::encode(&SignedPreKeyRow {
                private: Some(Bytes::copy_from_slice(pair.private_bytes().as_slice())),
                signature: Some(Bytes::copy_from_slice(&signature)),
                retired_at: None,
            }),
        );
        ctx.put(
            Table::Meta,
            Bytes::from_static(meta::SPK_CANDIDATE.as_bytes()),
            rows::u64_value(u64::from(id)),
        );
        ctx.defer(Deferred::Notify(Durable::SignedPreKeyStaged(id)));
    }

    fn send_rotate(&mut self, ctx: &mut Ctx<'_>, id: u32) {
        let Some(candidate) = self.staged(ctx, id) else {
            return;
        };
        let skey = key_node(
            "skey",
            id,
            &candidate.key_pair.public_bytes(),
            Some(&candidate.signature),
        );
        let iq = ctx
            .iq(IqFor::Rotate(id), "encrypt", "set")
            .children(vec![Node::new("rotate").children(vec![skey])]);
        ctx.send(iq);
    }

    /// The staged signed pre-key `id`, if its record is cached (it is written before the
    /// rotate iq, so it is).
    fn staged(&mut self, ctx: &mut Ctx<'_>, id: u32) -> Option<SignedPreKey> {
        if !ctx.want([(Table::SignedPreKeys, rows::id_key(id))]) {
            return None;
        }
        let row: SignedPreKeyRow =
            rows::decode(&ctx.get(Table::SignedPreKeys, &rows::id_key(id))??)?;
        signed_pre_key_from_row(id, &row)
    }

    fn on_rotated(&mut self, ctx: &mut Ctx<'_>, id: u32, node: &Node, ok: bool) {
        let code = node.child("error").and_then(|e| e.attr_str("code"));
        let candidate_key = Bytes::from_static(meta::SPK_CANDIDATE.as_bytes());
        if ok {
            let Some(new) = self.staged(ctx, id) else {
                warn!(id, "the rotated signed pre-key's record is gone");
                return;
            };
            let old = ctx.creds.signed_pre_key.clone();
            ctx.put(
                Table::SignedPreKeys,
                rows::id_key(old.id),
                rows::encode(&SignedPreKeyRow {
                    private: Some(Bytes::copy_from_slice(
                        old.key_pair.private_bytes().as_slice(),
                    )),
                    signature: Some(Bytes::copy_from_slice(&old.signature)),
                    retired_at: Some(ctx.unix),
                }),
            );
            ctx.change(CredentialChange::SignedPreKey(new));
            ctx.delete(Table::Meta, candidate_key);
            ctx.put(
                Table::Meta,
                Bytes::from_static(meta::SPK_ROTATED_AT.as_bytes()),
                rows::u64_value(ctx.unix),
            );
            // Keep the most recent retired keys loadable; older ones may go.
            let keep = u32::try_from(self.policy.retired_kept).unwrap_or(u32::MAX);
            if let Some(gone) = old.id.checked_sub(keep).filter(|g| *g > 0) {
                ctx.delete(Table::SignedPreKeys, rows::id_key(gone));
            }
            info!(id, "signed pre-key rotated");
        } else if matches!(code, Some("406" | "409")) {
            warn!(
                id,
                ?code,
                "the server refused the new signed pre-key; keeping the current one"
            );
            ctx.delete(Table::Meta, candidate_key);
            ctx.delete(Table::SignedPreKeys, rows::id_key(id));
        } else {
            warn!(
                id,
                ?code,
                "signed pre-key rotation failed; trying again at the next login"
            );
        }
    }

    /// Generates the one-time pre-key for a retry receipt (`messaging.md` §1.7) and returns the
    /// receipt's keys; the caller defers the receipt to this commit.
    pub(crate) fn retry_keys(ctx: &mut Ctx<'_>) -> RetryKeys {
        let id = ctx.creds.next_pre_key_id.max(1);
        let public = put_pre_key(ctx, id);
        let next = if id >= MAX_SIGNED_PRE_KEY_ID {
            1
        } else {
            id + 1
        };
        ctx.change(CredentialChange::PreKeysGenerated {
            next_pre_key_id: next,
        });
        // Never offered to the pool: the upload watermark moves past it.
        ctx.change(CredentialChange::PreKeysUploaded {
            first_unuploaded_pre_key_id: next,
        });
        let spk = &ctx.creds.signed_pre_key;
        RetryKeys {
            identity: ctx.creds.identity_key.public_bytes(),
            pre_key: (id, public),
            signed_pre_key: (spk.id, spk.key_pair.public_bytes(), spk.signature),
            device_identity: ctx
                .creds
                .device
                .as_ref()
                .map(|d| d.account.clone())
                .unwrap_or_default(),
        }
    }
}

/// Generates one-time pre-key `id`, writes its record (cache and commit) and returns its
/// public key.
fn put_pre_key(ctx: &mut Ctx<'_>, id: u32) -> [u8; 32] {
    let pair = KeyPair::generate(&mut *ctx.rng);
    ctx.write(records::pre_key_record(id, &pair));
    pair.public_bytes()
}

/// A signed pre-key from its row.
pub(crate) fn signed_pre_key_from_row(id: u32, row: &SignedPreKeyRow) -> Option<SignedPreKey> {
    let private: [u8; 32] = row.private.as_deref()?.try_into().ok()?;
    let signature: [u8; 64] = row.signature.as_deref()?.try_into().ok()?;
    Some(SignedPreKey {
        id,
        key_pair: KeyPair::from_private_bytes(private),
        signature,
    })
}

/// The server's `<digest>`: its hash (absent on servers without one) and the one-time pre-key
/// ids it holds.
#[derive(Debug)]
struct ServerDigest {
    hash: Option<Bytes>,
    ids: Vec<u32>,
}

impl ServerDigest {
    /// `None` when an id is not 3 bytes or the list is longer than any pool the server keeps.
    fn parse(digest: &Node) -> Option<Self> {
        let bytes = |n: &Node| match &n.content {
            Content::Bytes(b) => Some(b.clone()),
            _ => None,
        };
        let hash = digest.child("hash").and_then(bytes);
        let listed = digest
            .child("list")
            .map(Node::child_nodes)
            .unwrap_or_default();
        if listed.len() > MAX_DIGEST_IDS {
            return None;
        }
        let ids = listed
            .iter()
            .map(|n| bytes(n).and_then(|b| read_u24(&b)))
            .collect::<Option<Vec<u32>>>()?;
        Some(Self { hash, ids })
    }
}

/// The most one-time pre-key ids a digest may list (ids are 3 bytes; the server keeps far
/// fewer keys than this).
const MAX_DIGEST_IDS: usize = 1 << 16;

/// This device's digest over `ids` (`messaging.md` §1.5): SHA-1 over the identity, the signed
/// pre-key and its signature, and the public key of every listed one-time pre-key (`held`).
/// `None` when a listed id is one this device no longer holds.
fn digest_of(
    creds: &crate::creds::Credentials,
    ids: &[u32],
    held: &BTreeMap<u32, [u8; 32]>,
) -> Option<Bytes> {
    let mut h = Sha1::new();
    h.update(creds.identity_key.public_bytes());
    h.update(creds.signed_pre_key.key_pair.public_bytes());
    h.update(creds.signed_pre_key.signature);
    for id in ids {
        h.update(held.get(id)?);
    }
    Some(Bytes::copy_from_slice(h.finalize().as_slice()))
}

/// A 3-byte big-endian id.
pub(crate) fn read_u24(b: &[u8]) -> Option<u32> {
    match b {
        [a, b, c] => Some(u32::from_be_bytes([0, *a, *b, *c])),
        _ => None,
    }
}
