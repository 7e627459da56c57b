//! QR linking, first half: the server's `<pair-device>` refs, the acknowledgement, the QR string
//! and how long each ref is shown (`protocol/session.md` §3.2–§3.4).
//!
//! The QR string (whatsmeow `makeQRData`, the format since May 2026):
//!
//! ```text
//! https://wa.me/settings/linked_devices#REF,NOISE,IDENTITY,ADV,T
//!   REF       the ref exactly as the server sent it (UTF-8, no comma)
//!   NOISE     base64(noise static public key, 32 bytes)      standard alphabet, `=` padding
//!   IDENTITY  base64(identity public key, 32 bytes)          standard alphabet, `=` padding
//!   ADV       base64(ADV secret, 32 bytes)                   standard alphabet, `=` padding
//!   T         client type, one character (see ClientType)
//! ```
//!
//! The legacy form is `REF,NOISE,IDENTITY,ADV` without prefix and client type: what npm Baileys
//! 6.x and whatsapp-rust still emit (`protocol/interop-notes.md`). Tether emits the whatsmeow
//! form; [`QrPayload::parse`] (the fake phone's reader) accepts both, with or without prefix.
//!
//! The ADV secret travels in the QR string: treat the string as a secret (`QrPayload`'s `Debug`
//! redacts it).

use core::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{AdvSecret, PairingError, fixed, required_attr, server_jid};
use crate::binary::Node;
use crate::proto::client_payload::{Platform, PlatformType};

/// The prefix of whatsmeow's QR string.
pub const QR_PREFIX: &str = "https://wa.me/settings/linked_devices#";

/// How long the first ref is shown.
pub const FIRST_REF_LIFETIME: Duration = Duration::from_secs(60);
/// How long each later ref is shown.
pub const LATER_REF_LIFETIME: Duration = Duration::from_secs(20);

/// How long the ref at `index` (0-based, in server order) is shown before the next one:
/// 60 s for the first, 20 s for each later one (Baileys; whatsmeow gives the 60 s only while
/// exactly 6 refs remain, that is to the first of the usual 6). Six refs make a 160 s window.
pub const fn ref_lifetime(index: usize) -> Duration {
    if index == 0 {
        FIRST_REF_LIFETIME
    } else {
        LATER_REF_LIFETIME
    }
}

/// The companion's kind as the QR string's last field and pair-code `companion_platform_id`
/// carry it (whatsmeow `PairClientType`; `protocol/session.md` §3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientType {
    /// `0`
    Unknown,
    /// `1`
    Chrome,
    /// `2`
    Edge,
    /// `3`
    Firefox,
    /// `4`
    Ie,
    /// `5`
    Opera,
    /// `6`
    Safari,
    /// `7`
    Electron,
    /// `8`
    Uwp,
    /// `9`: any other web client (what whatsmeow's defaults give).
    OtherWebClient,
    /// `c` (whatsmeow only)
    MacOs,
    /// `d` (whatsapp-rust only)
    AndroidTablet,
    /// `e`
    AndroidPhone,
    /// `f` (whatsapp-rust only)
    AndroidAmbiguous,
}

impl ClientType {
    const ALL: [Self; 14] = [
        Self::Unknown,
        Self::Chrome,
        Self::Edge,
        Self::Firefox,
        Self::Ie,
        Self::Opera,
        Self::Safari,
        Self::Electron,
        Self::Uwp,
        Self::OtherWebClient,
        Self::MacOs,
        Self::AndroidTablet,
        Self::AndroidPhone,
        Self::AndroidAmbiguous,
    ];

    /// The wire character.
    pub const fn as_char(self) -> char {
        match self {
            Self::Unknown => '0',
            Self::Chrome => '1',
            Self::Edge => '2',
            Self::Firefox => '3',
            Self::Ie => '4',
            Self::Opera => '5',
            Self::Safari => '6',
            Self::Electron => '7',
            Self::Uwp => '8',
            Self::OtherWebClient => '9',
            Self::MacOs => 'c',
            Self::AndroidTablet => 'd',
            Self::AndroidPhone => 'e',
            Self::AndroidAmbiguous => 'f',
        }
    }

