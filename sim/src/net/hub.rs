//! The hub: the one [`FakeServer`] and [`FakePhone`] of a running [`SimServer`](super::SimServer)
//! behind a mutex, and the writer channels of the open connections. Every call into the server
//! goes through [`Inner::with_hub`], which drains the server's transmits and closes to those
//! channels afterwards (transmits first, so a stream error is sent before its close).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use tether_core::binary::Jid;
use tokio::sync::{Notify, mpsc};

use super::phones::{self, PhoneInfo, SimPhone};
use super::{SimError, SimServerConfig, SimStats};
use crate::device::Received;
use crate::phone::FakePhone;
use crate::server::{ConnId, ConnectOutcome, FakeServer, Fault};

/// What a connection's writer task sends.
#[derive(Debug)]
pub(super) enum Out {
    /// One binary websocket message.
    Frame(Bytes),
    /// Close the websocket (after everything queued before).
    Close,
    /// Drop the connection without a websocket close frame (an abrupt close).
    Drop,
}

/// The server, the phones and the connections' writers.
#[derive(Debug)]
pub(super) struct Hub {
    pub(super) server: FakeServer,
    /// Phone 0 links companions; the others are contacts.
    pub(super) phones: Vec<SimPhone>,
    writers: BTreeMap<ConnId, mpsc::UnboundedSender<Out>>,
    next_conn: u64,
    accepted: u64,
}

impl Hub {
    /// Phone 0 (the one companions link to) and the server.
    pub(super) fn linking_phone(&mut self) -> (&mut FakePhone, &mut FakeServer) {
        let phone = &mut self.phones[0].phone;
        (phone, &mut self.server)
    }

    /// A websocket is open: registers its writer and tells the server.
    pub(super) fn open(&mut self, writer: mpsc::UnboundedSender<Out>, now: Instant) -> ConnId {
        self.next_conn += 1;
        self.accepted += 1;
        let id = ConnId(self.next_conn);
        self.writers.insert(id, writer);
        self.server.handle_open(id, now);
        id
    }

    /// The websocket of `id` is gone (whoever closed it).
    pub(super) fn closed(&mut self, id: ConnId, now: Instant) {
        self.writers.remove(&id);
        self.server.handle_close(id, now);
    }

    /// Asks every open connection to close (shutdown).
    pub(super) fn close_all(&mut self) {
        for (_, writer) in std::mem::take(&mut self.writers) {
            let _ = writer.send(Out::Close);
        }
    }

    fn drain(&mut self) {
        while let Some((id, bytes)) = self.server.poll_transmit() {
            if let Some(writer) = self.writers.get(&id) {
                let _ = writer.send(Out::Frame(bytes));
            }
        }
        while let Some(id) = self.server.poll_close() {
            let out = if self.server.take_abrupt(id) {
                Out::Drop
            } else {
                Out::Close
            };
            if let Some(writer) = self.writers.remove(&id) {
                let _ = writer.send(out);
            }
        }
    }
}

/// State shared by the server thread's tasks and the [`SimServer`](super::SimServer) handle.
#[derive(Debug)]
pub(super) struct Inner {
    hub: Mutex<Hub>,
    /// Wakes the timer task: the server's next deadline may have changed.
    pub(super) timer: Notify,
    /// The media host's held downloads (a slow host on demand).
    pub(super) media_hold: super::media::MediaHold,
    root_public: [u8; 32],
}

