//! The participant hash "v2" (`messaging.md` §5.7): `"2:"` followed by the unpadded standard
//! base64 of the first 6 bytes of SHA-256 over the sorted device strings, each written
//! `<user>.0:<device>@<server>` (agent always 0, device 0 written as `:0`). Used for the
//! `device-list hash` of usync answers, the `device_hash` of devices notifications and the
//! `phash` of message acks.

use base64::Engine as _;
use sha2::{Digest, Sha256};
use tether_core::binary::Jid;

/// The `phash` form of one device JID.
fn phash_form(jid: &Jid) -> String {
    format!(
        "{}.0:{}@{}",
        jid.user_str(),
        jid.device_id(),
        jid.server().as_str()
    )
}

/// The participant hash of a set of device JIDs (order does not matter).
pub(crate) fn participant_hash(jids: &[Jid]) -> String {
    let mut forms: Vec<String> = jids.iter().map(phash_form).collect();
    forms.sort_unstable();
    let mut hasher = Sha256::new();
    for form in &forms {
        hasher.update(form.as_bytes());
    }
    let digest = hasher.finalize();
    let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&digest[..6]);
    format!("2:{encoded}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn hash_of_sorted_phash_forms() {
        let jids: Vec<Jid> = ["100001:3@lid", "100001@lid", "200002:0@lid"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        // Independently: sha256("100001.0:0@lid" "100001.0:3@lid" "200002.0:0@lid")[..6],
        // base64 without padding (computed with Python's hashlib and base64).
        assert_eq!(participant_hash(&jids), "2:fdhxTtfO");
        let mut reversed = jids.clone();
        reversed.reverse();
        assert_eq!(participant_hash(&reversed), participant_hash(&jids));
        assert_eq!(participant_hash(&jids).len(), 10);
    }
}
