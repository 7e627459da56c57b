//! The phones of a running [`SimServer`](super::SimServer): phone 0 is the account companions
//! link to (it scans QR codes and takes pair codes), the others are contacts. Each phone is
//! registered as an account and owns real Signal keys as device 0 (a
//! [`SimDevice`](crate::device::SimDevice) online locally), so clients can write to it and
//! it can write to them.
//!
//! After every call into the server the hub pumps the phones: each submits what it has to
//! send and handles what was delivered to it, until nothing moves. What a phone's
//! application got is kept (the newest [`LOG_LIMIT`] events) for [`SimServer::received`]
//! and the control interface.
//!
//! Clients that wait for the phone's app-state key (npm Baileys 6.17.16, `interop-notes.md`
//! item 10) get none from these phones: set `creds.myAppStateKeyId` in the client's auth state
//! before its first login so it does not wait.
//!
//! [`SimServer::received`]: super::SimServer::received

use std::collections::VecDeque;
use std::time::Instant;

use tether_core::binary::Jid;

use crate::device::{DeviceConfig, DeviceEvent, Received, SimDevice};
use crate::phone::FakePhone;
use crate::server::FakeServer;

/// Events a phone keeps.
pub const LOG_LIMIT: usize = 10_000;

/// One-time pre-keys a phone uploads at a time.
const PRE_KEY_BATCH: u32 = 30;

/// Rounds of pumping after one call before giving up (a livelock guard).
const PUMP_LIMIT: usize = 64;

/// A phone of the server: who it is, its messaging device, and what happened to it.
#[derive(Debug)]
pub(super) struct SimPhone {
    pub(super) phone: FakePhone,
    pub(super) device: SimDevice,
    pub(super) log: VecDeque<DeviceEvent>,
    /// Whether it answers media-retry requests (a phone that is offline does not).
    pub(super) answers_media_retry: bool,
    /// Media-retry requests answered so far.
    pub(super) media_retries: u64,
}

/// What the control interface shows of a phone.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PhoneInfo {
    /// Its index (0: the account companions link to).
    pub index: usize,
    /// The account's phone number.
    pub phone_number: String,
    /// The account's LID user.
    pub lid_user: String,
    /// The push name.
    pub push_name: String,
}

impl SimPhone {
    /// Phone `index` from `seed`: its account registered with `server`, its device online
    /// locally, its keys on their way.
    pub(super) fn start(index: usize, seed: u64, server: &mut FakeServer, now: Instant) -> Self {
        let phone = FakePhone::new(seed);
        let push_name = push_name(index);
        if let Err(error) = server.add_account(&phone.account_spec(&push_name)) {
            tracing::warn!(%error, "sim server: a phone's account was not registered");
        }
        let config = DeviceConfig {
            seed: seed ^ 0x5048_4f4e_4500,
            phone_number: phone.phone_number().to_owned(),
            lid_user: phone.lid_user().to_owned(),
            device: 0,
            pre_key_batch: PRE_KEY_BATCH,
            prefer_lid: false,
        };
        let mut device = SimDevice::new(config, phone.identity());
        if let Err(error) = server.connect_local(&device.jid(), now) {
            tracing::warn!(%error, "sim server: a phone did not come online");
        }
        device.register();
        Self {
            phone,
            device,
            log: VecDeque::new(),
            answers_media_retry: true,
            media_retries: 0,
        }
    }

    pub(super) fn info(&self, index: usize) -> PhoneInfo {
        PhoneInfo {
            index,
            phone_number: self.phone.phone_number().to_owned(),
            lid_user: self.phone.lid_user().to_owned(),
            push_name: push_name(index),
        }
    }

    /// One exchange with the server; `true` if anything moved.
    fn exchange(&mut self, server: &mut FakeServer, now: Instant) -> bool {
        let moved = self.device.exchange(server, now);
        let mut requests = Vec::new();
        while let Some(event) = self.device.poll_event() {
            if let DeviceEvent::MediaRetryRequested { from, receipt, .. } = &event {
                requests.push((from.clone(), receipt.clone()));
            }
            if self.log.len() >= LOG_LIMIT {
                self.log.pop_front();
            }
            self.log.push_back(event);
        }
        for (from, receipt) in requests {
            if self.answers_media_retry {
                self.answer_media_retry(server, &from, &receipt, now);
            }
        }
        moved
    }

