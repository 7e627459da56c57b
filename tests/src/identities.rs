//! Linked identities for benchmarks and tests that log in without a QR code: credentials made
//! from a seed, already confirmed, with the device JID the simulated server is told about
//! (`tether_sim::net::SimServer::with_server(|s| s.register_device(…))`).

use bytes::Bytes;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tether_core::binary::{Jid, Server};
use tether_core::creds::{Credentials, DeviceIdentity};

/// The `i`-th identity of a family: credentials from a seed of `seed` bytes (the first four
/// replaced by `i`), linked as device 1 of the phone number `first_number + i`. The same
/// arguments give the same identity in every process.
pub fn linked_identity(seed: u8, first_number: u64, i: u32) -> (Credentials, Jid) {
    let mut bytes = [seed; 32];
    bytes[..4].copy_from_slice(&i.to_le_bytes());
    let mut creds = Credentials::generate(&mut ChaCha20Rng::from_seed(bytes));
    let jid = Jid::device(
        &(first_number + u64::from(i)).to_string(),
        1,
        Server::WhatsApp,
    );
    creds.device = Some(DeviceIdentity {
        jid: jid.clone(),
        lid: None,
        account: Bytes::new(),
        platform: None,
        business_name: None,
    });
    creds.confirmed = true;
    (creds, jid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_is_the_same_for_the_same_arguments_and_differs_otherwise() {
        let (a, jid_a) = linked_identity(7, 15_550_000_000, 3);
        let (b, jid_b) = linked_identity(7, 15_550_000_000, 3);
        let (c, jid_c) = linked_identity(7, 15_550_000_000, 4);
        assert_eq!(jid_a.to_string(), "15550000003:1@s.whatsapp.net");
        assert_eq!(jid_a, jid_b);
        assert_ne!(jid_a, jid_c);
        assert_eq!(a.noise_key.public_bytes(), b.noise_key.public_bytes());
        assert_ne!(a.noise_key.public_bytes(), c.noise_key.public_bytes());
        assert!(a.confirmed);
        assert_eq!(a.device.map(|d| d.jid), Some(jid_a));
    }
}
