//! The invariants a [`Stepper`] checks after every step (see the [module docs](super)).

use tether_core::connection::Event;

use super::Stepper;
use crate::trace::Traced;

impl Stepper {
    pub(super) fn violation(&self, what: &str) -> ! {
        panic!(
            "invariant violated at {:?}: {what}\n--- trace tail ---\n{}",
            self.elapsed(),
            self.dump(40)
        );
    }

    pub(super) fn after_server_input(&mut self) {
        self.phone.finish_pair_codes(&mut self.server, self.now);
        let (received, total) = self.server.received_since(self.received_seen);
        let received = received.to_vec();
        self.received_seen = total;
        for (id, node) in received {
            self.record(Traced::ServerReceived(id, node));
        }
        let (logins, total) = self.server.logins_since(self.logins_checked);
        let logins = logins.to_vec();
        self.logins_checked = total;
        for login in logins {
            let stored = self.store.current();
            let noise_ok = stored.is_some_and(|c| c.noise_key.public_bytes() == login.noise_public);
            if !noise_ok {
                self.violation("a ClientPayload used a noise key the store does not hold");
            }
            if login.registration {
                continue;
            }
            let device = stored.and_then(|c| c.device.as_ref());
            let matches = device.is_some_and(|d| {
                login.username.map(|u| u.to_string()).as_deref() == Some(d.jid.user_str())
                    && login.device == Some(u32::from(d.jid.device_id()))
            });
            if !matches {
                self.violation("a login ClientPayload used an identity the store does not hold");
            }
        }
    }

    pub(super) fn check_open_credentials(&self) {
        let Some(core) = self.conn.credentials() else {
            return;
        };
        let stored = self.store.current();
        if stored.is_none_or(|s| s.noise_key.public_bytes() != core.noise_key.public_bytes()) {
            self.violation("a transport opened before its noise key was durable");
        }
        if let Some(device) = &core.device {
            let durable = stored.and_then(|s| s.device.as_ref());
            if durable.is_none_or(|d| d.jid != device.jid) {
                self.violation("a transport opened on a paired identity the store does not hold");
            }
        }
    }

    /// Nothing opens after a terminal reason until the application says `Connect` again.
    pub(super) fn check_not_stopped(&self) {
        if self.stopped {
            self.violation("a transport opened after Stopped without a new Connect");
        }
    }

    /// Tracks `Stopped`; a `Disconnected` that promises a reconnect must not be terminal.
    pub(super) fn check_event(&mut self, event: &Event) {
        match event {
            Event::Stopped { .. } => self.stopped = true,
            Event::Disconnected {
                reconnect_at: Some(at),
                ..
            } if *at < self.now => self.violation("a reconnect was scheduled in the past"),
            _ => {}
        }
    }
}
