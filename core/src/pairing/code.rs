//! Pair-code linking, companion side (`protocol/session.md` §3.9, DESIGN §3.2, whatsmeow
//! `pair-code.go`): the user types an 8-character code shown by the companion into the phone
//! instead of scanning a QR code.
//!
//! ```text
//! code      = base32(5 random bytes) over 123456789ABCDEFGHJKLMNPQRSTVWXYZ (8 chars, shown XXXX-XXXX)
//! wrap(pub) = salt(32) ‖ iv(16) ‖ AES-256-CTR(PBKDF2-HMAC-SHA256(code, salt, 131 072, 32), iv, pub)
//!             (CTR: the whole 16-byte iv is a 128-bit big-endian counter, as Go's cipher.NewCTR)
//!
//! stage 1  companion_hello:  wrap(companion_eph_pub), noise pub, platform id + display, nonce 00
//!          <- link_code_pairing_ref
//! stage 2  primary_hello:    ref, wrap(primary_eph_pub), primary_identity_pub
//!   S_eph      = X25519(companion_eph_priv, unwrap(primary_eph_pub))
//!   bundle_key = HKDF-SHA256(S_eph, salt = bundle_salt, "link_code_pairing_key_bundle_encryption_key")
//!   bundle     = bundle_salt ‖ nonce ‖ AES-256-GCM(bundle_key, nonce, own_identity_pub ‖ primary_identity_pub ‖ adv_random)
//!   S_id       = X25519(own_identity_priv, primary_identity_pub)
//!   adv_secret = HKDF-SHA256(S_eph ‖ S_id ‖ adv_random, no salt, "adv_secret")
//!          -> companion_finish: bundle, own identity pub, ref
//! ```
//!
//! The new ADV secret replaces the stored one: persist it before sending `companion_finish`.
//! Both X25519 results must be contributory (whatsmeow's `curve25519.X25519` refuses an
//! all-zero result); a low-order peer key is [`PairingError::LowOrderPoint`].

use core::fmt;

use aes::Aes256;
use aes::cipher::{KeyIvInit, StreamCipher};
use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use bytes::Bytes;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use super::qr::ClientType;
use super::{AdvSecret, PairingError, child, child_bytes, fixed, required_attr, server_jid};
use crate::binary::{Content, Jid, Node, Server};
use crate::crypto::KeyPair;

/// The 32 characters of a pairing code (Crockford-like: no `0`, `I`, `O`, `U`).
pub const CODE_ALPHABET: &[u8; 32] = b"123456789ABCDEFGHJKLMNPQRSTVWXYZ";
/// Characters in a pairing code.
pub const CODE_LEN: usize = 8;
/// PBKDF2 iterations of the code key (`2 << 16`).
pub const PBKDF2_ROUNDS: u32 = 2 << 16;
/// Length of a wrapped ephemeral key: salt, iv, ciphertext.
pub const WRAPPED_KEY_LEN: usize = 80;
/// Length of the wrapped key bundle: salt (32), nonce (12), ciphertext (96) and tag (16).
pub const WRAPPED_BUNDLE_LEN: usize = 32 + 12 + 96 + 16;
/// HKDF info of the key-bundle encryption key.
pub const KEY_BUNDLE_INFO: &[u8] = b"link_code_pairing_key_bundle_encryption_key";
/// HKDF info of the ADV secret.
pub const ADV_SECRET_INFO: &[u8] = b"adv_secret";

type Aes256Ctr128Be = ctr::Ctr128BE<Aes256>;

/// An 8-character pairing code. `Debug` is redacted: the code protects the key exchange until
/// it completes. [`PairingCode::formatted`] is what the user sees.
#[derive(Clone, PartialEq, Eq)]
pub struct PairingCode([u8; CODE_LEN]);

impl PairingCode {
    /// The code for 5 random bytes: 40 bits, 5 at a time from the most significant, each an
    /// index into [`CODE_ALPHABET`] (Go's base32 without padding).
    pub fn from_random(bytes: [u8; 5]) -> Self {
        let [a, b, c, d, e] = bytes;
        let bits = u64::from_be_bytes([0, 0, 0, a, b, c, d, e]);
        let mut code = [0u8; CODE_LEN];
        for (i, slot) in code.iter_mut().enumerate() {
            let shift = 35 - 5 * i;
            let index = ((bits >> shift) & 0x1F) as usize;
            *slot = CODE_ALPHABET.get(index).copied().unwrap_or(b'1');
        }
        Self(code)
    }

