//! The `<enc>` checks every route shares: a `<to>` (or a retry resend) carries exactly one
//! `<enc v="2" type="pkmsg"|"msg">` with ciphertext; anything else is refused with 479.

use bytes::Bytes;
use tether_core::binary::{Content, Node};

use super::acceptance::{Nack, nack};

/// The one valid `<enc>` of a `<to>` (or of a retry resend).
pub(crate) fn single_enc(parent: &Node) -> Result<&Node, Nack> {
    let encs: Vec<&Node> = parent
        .child_nodes()
        .iter()
        .filter(|c| c.tag == "enc")
        .collect();
    let [enc] = encs.as_slice() else {
        return Err(nack(479, format!("{} <enc> children, not one", encs.len())));
    };
    if enc.attr_str("v") != Some("2") {
        return Err(nack(479, "an <enc> without v=\"2\""));
    }
    if !matches!(enc.attr_str("type"), Some("pkmsg" | "msg")) {
        return Err(nack(479, "an <enc> whose type is not pkmsg or msg"));
    }
    match &enc.content {
        Content::Bytes(b) if !b.is_empty() => Ok(enc),
        _ => Err(nack(479, "an <enc> without ciphertext")),
    }
}

pub(crate) fn enc_bytes(enc: &Node) -> Bytes {
    match &enc.content {
        Content::Bytes(b) => b.clone(),
        _ => Bytes::new(),
    }
}

pub(crate) fn is_pkmsg(enc: &Node) -> bool {
    enc.attr_str("type") == Some("pkmsg")
}
