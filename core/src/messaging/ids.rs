//! Message ids (`messaging.md` §5.3): `"3EB0" ‖ uppercase hex(SHA-256(u64 BE unix seconds ‖
//! own phone-number user ‖ "@c.us" ‖ 16 random bytes)[0..9])`, 22 characters — whatsmeow's
//! `GenerateMessageID`.

use std::fmt;

use sha2::{Digest, Sha256};

/// A message id as it appears in the `id` attribute of `<message>` and `<receipt>`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub String);

impl MessageId {
    /// Generates an id for a message sent at `unix_secs` by `own_user` (phone-number digits)
    /// with 16 bytes of `random`.
    pub fn generate(unix_secs: u64, own_user: &str, random: &[u8; 16]) -> Self {
        let mut h = Sha256::new();
        h.update(unix_secs.to_be_bytes());
        h.update(own_user.as_bytes());
        h.update(b"@c.us");
        h.update(random);
        let digest = h.finalize();
        Self(format!("3EB0{}", hex::encode_upper(&digest[..9])))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({})", self.0)
    }
}

impl From<&str> for MessageId {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<String> for MessageId {
    fn from(s: String) -> Self {
        Self(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_whatsmeows_shape_and_depend_on_every_input() {
        let a = MessageId::generate(1_800_000_000, "15551234567", &[1; 16]);
        assert_eq!(a.0.len(), 22);
        assert!(a.0.starts_with("3EB0"));
        assert!(
            a.0[4..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
        assert_ne!(
            a,
            MessageId::generate(1_800_000_001, "15551234567", &[1; 16])
        );
        assert_ne!(
            a,
            MessageId::generate(1_800_000_000, "15551234568", &[1; 16])
        );
        assert_ne!(
            a,
            MessageId::generate(1_800_000_000, "15551234567", &[2; 16])
        );
        assert_eq!(
            a,
            MessageId::generate(1_800_000_000, "15551234567", &[1; 16])
        );
    }
}