    /// Reads a code as typed: `ABCD-EFGH` or `ABCDEFGH`, uppercase alphabet characters only.
    pub fn parse(text: &str) -> Result<Self, PairingError> {
        let bytes = text.as_bytes();
        let compact: Vec<u8> = match bytes.len() {
            CODE_LEN => bytes.to_vec(),
            9 if bytes.get(4) == Some(&b'-') => [bytes.get(..4), bytes.get(5..)]
                .into_iter()
                .flatten()
                .flatten()
                .copied()
                .collect(),
            _ => return Err(PairingError::InvalidCode),
        };
        let code: [u8; CODE_LEN] = compact.try_into().map_err(|_| PairingError::InvalidCode)?;
        if code.iter().all(|b| CODE_ALPHABET.contains(b)) {
            Ok(Self(code))
        } else {
            Err(PairingError::InvalidCode)
        }
    }

    /// The 8 characters (the key-derivation password).
    pub fn as_str(&self) -> &str {
        // Every byte is from CODE_ALPHABET, so this is ASCII.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The display form `XXXX-XXXX` (whatsmeow's); the dash is not part of the code.
    pub fn formatted(&self) -> String {
        let s = self.as_str();
        format!("{}-{}", s.get(..4).unwrap_or(""), s.get(4..).unwrap_or(""))
    }
}

impl Drop for PairingCode {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for PairingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PairingCode(<redacted>)")
    }
}

/// `PBKDF2-HMAC-SHA256(code, salt, 131 072 rounds, 32 bytes)`: the key wrapping both ephemeral
/// public keys.
pub fn code_key(code: &PairingCode, salt: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(code.as_str().as_bytes(), salt, PBKDF2_ROUNDS, key.as_mut());
    key
}

/// `salt ‖ iv ‖ AES-256-CTR(code_key(code, salt), iv, public)` (80 bytes).
pub fn wrap_public_key(
    code: &PairingCode,
    public: &[u8; 32],
    salt: &[u8; 32],
    iv: &[u8; 16],
) -> [u8; WRAPPED_KEY_LEN] {
    let mut wrapped = [0u8; WRAPPED_KEY_LEN];
    let (head, body) = wrapped.split_at_mut(48);
    let (salt_out, iv_out) = head.split_at_mut(32);
    salt_out.copy_from_slice(salt);
    iv_out.copy_from_slice(iv);
    body.copy_from_slice(public);
    let key = code_key(code, salt);
    Aes256Ctr128Be::new(&(*key).into(), &(*iv).into()).apply_keystream(body);
    wrapped
}

/// The public key inside a wrapped key. Like whatsmeow, reads the first 80 bytes and ignores
/// any more; fewer is [`PairingError::WrongLength`]. A wrong code yields a different key (CTR
/// has no integrity): the mismatch surfaces later as a failed HMAC or GCM tag.
pub fn unwrap_public_key(code: &PairingCode, wrapped: &[u8]) -> Result<[u8; 32], PairingError> {
    let field = "wrapped ephemeral key";
    let (Some(salt), Some(iv), Some(body)) = (
        wrapped.get(..32),
        wrapped.get(32..48),
        wrapped.get(48..WRAPPED_KEY_LEN),
    ) else {
        return Err(PairingError::WrongLength {
            field,
            expected: WRAPPED_KEY_LEN,
            actual: wrapped.len(),
        });
    };
    let salt: [u8; 32] = fixed(field, salt)?;
    let iv: [u8; 16] = fixed(field, iv)?;
    let mut public: [u8; 32] = fixed(field, body)?;
    let key = code_key(code, &salt);
    Aes256Ctr128Be::new(&(*key).into(), &iv.into()).apply_keystream(&mut public);
    Ok(public)
}

/// The phone number as whatsmeow takes it: every non-digit removed, more than 6 digits, no
/// leading 0; the result is `<digits>@s.whatsapp.net`.
pub fn phone_jid(phone: &str) -> Result<Jid, PairingError> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    if digits.len() <= 6 {
        return Err(PairingError::PhoneNumberTooShort(digits.len()));
    }
    if digits.starts_with('0') {
        return Err(PairingError::PhoneNumberNotInternational);
    }
    Ok(Jid::user(&digits, Server::WhatsApp))
}