    /// The type for a wire character.
    pub fn from_char(c: char) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_char() == c)
    }

    /// whatsmeow's choice (`getQRClientType`) from the registration payload's
    /// `DeviceProps.platformType` and `UserAgent.platform`: the browser types map to themselves,
    /// `ANDROID_PHONE` to `e`; otherwise a `WEB` user agent gives `9`, `MACOS` gives `c`, and
    /// anything else `0`. With Tether's defaults (`UNKNOWN`, `WEB`) this is `9`.
    pub fn for_device(platform_type: PlatformType, user_agent: Platform) -> Self {
        match platform_type {
            PlatformType::Chrome => Self::Chrome,
            PlatformType::Firefox => Self::Firefox,
            PlatformType::Edge => Self::Edge,
            PlatformType::Ie => Self::Ie,
            PlatformType::Opera => Self::Opera,
            PlatformType::Safari => Self::Safari,
            PlatformType::Uwp => Self::Uwp,
            PlatformType::AndroidPhone => Self::AndroidPhone,
            _ => match user_agent {
                Platform::Web => Self::OtherWebClient,
                Platform::Macos => Self::MacOs,
                _ => Self::Unknown,
            },
        }
    }
}

/// Everything a QR string carries. `parse(encode(p)) == p`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrPayload {
    /// The pair-device ref (non-empty UTF-8 without commas).
    pub reference: String,
    /// The companion's noise static public key.
    pub noise_public: [u8; 32],
    /// The companion's identity public key (what the phone's account signature covers).
    pub identity_public: [u8; 32],
    /// The ADV secret (redacted in `Debug`).
    pub adv_secret: AdvSecret,
    /// `Some`: the whatsmeow form with prefix and client type; `None`: the legacy 4-field form.
    pub client_type: Option<ClientType>,
}

impl QrPayload {
    /// The QR string: [`QR_PREFIX`] and five fields when `client_type` is set (what Tether
    /// shows), the legacy four fields otherwise.
    pub fn encode(&self) -> String {
        let fields = format!(
            "{},{},{},{}",
            self.reference,
            STANDARD.encode(self.noise_public),
            STANDARD.encode(self.identity_public),
            STANDARD.encode(self.adv_secret.as_bytes()),
        );
        match self.client_type {
            Some(client_type) => format!("{QR_PREFIX}{fields},{}", client_type.as_char()),
            None => fields,
        }
    }

    /// Reads a QR string of either form (the fake phone's scanner).
    pub fn parse(text: &str) -> Result<Self, PairingError> {
        let body = text.strip_prefix(QR_PREFIX).unwrap_or(text);
        let fields: Vec<&str> = body.split(',').take(6).collect();
        let (reference, noise, identity, adv, client_type) = match fields.as_slice() {
            [r, n, i, a] => (*r, *n, *i, *a, None),
            [r, n, i, a, t] => (*r, *n, *i, *a, Some(*t)),
            other => return Err(PairingError::QrFieldCount(other.len())),
        };
        if !valid_ref(reference) {
            return Err(PairingError::InvalidRef);
        }
        let client_type = client_type
            .map(|t| {
                let mut chars = t.chars();
                match (chars.next().and_then(ClientType::from_char), chars.next()) {
                    (Some(client_type), None) => Ok(client_type),
                    _ => Err(PairingError::UnknownClientType(t.chars().take(8).collect())),
                }
            })
            .transpose()?;
        Ok(Self {
            reference: reference.to_owned(),
            noise_public: decode_key("noise key", noise)?,
            identity_public: decode_key("identity key", identity)?,
            adv_secret: AdvSecret::from_bytes(decode_key("adv secret", adv)?),
            client_type,
        })
    }
}

/// A 32-byte value from a standard-base64 QR field (at most 64 characters are decoded).
fn decode_key(field: &'static str, text: &str) -> Result<[u8; 32], PairingError> {
    if text.len() > 64 {
        return Err(PairingError::WrongLength {
            field,
            expected: 32,
            actual: text.len() / 4 * 3,
        });
    }
    let bytes = STANDARD
        .decode(text)
        .map_err(|_| PairingError::QrBase64 { field })?;
    fixed(field, &bytes)
}