    /// Answers an own device's re-upload request (`media.md` §4.4) for media this phone
    /// received or sent: the blob, kept by the media host past its expiry, is stored under a
    /// new direct path (key and hashes unchanged) and a `mediaretry` notification names it;
    /// NOT_FOUND when the host no longer has it, DECRYPTION_ERROR when the request does not
    /// open with the message's media key. A request for a message it never saw is ignored
    /// (the asking device times out, as with a phone that is offline).
    fn answer_media_retry(
        &mut self,
        server: &mut FakeServer,
        from: &Jid,
        receipt: &tether_core::binary::Node,
        now: Instant,
    ) {
        use tether_core::media::retry::{
            RetryAnswer, open_retry_receipt, read_target, retry_notification,
        };
        use tether_core::proto::media::MediaRetryResult;
        let Some(target) = read_target(receipt) else {
            return;
        };
        let received = self.log.iter().rev().find_map(|event| match event {
            DeviceEvent::Received(r) if r.id == target.id => r.media.clone(),
            _ => None,
        });
        let media = received.or_else(|| self.device.sent_media(&target.id).map(Box::new));
        let Some(media) = media else {
            tracing::info!(id = %target.id, "sim phone: a media retry for a message it does not have");
            return;
        };
        let (Ok(key), Ok(kind)) = (media.media_key(), media.kind()) else {
            return;
        };
        let unix = server.unix_at(now);
        let answer = if open_retry_receipt(receipt, key).is_err() {
            RetryAnswer::Result(MediaRetryResult::DecryptionError)
        } else {
            let blob = media
                .direct_path
                .as_deref()
                .and_then(|path| server.media().blob(path));
            match blob {
                Some(blob) => {
                    let mms = kind.mms_type().unwrap_or("document");
                    RetryAnswer::Success(server.media().store(mms, blob, unix))
                }
                None => RetryAnswer::Result(MediaRetryResult::NotFound),
            }
        };
        self.media_retries += 1;
        let iv = retry_iv(&self.phone, &target.id, self.media_retries);
        let node = retry_notification(&target, key, &answer, unix, iv);
        if !server.deliver_media_retry(from, node) {
            tracing::info!(%from, "sim phone: the device that asked for a re-upload is gone");
        }
    }

    /// The messages its application got, oldest first.
    pub(super) fn received(&self) -> Vec<Received> {
        self.log
            .iter()
            .filter_map(|e| match e {
                DeviceEvent::Received(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    pub(super) fn send_text(&mut self, to: &Jid, text: &str, unix: u64) -> String {
        self.device.send_text(to, text, unix)
    }
}

/// A notification's AES-GCM IV: unique per phone, message and answer (deterministic).
fn retry_iv(phone: &FakePhone, id: &str, count: u64) -> [u8; 12] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"tether-sim media retry iv")
        .chain_update(phone.phone_number().as_bytes())
        .chain_update(id.as_bytes())
        .chain_update(count.to_be_bytes())
        .finalize();
    let mut iv = [0u8; 12];
    iv.copy_from_slice(&digest[..12]);
    iv
}

fn push_name(index: usize) -> String {
    if index == 0 {
        "Sim Phone".to_owned()
    } else {
        format!("Sim Contact {index}")
    }
}

/// Pumps every phone until nothing moves.
pub(super) fn pump(phones: &mut [SimPhone], server: &mut FakeServer, now: Instant) {
    for _ in 0..PUMP_LIMIT {
        let mut moved = false;
        for phone in phones.iter_mut() {
            moved |= phone.exchange(server, now);
        }
        if !moved {
            return;
        }
    }
    tracing::warn!("sim server: the phones kept exchanging stanzas; stopped pumping");
}

/// A phone's encryption of `bytes` as `kind`: the blob and the upload record (without its
/// path). The key is derived from the phone, the time and the content (deterministic).
pub(super) fn encrypt_media(
    phone: usize,
    kind: tether_core::media::MediaKind,
    bytes: &[u8],
    unix: u64,
) -> (bytes::Bytes, tether_core::media::Upload) {
    use sha2::{Digest, Sha256};
    use tether_core::media::{MediaKey, Upload};
    let mut seed = Sha256::new();
    seed.update(b"tether-sim media key");
    seed.update(phone.to_be_bytes());
    seed.update(unix.to_be_bytes());
    seed.update(bytes);
    let media_key = MediaKey::from_bytes(seed.finalize().into());
    let (blob, digests) = tether_core::media::cipher::encrypt(&media_key.expand(kind), bytes);
    let upload = Upload {
        kind,
        media_key,
        digests,
        url: None,
        direct_path: String::new(),
        uploaded_at: unix,
    };
    (bytes::Bytes::from(blob), upload)
}

/// The media message for `upload` stored at `direct_path`.
pub(super) fn media_message(
    mut upload: tether_core::media::Upload,
    direct_path: String,
    options: &tether_core::media::MediaOptions,
    unix: u64,
) -> tether_core::proto::message::Message {
    upload.direct_path = direct_path;
    tether_core::media::media_message(&upload, options, unix)
}
