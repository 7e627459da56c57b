//! Saving and loading the [`FakeServer`]'s device registry (`DESIGN.md` §7), so a simulated
//! account survives a server restart (the `tether sim` command keeps it in a file).
//!
//! The form is versioned UTF-8 text, one device per line after the header:
//!
//! ```text
//! tether-sim-registry 1
//! <noise key, 64 hex digits> <device JID> <LID JID or ->
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use tether_core::binary::Jid;

use super::{Device, FakeServer};

/// The header line of the current form.
pub const REGISTRY_HEADER: &str = "tether-sim-registry 1";

/// Why a saved registry could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Not UTF-8 text.
    #[error("registry is not utf-8 text")]
    NotText,
    /// The header is missing or names another version.
    #[error("unknown registry header {0:?} (expected {REGISTRY_HEADER:?})")]
    Header(String),
    /// A device line is malformed.
    #[error("registry line {line}: {why}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        why: String,
    },
}

impl FakeServer {
    /// The device registry in its saved form (see the module docs); ordered by noise key, so
    /// the same registry always saves to the same bytes.
    pub fn save_registry(&self) -> Vec<u8> {
        let mut out = String::from(REGISTRY_HEADER);
        out.push('\n');
        for (noise, device) in &self.devices {
            let lid = device
                .lid
                .as_ref()
                .map_or_else(|| "-".to_owned(), ToString::to_string);
            let _ = writeln!(out, "{} {} {lid}", hex::encode(noise), device.jid);
        }
        out.into_bytes()
    }

    /// Replaces the device registry with a saved one. On error the registry is unchanged.
    pub fn load_registry(&mut self, saved: &[u8]) -> Result<usize, RegistryError> {
        let text = std::str::from_utf8(saved).map_err(|_| RegistryError::NotText)?;
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        if header != REGISTRY_HEADER {
            return Err(RegistryError::Header(header.chars().take(64).collect()));
        }
        let mut devices = BTreeMap::new();
        for (index, line) in lines.enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad = |why: String| RegistryError::Line {
                line: index + 2,
                why,
            };
            let mut fields = line.split(' ');
            let (Some(noise), Some(jid), Some(lid), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(bad("expected three fields".to_owned()));
            };
            let mut key = [0u8; 32];
            hex::decode_to_slice(noise, &mut key).map_err(|e| bad(format!("noise key: {e}")))?;
            let jid: Jid = jid.parse().map_err(|e| bad(format!("jid: {e}")))?;
            let lid = match lid {
                "-" => None,
                lid => Some(lid.parse::<Jid>().map_err(|e| bad(format!("lid: {e}")))?),
            };
            devices.insert(key, Device { jid, lid });
        }
        let count = devices.len();
        self.devices = devices;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Instant;

    use super::*;
    use crate::server::ServerConfig;

    fn server() -> FakeServer {
        FakeServer::new(ServerConfig::default(), Instant::now())
    }

    #[test]
    fn saved_registry_loads_into_a_new_server() {
        let mut a = server();
        let jid: Jid = "15551234567:3@s.whatsapp.net".parse().unwrap();
        let lid: Jid = "98765432101234:3@lid".parse().unwrap();
        a.register_device(
            [7; 32],
            Device {
                jid,
                lid: Some(lid),
            },
        );
        let other: Jid = "15550000000:1@s.whatsapp.net".parse().unwrap();
        a.register_device(
            [1; 32],
            Device {
                jid: other,
                lid: None,
            },
        );
        let saved = a.save_registry();
        let mut b = server();
        assert_eq!(b.load_registry(&saved).unwrap(), 2);
        assert_eq!(b.devices(), a.devices());
        assert_eq!(b.save_registry(), saved);
    }

    #[test]
    fn rejects_unknown_version_and_bad_lines_without_change() {
        let mut s = server();
        let jid: Jid = "15551234567:3@s.whatsapp.net".parse().unwrap();
        s.register_device([7; 32], Device { jid, lid: None });
        let before = s.save_registry();
        assert!(matches!(
            s.load_registry(b"tether-sim-registry 9\n"),
            Err(RegistryError::Header(_))
        ));
        let bad = format!("{REGISTRY_HEADER}\nzz 1@s.whatsapp.net -\n");
        assert!(matches!(
            s.load_registry(bad.as_bytes()),
            Err(RegistryError::Line { line: 2, .. })
        ));
        assert!(s.load_registry(&[0xff, 0xfe]).is_err());
        assert_eq!(s.save_registry(), before);
    }
}