impl Inner {
    pub(super) fn new(config: &SimServerConfig) -> Self {
        let now = Instant::now();
        let mut server = FakeServer::new(config.server.clone(), now);
        let root_public = server.root_public();
        let mut phones: Vec<SimPhone> = (0..=config.contacts)
            .map(|index| {
                let seed = config.server.seed.wrapping_add(1_000 * index as u64);
                SimPhone::start(index, seed, &mut server, now)
            })
            .collect();
        phones::pump(&mut phones, &mut server, now);
        Self {
            hub: Mutex::new(Hub {
                phones,
                server,
                writers: BTreeMap::new(),
                next_conn: 0,
                accepted: 0,
            }),
            timer: Notify::new(),
            media_hold: super::media::MediaHold::default(),
            root_public,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Hub> {
        self.hub.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the hub at the current instant, then sends what the server queued.
    pub(super) fn with_hub<R>(&self, f: impl FnOnce(&mut Hub, Instant) -> R) -> R {
        let result = {
            let mut hub = self.lock();
            let now = Instant::now();
            let result = f(&mut hub, now);
            let hub = &mut *hub;
            phones::pump(&mut hub.phones, &mut hub.server, now);
            hub.drain();
            result
        };
        self.timer.notify_one();
        result
    }

    /// The server's next deadline.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.lock().server.poll_timeout()
    }

    /// A TCP connect arrived: what to do with it.
    pub(super) fn connect_outcome(&self) -> ConnectOutcome {
        self.lock().server.connect_outcome()
    }

    pub(super) fn root_public(&self) -> [u8; 32] {
        self.root_public
    }

    pub(super) fn scan_qr(&self, qr: &str) -> Result<Jid, SimError> {
        self.scan_qr_as(0, qr)
    }

    /// Phone `index` scans `qr`: the companion joins that phone's account.
    pub(super) fn scan_qr_as(&self, index: usize, qr: &str) -> Result<Jid, SimError> {
        self.with_hub(|hub, now| {
            let hub = &mut *hub;
            let phone = &mut hub
                .phones
                .get_mut(index)
                .ok_or(SimError::NoSuchPhone(index))?
                .phone;
            let jid = phone.next_companion_jid();
            phone.scan(&mut hub.server, qr, now)?;
            Ok(jid)
        })
    }

    pub(super) fn enter_pair_code(&self, code: &str) -> Result<Jid, SimError> {
        self.with_hub(|hub, now| {
            let (phone, server) = hub.linking_phone();
            let jid = phone.next_companion_jid();
            phone.enter_code(server, code, now)?;
            Ok(jid)
        })
    }

    pub(super) fn inject(&self, fault: Fault) {
        self.with_hub(|hub, now| {
            for id in hub.server.open_connections() {
                hub.server.inject(id, fault.clone(), now);
            }
        });
    }

    pub(super) fn fault_next(&self, fault: Fault) {
        self.with_hub(|hub, _| hub.server.fault_next(fault));
    }

    pub(super) fn refuse_next_connects(&self, n: usize) {
        self.lock().server.refuse_next_connects(n);
    }

    pub(super) fn hang_next_connects(&self, n: usize) {
        self.lock().server.hang_next_connects(n);
    }

    pub(super) fn stats(&self) -> SimStats {
        let hub = self.lock();
        let (logins, registrations) = hub.server.login_counts();
        SimStats {
            accepted: hub.accepted,
            open: hub.writers.len(),
            logins,
            registrations,
            devices: hub.server.devices().len(),
            pongs: u64::from(hub.server.pongs()),
        }
    }
}

impl Inner {
    pub(super) fn phones(&self) -> Vec<PhoneInfo> {
        self.with_hub(|hub, _| {
            hub.phones
                .iter()
                .enumerate()
                .map(|(i, p)| p.info(i))
                .collect()
        })
    }

    pub(super) fn send_text(&self, phone: usize, to: &Jid, text: &str) -> Result<String, SimError> {
        self.with_hub(|hub, now| {
            let unix = hub.server.unix_at(now);
            let slot = hub
                .phones
                .get_mut(phone)
                .ok_or(SimError::NoSuchPhone(phone))?;
            Ok(slot.send_text(to, text, unix))
        })
    }

    pub(super) fn send_media(
        &self,
        phone: usize,
        to: &Jid,
        kind: tether_core::media::MediaKind,
        bytes: &[u8],
        options: &tether_core::media::MediaOptions,
    ) -> Result<String, SimError> {
        self.with_hub(|hub, now| {
            let unix = hub.server.unix_at(now);
            let slot = hub
                .phones
                .get_mut(phone)
                .ok_or(SimError::NoSuchPhone(phone))?;
            let (blob, upload) = phones::encrypt_media(phone, kind, bytes, unix);
            let mms = kind.mms_type().unwrap_or("document");
            let direct_path = hub.server.media().store(mms, blob, unix);
            let message = phones::media_message(upload, direct_path, options, unix);
            Ok(slot.device.send_message(to, &message, unix))
        })
    }

    pub(super) fn fetch_media(
        &self,
        media: &tether_core::media::MediaRef,
    ) -> Result<Vec<u8>, tether_core::media::MediaError> {
        use tether_core::media::MediaError;
        let path = media
            .direct_path
            .as_deref()
            .ok_or(MediaError::MissingField("direct path"))?;
        let blob = self
            .with_hub(|hub, _| hub.server.media().blob(path))
            .ok_or_else(|| MediaError::Status {
                host: "sim".into(),
                status: 404,
            })?;
        let (keys, expected) = (media.keys()?, media.expected()?);
        Ok(tether_core::media::cipher::decrypt(&keys, expected, &blob)?)
    }

    pub(super) fn received(&self, phone: usize) -> Result<Vec<Received>, SimError> {
        self.with_hub(|hub, _| {
            hub.phones
                .get(phone)
                .map(SimPhone::received)
                .ok_or(SimError::NoSuchPhone(phone))
        })
    }

    pub(super) fn phone_events(
        &self,
        phone: usize,
    ) -> Result<Vec<crate::device::DeviceEvent>, SimError> {
        self.with_hub(|hub, _| {
            hub.phones
                .get(phone)
                .map(|p| p.log.iter().cloned().collect())
                .ok_or(SimError::NoSuchPhone(phone))
        })
    }
}
