//! The participant hash, version 2 (`messaging.md` §5.7): `"2:" ‖ base64std_nopad(SHA-256(
//! concat(sorted(strings)))[0..6])`, each device contributing `"<user>.0:<device>@<server>"`
//! (whatsmeow's `participantListHashV2`). Used in group stanzas, device-list hashes and the
//! comparison with the `phash` of a server ack.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::binary::Jid;

/// The phash of a set of device JIDs (order does not matter).
pub fn participant_hash(devices: &[Jid]) -> String {
    let mut forms: Vec<String> = devices
        .iter()
        .map(|j| {
            format!(
                "{}.0:{}@{}",
                j.user_str(),
                j.device_id(),
                j.server().as_str()
            )
        })
        .collect();
    forms.sort_unstable();
    let mut h = Sha256::new();
    for f in &forms {
        h.update(f.as_bytes());
    }
    let digest = h.finalize();
    format!(
        "2:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(&digest[..6])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phash_is_order_independent_and_has_its_shape() {
        let a: Jid = "123:0@s.whatsapp.net".parse().unwrap();
        let b: Jid = "123:4@s.whatsapp.net".parse().unwrap();
        let h = participant_hash(&[a.clone(), b.clone()]);
        assert_eq!(h, participant_hash(&[b, a.clone()]));
        assert!(h.starts_with("2:") && h.len() == 10, "{h}");
        assert_ne!(h, participant_hash(&[a]));
        // The device-0 form is `user.0:0@server`, written out.
        let mut expected = Sha256::new();
        expected.update(b"123.0:0@s.whatsapp.net");
        let d = expected.finalize();
        let zero: Jid = "123@s.whatsapp.net".parse().unwrap();
        assert_eq!(
            participant_hash(&[zero]),
            format!(
                "2:{}",
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(&d[..6])
            )
        );
    }
}
