//! Linking a new companion to a phone (`protocol/session.md` §3, DESIGN §3.2): the crypto and
//! the stanzas, as pure functions. Nothing here sends, stores or waits; every random byte comes
//! in as a parameter (drawn by the caller from its seeded RNG), and every stanza goes out as a
//! [`Node`] value for the caller to send once it is allowed to.
//!
//! QR linking (the companion side is [`qr`] and [`success`], the phone side [`phone`]). The
//! caller routes stanzas (by iq id, `from` and tag); these functions do not check `from`.
//!
//! ```text
//! companion (Connection)                 server                          phone
//!   registration login             ->
//!   parse_pair_device               <-  iq set <pair-device><ref/>×6
//!   pair_device_ack                 ->
//!   QrPayload::encode, one ref per ref_lifetime(i) (60 s, then 20 s)  ~~ QR ~~>  QrPayload::parse
//!                                                                                build_pair_success
//!   handle_pair_success             <-  iq <pair-success>               <-
//!     (HMAC, account signature, device signature)
//!   persist PairedIdentity, THEN send Paired::reply
//!                                   ->  iq result <pair-device-sign>    ->  IssuedPairSuccess::verify_reply
//!                                   <-  stream:error 515 (log in again)
//! ```
//!
//! Pair-code linking ([`code`] for the companion, [`phone`] for the primary and the server):
//!
//! ```text
//! companion                                    server / phone
//!   code::companion_hello (code, wrapped eph) ->  CompanionHello::parse
//!   PendingPairCode::registered             <-  companion_hello_result (link_code_pairing_ref)
//!   (show PairingCode::formatted; the user types it on the phone)
//!   PrimaryHello::parse                     <-  primary_hello (wrapped eph, identity)
//!   RegisteredPairCode::finish -> new AdvSecret: persist it, THEN send companion_finish
//!                                           ->  PendingPrimary::finish (same ADV secret)
//!   ... then pair-success exactly as for QR, HMAC'd with the new ADV secret
//! ```
//!
//! Every failure is a [`PairingError`]; [`PairingError::pair_error_code`] gives the code and
//! text of the `<error>` reply whatsmeow sends for it ([`pair_error_reply`]).

pub mod code;
mod error;
pub mod phone;
pub mod qr;
pub mod success;

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::binary::{Content, Jid, Node, Server};

pub use error::PairingError;

/// Length of the ADV secret.
pub const ADV_SECRET_LEN: usize = 32;

/// Prefix of the account-signature input for a normal (E2EE) account: `06 00`.
pub const ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 0];
/// Prefix of the device-signature input: `06 01` (whatsmeow uses it for hosted accounts too).
pub const DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 1];
/// Prefix of the account-signature input (and of the HMAC input) for a hosted account: `06 05`.
pub const HOSTED_ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 5];
/// Hosted device-signature prefix `06 06`: whatsapp-rust's choice, **not** used by Tether
/// (whatsmeow and Baileys keep [`DEVICE_SIGNATURE_PREFIX`]); listed for reference only.
pub const HOSTED_DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 6];

/// The 32-byte ADV secret shared with the phone through the QR code (or derived in pair-code
/// stage 2); it keys the HMAC of `<pair-success>`. Wiped on drop, redacted in `Debug`.
#[derive(Clone)]
pub struct AdvSecret([u8; ADV_SECRET_LEN]);