/// A ref is usable in a QR string when it is non-empty and has no comma.
fn valid_ref(reference: &str) -> bool {
    !reference.is_empty() && !reference.contains(',')
}

/// A parsed `<iq type="set" xmlns="md"><pair-device><ref/>…</pair-device></iq>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairDevice {
    /// The iq id, to acknowledge with [`pair_device_ack`].
    pub id: String,
    /// The usable refs in server order (possibly none).
    pub refs: Vec<String>,
    /// How many `<pair-device>` children were skipped: not `<ref>`, no byte content, not
    /// UTF-8, empty, or containing a comma (whatsmeow skips the first two kinds too).
    pub skipped: usize,
}

/// Parses the server's `<pair-device>` iq. Fails only when the iq has no `id` or no
/// `<pair-device>` child; unusable refs are skipped and counted.
pub fn parse_pair_device(iq: &Node) -> Result<PairDevice, PairingError> {
    let id = required_attr(iq, "iq", "id")?.to_owned();
    let pair_device = super::child(iq, "iq", "pair-device")?;
    let mut refs = Vec::new();
    let mut skipped = 0;
    for node in pair_device.child_nodes() {
        let reference = (node.tag == "ref")
            .then(|| super::content_bytes(node))
            .flatten()
            .and_then(|bytes| core::str::from_utf8(bytes).ok())
            .filter(|r| valid_ref(r));
        match reference {
            Some(reference) => refs.push(reference.to_owned()),
            None => skipped += 1,
        }
    }
    Ok(PairDevice { id, refs, skipped })
}