/// What the companion announces in stage 1 (whatsmeow `PairPhone`'s parameters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompanionHelloParams {
    /// The account's phone number, any formatting (`+1 555-0100 123`).
    pub phone: String,
    /// `should_show_push_notification`: ask the phone to show a notification (whatsmeow's
    /// caller chooses; `true` is the usual choice).
    pub show_push_notification: bool,
    /// `companion_platform_id`.
    pub client_type: ClientType,
    /// `companion_platform_display`, `Browser (OS)`; the server accepts common browsers and
    /// systems only (whatsmeow: otherwise 400), e.g. [`DEFAULT_PLATFORM_DISPLAY`].
    pub platform_display: String,
}

/// A display name the server accepts (`Chrome (Linux)`), with [`ClientType::Chrome`].
pub const DEFAULT_PLATFORM_DISPLAY: &str = "Chrome (Linux)";

impl CompanionHelloParams {
    /// Pair-code parameters for `phone`: push notification on, Chrome on Linux.
    pub fn new(phone: impl Into<String>) -> Self {
        Self {
            phone: phone.into(),
            show_push_notification: true,
            client_type: ClientType::Chrome,
            platform_display: DEFAULT_PLATFORM_DISPLAY.to_owned(),
        }
    }
}

/// The random inputs of stage 1, drawn by the caller.
#[derive(Clone)]
pub struct CompanionHelloRandom {
    /// The 5 bytes behind the code.
    pub code: [u8; 5],
    /// PBKDF2 salt of the wrapped ephemeral key.
    pub salt: [u8; 32],
    /// AES-CTR initial counter block.
    pub iv: [u8; 16],
}

impl fmt::Debug for CompanionHelloRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CompanionHelloRandom(<redacted>)")
    }
}

/// Stage 1 sent, waiting for the server's `link_code_pairing_ref`.
#[derive(Clone, Debug)]
pub struct PendingPairCode {
    /// `<phone>@s.whatsapp.net`.
    pub phone_jid: Jid,
    /// The code to show the user ([`PairingCode::formatted`]).
    pub code: PairingCode,
    ephemeral: KeyPair,
}

/// Builds the stage-1 iq `link_code_companion_reg stage="companion_hello"` (id `iq_id`) and the
/// state to keep. `ephemeral` is a fresh key pair from the caller's RNG.
pub fn companion_hello(
    iq_id: &str,
    params: &CompanionHelloParams,
    noise_public: &[u8; 32],
    ephemeral: KeyPair,
    random: &CompanionHelloRandom,
) -> Result<(PendingPairCode, Node), PairingError> {
    let phone_jid = phone_jid(&params.phone)?;
    if params.platform_display.is_empty() {
        return Err(PairingError::EmptyPlatformDisplay);
    }
    let code = PairingCode::from_random(random.code);
    let wrapped = wrap_public_key(&code, &ephemeral.public_bytes(), &random.salt, &random.iv);
    let registration = Node::new("link_code_companion_reg")
        .jid_attr("jid", phone_jid.clone())
        .attr("stage", "companion_hello")
        .attr(
            "should_show_push_notification",
            if params.show_push_notification {
                "true"
            } else {
                "false"
            },
        )
        .children(vec![
            Node::new("link_code_pairing_wrapped_companion_ephemeral_pub").bytes(wrapped.to_vec()),
            Node::new("companion_server_auth_key_pub").bytes(noise_public.to_vec()),
            text_node(
                "companion_platform_id",
                params.client_type.as_char().to_string(),
            ),
            text_node(
                "companion_platform_display",
                params.platform_display.clone(),
            ),
            Node::new("link_code_pairing_nonce").bytes(vec![0u8]),
        ]);
    let pending = PendingPairCode {
        phone_jid,
        code,
        ephemeral,
    };
    Ok((pending, md_set_iq(iq_id, registration)))
}

impl PendingPairCode {
    /// Reads the server's answer to stage 1 and keeps its `link_code_pairing_ref`.
    pub fn registered(&self, result: &Node) -> Result<RegisteredPairCode, PairingError> {
        expect_result(result)?;
        let registration = child(result, "iq", "link_code_companion_reg")?;
        let pairing_ref = child_bytes(
            registration,
            "link_code_companion_reg",
            "link_code_pairing_ref",
        )?;
        Ok(RegisteredPairCode {
            phone_jid: self.phone_jid.clone(),
            code: self.code.clone(),
            ephemeral: self.ephemeral.clone(),
            pairing_ref: Bytes::copy_from_slice(pairing_ref),
        })
    }
}