impl AdvSecret {
    /// The secret with these bytes (callers draw fresh ones from their seeded RNG).
    pub const fn from_bytes(bytes: [u8; ADV_SECRET_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes, for persisting credentials and building the QR string.
    pub const fn as_bytes(&self) -> &[u8; ADV_SECRET_LEN] {
        &self.0
    }
}

impl Drop for AdvSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for AdvSecret {}

impl PartialEq for AdvSecret {
    /// Constant-time comparison.
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for AdvSecret {}

impl fmt::Debug for AdvSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdvSecret(<redacted>)")
    }
}

/// The server JID `s.whatsapp.net`, the `to` of every pairing reply.
fn server_jid() -> Jid {
    Jid::server_jid(Server::WhatsApp)
}

/// `<iq to="s.whatsapp.net" type="error" id=…><error code=… text=…/></iq>`: the reply to a
/// `<pair-success>` that failed with `error` (whatsmeow `sendPairError`). Send it only if the
/// failed stanza had an `id`.
pub fn pair_error_reply(iq_id: &str, error: &PairingError) -> Node {
    let (code, text) = error.pair_error_code();
    Node::new("iq")
        .jid_attr("to", server_jid())
        .attr("type", "error")
        .attr("id", iq_id.to_owned())
        .children(vec![
            Node::new("error")
                .attr("code", code.to_string())
                .attr("text", text),
        ])
}

/// The content of `node` as bytes: byte content, or string content taken as its UTF-8 bytes.
fn content_bytes(node: &Node) -> Option<&[u8]> {
    match &node.content {
        Content::Bytes(bytes) => Some(bytes),
        Content::String(text) => Some(text.as_bytes()),
        _ => None,
    }
}

/// The child `tag` of `parent`, or [`PairingError::MissingChild`].
fn child<'a>(
    parent: &'a Node,
    parent_tag: &'static str,
    tag: &'static str,
) -> Result<&'a Node, PairingError> {
    parent.child(tag).ok_or(PairingError::MissingChild {
        parent: parent_tag,
        tag,
    })
}

/// The byte content of the child `tag` of `parent`.
fn child_bytes<'a>(
    parent: &'a Node,
    parent_tag: &'static str,
    tag: &'static str,
) -> Result<&'a [u8], PairingError> {
    content_bytes(child(parent, parent_tag, tag)?).ok_or(PairingError::NotBytes { tag })
}

/// The byte content of the child `tag` of `parent`, which must be exactly `N` bytes.
fn child_array<const N: usize>(
    parent: &Node,
    parent_tag: &'static str,
    tag: &'static str,
) -> Result<[u8; N], PairingError> {
    let bytes = child_bytes(parent, parent_tag, tag)?;
    fixed(tag, bytes)
}

/// `bytes` as an `N`-byte array, or [`PairingError::WrongLength`] naming `field`.
fn fixed<const N: usize>(field: &'static str, bytes: &[u8]) -> Result<[u8; N], PairingError> {
    bytes.try_into().map_err(|_| PairingError::WrongLength {
        field,
        expected: N,
        actual: bytes.len(),
    })
}

/// The string attribute `attr` of `node` (tagged `tag` in errors).
fn required_attr<'a>(
    node: &'a Node,
    tag: &'static str,
    attr: &'static str,
) -> Result<&'a str, PairingError> {
    node.attr_str(attr)
        .ok_or(PairingError::MissingAttribute { tag, attr })
}

/// The JID attribute `attr` of `node`: a typed JID, or a string that parses as one.
fn jid_attr(
    node: &Node,
    tag: &'static str,
    attr: &'static str,
) -> Result<Option<Jid>, PairingError> {
    let Some(value) = node.get_attr(attr) else {
        return Ok(None);
    };
    let jid = match value {
        crate::binary::Value::Jid(jid) => jid.clone(),
        crate::binary::Value::String(text) => text
            .parse::<Jid>()
            .map_err(|_| PairingError::InvalidJid { tag, attr })?,
    };
    if jid.user_str().is_empty() {
        return Err(PairingError::InvalidJid { tag, attr });
    }
    Ok(Some(jid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adv_secret_debug_is_redacted() {
        let secret = AdvSecret::from_bytes([0xAB; 32]);
        let shown = format!("{secret:?}");
        assert!(!shown.to_lowercase().contains("ab"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn error_reply_carries_code_and_text() {
        let reply = pair_error_reply("42", &PairingError::HmacMismatch);
        assert_eq!(reply.attr_str("type"), Some("error"));
        assert_eq!(reply.attr_str("id"), Some("42"));
        let error = reply.child("error").unwrap();
        assert_eq!(error.attr_str("code"), Some("401"));
        assert_eq!(error.attr_str("text"), Some("hmac-mismatch"));
    }
}