/// `<iq to="s.whatsapp.net" type="result" id=…/>`: the immediate answer to `<pair-device>`.
pub fn pair_device_ack(iq_id: &str) -> Node {
    Node::new("iq")
        .jid_attr("to", server_jid())
        .attr("type", "result")
        .attr("id", iq_id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(client_type: Option<ClientType>) -> QrPayload {
        QrPayload {
            reference: "2@abc+/=".to_owned(),
            noise_public: [1; 32],
            identity_public: [2; 32],
            adv_secret: AdvSecret::from_bytes([3; 32]),
            client_type,
        }
    }

    #[test]
    fn encodes_whatsmeow_form() {
        let text = payload(Some(ClientType::OtherWebClient)).encode();
        assert_eq!(
            text,
            "https://wa.me/settings/linked_devices#2@abc+/=,\
             AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=,\
             AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=,\
             AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=,9"
        );
    }

    #[test]
    fn parses_both_forms() {
        for client_type in [None, Some(ClientType::MacOs)] {
            let p = payload(client_type);
            assert_eq!(QrPayload::parse(&p.encode()).unwrap(), p);
        }
        let legacy = payload(None).encode();
        assert!(!legacy.starts_with("https://"));
        let prefixed = format!("{QR_PREFIX}{legacy}");
        assert_eq!(QrPayload::parse(&prefixed).unwrap(), payload(None));
    }

    #[test]
    fn rejects_bad_fields() {
        let good = payload(Some(ClientType::Chrome)).encode();
        let fields: Vec<&str> = good.strip_prefix(QR_PREFIX).unwrap().split(',').collect();
        let with = |i: usize, v: &str| {
            let mut f = fields.clone();
            f[i] = v;
            f.join(",")
        };
        assert_eq!(
            QrPayload::parse("a,b,c"),
            Err(PairingError::QrFieldCount(3))
        );
        assert_eq!(
            QrPayload::parse(&format!("{good},x")),
            Err(PairingError::QrFieldCount(6))
        );
        assert_eq!(
            QrPayload::parse(&with(0, "")),
            Err(PairingError::InvalidRef)
        );
        assert_eq!(
            QrPayload::parse(&with(1, "AQEB*")),
            Err(PairingError::QrBase64 { field: "noise key" })
        );
        assert_eq!(
            QrPayload::parse(&with(2, "AQEB")),
            Err(PairingError::WrongLength {
                field: "identity key",
                expected: 32,
                actual: 3
            })
        );
        // URL-safe alphabet is not accepted: whatsmeow uses the standard one.
        let url_safe = base64::engine::general_purpose::URL_SAFE.encode([0xFB; 32]);
        assert!(url_safe.contains('-') || url_safe.contains('_'));
        assert_eq!(
            QrPayload::parse(&with(3, &url_safe)),
            Err(PairingError::QrBase64 {
                field: "adv secret"
            })
        );
        assert_eq!(
            QrPayload::parse(&with(4, "x")),
            Err(PairingError::UnknownClientType("x".to_owned()))
        );
        assert_eq!(
            QrPayload::parse(&with(4, "12")),
            Err(PairingError::UnknownClientType("12".to_owned()))
        );
    }

    #[test]
    fn debug_redacts_adv_secret() {
        let shown = format!("{:?}", payload(None));
        assert!(shown.contains("<redacted>"));
        assert!(!shown.contains("3, 3, 3"));
    }

    #[test]
    fn client_type_chars_round_trip() {
        for t in ClientType::ALL {
            assert_eq!(ClientType::from_char(t.as_char()), Some(t));
        }
        assert_eq!(ClientType::from_char('a'), None);
    }

    #[test]
    fn client_type_follows_whatsmeow() {
        assert_eq!(
            ClientType::for_device(PlatformType::Unknown, Platform::Web),
            ClientType::OtherWebClient
        );
        assert_eq!(
            ClientType::for_device(PlatformType::Chrome, Platform::Web),
            ClientType::Chrome
        );
        assert_eq!(
            ClientType::for_device(PlatformType::Desktop, Platform::Macos),
            ClientType::MacOs
        );
        assert_eq!(
            ClientType::for_device(PlatformType::Unknown, Platform::Android),
            ClientType::Unknown
        );
        assert_eq!(
            ClientType::for_device(PlatformType::AndroidPhone, Platform::Android),
            ClientType::AndroidPhone
        );
    }

    #[test]
    fn ref_lifetimes_make_a_160_second_window() {
        assert_eq!(ref_lifetime(0), Duration::from_secs(60));
        assert_eq!(ref_lifetime(1), Duration::from_secs(20));
        assert_eq!(ref_lifetime(5), Duration::from_secs(20));
        let total: Duration = (0..6).map(ref_lifetime).sum();
        assert_eq!(total, Duration::from_secs(160));
    }

    #[test]
    fn pair_device_keeps_usable_refs_in_order() {
        let iq = Node::new("iq")
            .attr("id", "X")
            .attr("type", "set")
            .children(vec![Node::new("pair-device").children(vec![
                Node::new("ref").bytes(&b"2@one"[..]),
                Node::new("other").bytes(&b"2@x"[..]),
                Node::new("ref"),
                Node::new("ref").bytes(&b"a,b"[..]),
                Node::new("ref").bytes(&[0xFF, 0xFE][..]),
                Node::new("ref").bytes(&b"2@two"[..]),
            ])]);
        let parsed = parse_pair_device(&iq).unwrap();
        assert_eq!(parsed.id, "X");
        assert_eq!(parsed.refs, ["2@one", "2@two"]);
        assert_eq!(parsed.skipped, 4);
    }

    #[test]
    fn pair_device_needs_id_and_child() {
        let no_id = Node::new("iq").children(vec![Node::new("pair-device")]);
        assert_eq!(
            parse_pair_device(&no_id),
            Err(PairingError::MissingAttribute {
                tag: "iq",
                attr: "id"
            })
        );
        let no_child = Node::new("iq").attr("id", "1");
        assert_eq!(
            parse_pair_device(&no_child),
            Err(PairingError::MissingChild {
                parent: "iq",
                tag: "pair-device"
            })
        );
    }

    #[test]
    fn ack_is_an_empty_result_to_the_server() {
        let ack = pair_device_ack("X");
        assert_eq!(ack.tag, "iq");
        assert_eq!(ack.get_attr("to").unwrap().as_jid(), Some(&server_jid()));
        assert_eq!(ack.attr_str("type"), Some("result"));
        assert_eq!(ack.attr_str("id"), Some("X"));
        assert!(ack.child_nodes().is_empty());
    }
}