/// Stage 1 accepted: the code is live and the phone's `primary_hello` is awaited.
#[derive(Clone, Debug)]
pub struct RegisteredPairCode {
    /// `<phone>@s.whatsapp.net`.
    pub phone_jid: Jid,
    /// The code shown to the user.
    pub code: PairingCode,
    /// The server's `link_code_pairing_ref`.
    pub pairing_ref: Bytes,
    ephemeral: KeyPair,
}

/// The stage-2 notification `link_code_companion_reg stage="primary_hello"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrimaryHello {
    /// `link_code_pairing_ref`.
    pub pairing_ref: Bytes,
    /// `link_code_pairing_wrapped_primary_ephemeral_pub` (its first 80 bytes).
    pub wrapped_primary_ephemeral: [u8; WRAPPED_KEY_LEN],
    /// `primary_identity_pub`.
    pub primary_identity: [u8; 32],
}

impl PrimaryHello {
    /// Parses `<notification type="link_code_companion_reg">`. A `stage` other than
    /// `primary_hello` (for example whatsapp-rust's `refresh_code`) is
    /// [`PairingError::UnexpectedStage`]; a missing `stage` is accepted, as whatsmeow does.
    pub fn parse(notification: &Node) -> Result<Self, PairingError> {
        let registration = child(notification, "notification", "link_code_companion_reg")?;
        if let Some(stage) = registration.attr_str("stage")
            && stage != "primary_hello"
        {
            return Err(PairingError::UnexpectedStage(
                stage.chars().take(64).collect(),
            ));
        }
        const TAG: &str = "link_code_companion_reg";
        let pairing_ref = child_bytes(registration, TAG, "link_code_pairing_ref")?;
        let wrapped_field = "link_code_pairing_wrapped_primary_ephemeral_pub";
        let wrapped = child_bytes(registration, TAG, wrapped_field)?;
        let wrapped = wrapped
            .get(..WRAPPED_KEY_LEN)
            .ok_or(PairingError::WrongLength {
                field: wrapped_field,
                expected: WRAPPED_KEY_LEN,
                actual: wrapped.len(),
            })?;
        Ok(Self {
            pairing_ref: Bytes::copy_from_slice(pairing_ref),
            wrapped_primary_ephemeral: fixed(wrapped_field, wrapped)?,
            primary_identity: super::child_array(registration, TAG, "primary_identity_pub")?,
        })
    }
}

/// The random inputs of stage 2, drawn by the caller.
#[derive(Clone)]
pub struct CompanionFinishRandom {
    /// `adv_random`, mixed into the new ADV secret.
    pub adv_random: [u8; 32],
    /// HKDF salt of the bundle key.
    pub bundle_salt: [u8; 32],
    /// AES-GCM nonce of the bundle.
    pub bundle_nonce: [u8; 12],
}

impl fmt::Debug for CompanionFinishRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CompanionFinishRandom(<redacted>)")
    }
}

/// The outcome of stage 2: persist `adv_secret` (replacing the stored one), then send `reply`.
#[derive(Clone, Debug)]
pub struct CodeFinished {
    /// The ADV secret the coming `<pair-success>` HMAC uses.
    pub adv_secret: AdvSecret,
    /// The `companion_finish` iq.
    pub reply: Node,
}

impl RegisteredPairCode {
    /// Stage 2: checks the ref, unwraps the phone's ephemeral key, derives the ADV secret and
    /// builds the `link_code_companion_reg stage="companion_finish"` iq (id `iq_id`).
    pub fn finish(
        &self,
        hello: &PrimaryHello,
        identity: &KeyPair,
        random: &CompanionFinishRandom,
        iq_id: &str,
    ) -> Result<CodeFinished, PairingError> {
        if hello.pairing_ref != self.pairing_ref {
            return Err(PairingError::RefMismatch);
        }
        let primary_ephemeral = unwrap_public_key(&self.code, &hello.wrapped_primary_ephemeral)?;
        let ephemeral_secret =
            contributory(&self.ephemeral, &primary_ephemeral, "primary ephemeral key")?;
        let own_identity = identity.public_bytes();
        let mut bundle_plain = Zeroizing::new([0u8; 96]);
        bundle_plain[..32].copy_from_slice(&own_identity);
        bundle_plain[32..64].copy_from_slice(&hello.primary_identity);
        bundle_plain[64..].copy_from_slice(&random.adv_random);
        let bundle = seal_key_bundle(
            &ephemeral_secret,
            &random.bundle_salt,
            &random.bundle_nonce,
            bundle_plain.as_slice(),
        );
        let identity_secret =
            contributory(identity, &hello.primary_identity, "primary identity key")?;
        let adv_secret = derive_adv_secret(&ephemeral_secret, &identity_secret, &random.adv_random);

        let registration = Node::new("link_code_companion_reg")
            .jid_attr("jid", self.phone_jid.clone())
            .attr("stage", "companion_finish")
            .children(vec![
                Node::new("link_code_pairing_wrapped_key_bundle").bytes(bundle),
                Node::new("companion_identity_public").bytes(own_identity.to_vec()),
                Node::new("link_code_pairing_ref").bytes(self.pairing_ref.clone()),
            ]);
        Ok(CodeFinished {
            adv_secret,
            reply: md_set_iq(iq_id, registration),
        })
    }
}

