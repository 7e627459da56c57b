//! [`PairingError`]: every way a pairing stanza, QR string, pairing code or ADV message can be
//! refused. Messages are lowercase; the enum is `#[non_exhaustive]`.

/// `field` of [`PairingError`] for the HMAC of the `<device-identity>` container.
pub(crate) const FIELD_HMAC: &str = "ADVSignedDeviceIdentityHMAC.HMAC";
/// `field` of [`PairingError`] for the primary's account key.
pub(crate) const FIELD_ACCOUNT_KEY: &str = "ADVSignedDeviceIdentity.accountSignatureKey";
/// `field` of [`PairingError`] for the primary's account signature.
pub(crate) const FIELD_ACCOUNT_SIGNATURE: &str = "ADVSignedDeviceIdentity.accountSignature";
/// `field` of [`PairingError`] for the companion's device signature.
pub(crate) const FIELD_DEVICE_SIGNATURE: &str = "ADVSignedDeviceIdentity.deviceSignature";

/// Why a pairing step failed. Produced by the companion side and by the phone side alike.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PairingError {
    /// A stanza lacks a required child element.
    #[error("<{parent}> has no <{tag}> child")]
    MissingChild {
        /// Tag of the element searched.
        parent: &'static str,
        /// Tag of the missing child.
        tag: &'static str,
    },
    /// A stanza lacks a required attribute (or has it as a JID where a string is needed).
    #[error("<{tag}> has no `{attr}` string attribute")]
    MissingAttribute {
        /// Tag of the element.
        tag: &'static str,
        /// The attribute name.
        attr: &'static str,
    },
    /// An attribute that must hold a user JID holds something else.
    #[error("`{attr}` of <{tag}> is not a user jid")]
    InvalidJid {
        /// Tag of the element.
        tag: &'static str,
        /// The attribute name.
        attr: &'static str,
    },
    /// An element that must hold bytes holds child nodes or nothing.
    #[error("<{tag}> does not hold bytes")]
    NotBytes {
        /// Tag of the element.
        tag: &'static str,
    },
    /// A key, signature, HMAC, salt or wrapped value has the wrong length.
    #[error("{field} must be {expected} bytes, found {actual}")]
    WrongLength {
        /// What was measured (a protobuf field or an element tag).
        field: &'static str,
        /// The required length.
        expected: usize,
        /// The length received.
        actual: usize,
    },
    /// A required protobuf field is absent.
    #[error("protobuf field {field} is missing")]
    MissingField {
        /// `Message.field`.
        field: &'static str,
    },
    /// Bytes that must be a protobuf message do not decode.
    #[error("{message} is not a valid protobuf message")]
    MalformedProtobuf {
        /// The message type expected.
        message: &'static str,
    },
    /// An `ADVEncryptionType` field holds a value outside `E2EE` / `HOSTED`.
    #[error("{field} holds unknown adv encryption type {value}")]
    UnknownEncryptionType {
        /// `Message.field`.
        field: &'static str,
        /// The value received.
        value: i32,
    },
    /// The device-identity HMAC does not match the ADV secret (reply 401 `hmac-mismatch`).
    #[error("device identity hmac does not match the adv secret")]
    HmacMismatch,
    /// The primary's account signature does not verify against this device's identity key
    /// (reply 401 `signature-mismatch`).
    #[error("account signature does not verify")]
    AccountSignatureMismatch,
    /// The companion's device signature does not verify (phone side).
    #[error("device signature does not verify")]
    DeviceSignatureMismatch,
    /// The companion returned identity details other than those the phone issued (phone side).
    #[error("signed identity details differ from the ones issued")]
    DetailsMismatch,
    /// A reply answers another iq id.
    #[error("reply id {found:?} does not answer iq {expected:?}")]
    IdMismatch {
        /// The id of the iq sent.
        expected: String,
        /// The id in the reply.
        found: String,
    },
    /// The companion (or the server) answered with an error or an unexpected iq type.
    #[error("iq answered with type {kind:?} (error {code:?} {text:?})")]
    Rejected {
        /// The `type` attribute of the reply.
        kind: String,
        /// `code` of its `<error>` child, if any.
        code: Option<String>,
        /// `text` of its `<error>` child, if any.
        text: Option<String>,
    },
    /// The QR string does not have 4 (legacy) or 5 comma-separated fields.
    #[error("qr string has {0} comma-separated fields, expected 4 or 5")]
    QrFieldCount(usize),
    /// A base64 field of the QR string does not decode.
    #[error("qr field {field} is not standard base64")]
    QrBase64 {
        /// `noise key`, `identity key` or `adv secret`.
        field: &'static str,
    },
    /// The pair-device ref is empty, or contains a comma, or is not UTF-8.
    #[error("pairing ref is empty, not utf-8 or contains a comma")]
    InvalidRef,
    /// The QR client type is not one known character.
    #[error("unknown companion client type {0:?}")]
    UnknownClientType(String),
    /// A pairing code is not 8 characters of the linking alphabet.
    #[error("pairing code must be 8 characters of 123456789ABCDEFGHJKLMNPQRSTVWXYZ")]
    InvalidCode,
    /// The phone number has too few digits (whatsmeow wants more than 6).
    #[error("phone number has {0} digits, more than 6 are needed")]
    PhoneNumberTooShort(usize),
    /// The phone number starts with 0: not in international form.
    #[error("phone number starts with 0: give it with its country code")]
    PhoneNumberNotInternational,
    /// The platform display name is empty.
    #[error("companion platform display must not be empty")]
    EmptyPlatformDisplay,
    /// The pair-code notification or reply names another pairing ref.
    #[error("pairing ref does not match the pending pair-code request")]
    RefMismatch,
    /// `link_code_companion_reg` has a stage other than the one expected.
    #[error("unexpected link_code_companion_reg stage {0:?}")]
    UnexpectedStage(String),
    /// X25519 with a peer key gave the all-zero secret: the key is a low-order point.
    #[error("x25519 with the {key} gives the all-zero secret")]
    LowOrderPoint {
        /// Which peer key.
        key: &'static str,
    },
    /// The pair-code key bundle does not decrypt (phone side).
    #[error("pair-code key bundle does not decrypt")]
    KeyBundleDecrypt,
    /// The decrypted key bundle names an identity other than the expected one (phone side).
    #[error("pair-code key bundle names another {0}")]
    KeyBundleMismatch(&'static str),
}

impl PairingError {
    /// The `<error code text>` whatsmeow replies with to a `<pair-success>` that failed this way:
    /// 401 `hmac-mismatch`, 401 `signature-mismatch` (including account key or signature of the
    /// wrong length), else 500 `internal-error`.
    pub fn pair_error_code(&self) -> (u16, &'static str) {
        match self {
            Self::HmacMismatch
            | Self::WrongLength {
                field: FIELD_HMAC, ..
            } => (401, "hmac-mismatch"),
            Self::AccountSignatureMismatch
            | Self::WrongLength {
                field: FIELD_ACCOUNT_KEY | FIELD_ACCOUNT_SIGNATURE,
                ..
            } => (401, "signature-mismatch"),
            _ => (500, "internal-error"),
        }
    }
}