/// X25519 of `own` with `their`, refusing a non-contributory (all-zero) result.
pub(crate) fn contributory(
    own: &KeyPair,
    their: &[u8; 32],
    key: &'static str,
) -> Result<Zeroizing<[u8; 32]>, PairingError> {
    let shared = own.diffie_hellman(their);
    if !shared.was_contributory() {
        return Err(PairingError::LowOrderPoint { key });
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}

/// HKDF-SHA256 to 32 bytes.
fn hkdf32(salt: Option<&[u8]>, ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut okm = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's output limit, so expand cannot fail.
    let _ = Hkdf::<Sha256>::new(salt, ikm).expand(info, okm.as_mut());
    okm
}

/// The bundle key: HKDF-SHA256(S_eph, bundle_salt, [`KEY_BUNDLE_INFO`]).
pub(crate) fn key_bundle_key(ephemeral_secret: &[u8; 32], salt: &[u8; 32]) -> Aes256Gcm {
    let key = hkdf32(Some(salt), ephemeral_secret, KEY_BUNDLE_INFO);
    Aes256Gcm::new(&(*key).into())
}

/// `bundle_salt ‖ nonce ‖ AES-256-GCM(bundle_key, nonce, plaintext)`.
fn seal_key_bundle(
    ephemeral_secret: &[u8; 32],
    salt: &[u8; 32],
    nonce: &[u8; 12],
    plaintext: &[u8],
) -> Vec<u8> {
    let cipher = key_bundle_key(ephemeral_secret, salt);
    let sealed = cipher
        .encrypt(&Nonce::from(*nonce), plaintext)
        .unwrap_or_else(|_| unreachable!("AES-GCM only refuses inputs of 64 GiB and more"));
    [&salt[..], &nonce[..], &sealed].concat()
}

/// The ADV secret: HKDF-SHA256(S_eph ‖ S_id ‖ adv_random, no salt, [`ADV_SECRET_INFO`]).
pub(crate) fn derive_adv_secret(
    ephemeral_secret: &[u8; 32],
    identity_secret: &[u8; 32],
    adv_random: &[u8; 32],
) -> AdvSecret {
    let mut ikm = Zeroizing::new([0u8; 96]);
    ikm[..32].copy_from_slice(ephemeral_secret);
    ikm[32..64].copy_from_slice(identity_secret);
    ikm[64..].copy_from_slice(adv_random);
    AdvSecret::from_bytes(*hkdf32(None, ikm.as_slice(), ADV_SECRET_INFO))
}

/// A node with string content.
pub(crate) fn text_node(tag: &'static str, text: String) -> Node {
    let mut node = Node::new(tag);
    node.content = Content::String(text.into());
    node
}

/// `<iq to="s.whatsapp.net" type="set" xmlns="md" id=…>child</iq>`.
fn md_set_iq(iq_id: &str, child: Node) -> Node {
    Node::new("iq")
        .jid_attr("to", server_jid())
        .attr("type", "set")
        .attr("xmlns", "md")
        .attr("id", iq_id.to_owned())
        .children(vec![child])
}

/// Requires `type="result"`; an `error` (or anything else) becomes [`PairingError::Rejected`].
pub(crate) fn expect_result(iq: &Node) -> Result<(), PairingError> {
    let kind = required_attr(iq, "iq", "type")?;
    if kind == "result" {
        return Ok(());
    }
    let error = iq.child("error");
    let attr = |name: &str| {
        error
            .and_then(|e| e.attr_str(name))
            .map(|v| v.chars().take(64).collect())
    };
    Err(PairingError::Rejected {
        kind: kind.chars().take(16).collect(),
        code: attr("code"),
        text: attr("text"),
    })
}
