//! The media-retry ("re-upload") flow (`media.md` §4.4): when a download is refused with
//! 403/404/410, the receiver asks its own phone to upload the file again.
//!
//! ```text
//! receiver ─▶ <receipt id to="<own user>" type="server-error">
//!               <encrypt><enc_p>GCM(retryKey, iv, ServerErrorReceipt{id}, aad = id)</enc_p>
//!                        <enc_iv>iv (12 bytes)</enc_iv></encrypt>
//!               <rmr jid="<chat>" from_me="true|false" [participant="<sender>"]/></receipt>
//! phone    ─▶ <notification type="mediaretry" id t><rmr …/>
//!               ( <encrypt><enc_p>GCM(retryKey, iv', MediaRetryNotification, aad = id)</enc_p>
//!                          <enc_iv>iv'</enc_iv></encrypt> | <error code="N"/> )
//!             → SUCCESS: the new direct path (the key and hashes do not change)
//! ```
//!
//! `retryKey = HKDF(mediaKey, "WhatsApp Media Retry Notification", 32)`. Both halves are here:
//! the receiver's (request, answer) for the connection and the phone's (open the request,
//! answer it) for the simulator.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use bytes::Bytes;
use prost::Message as _;

use super::error::RetryError;
use super::keys::MediaKey;
use crate::binary::{Content, Jid, Node};
use crate::proto::media::{MediaRetryNotification, MediaRetryResult, ServerErrorReceipt};

/// Which message a re-upload is asked for (the `<rmr>` element).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryTarget {
    /// The message id.
    pub id: String,
    /// The chat it is in.
    pub chat: Jid,
    /// Whether this account sent it.
    pub from_me: bool,
    /// The sender, in a group.
    pub participant: Option<Jid>,
}

fn seal(key: &MediaKey, iv: &[u8; 12], id: &str, plaintext: &[u8]) -> Vec<u8> {
    Aes256Gcm::new(&key.retry_key().into())
        .encrypt(
            &Nonce::from(*iv),
            Payload {
                msg: plaintext,
                aad: id.as_bytes(),
            },
        )
        .unwrap_or_else(|_| unreachable!("AES-GCM only refuses inputs of 64 GiB and more"))
}

fn open(key: &MediaKey, iv: &[u8], id: &str, sealed: &[u8]) -> Result<Vec<u8>, RetryError> {
    let iv: [u8; 12] = iv
        .try_into()
        .map_err(|_| RetryError::Malformed("the IV is not 12 bytes".into()))?;
    Aes256Gcm::new(&key.retry_key().into())
        .decrypt(
            &Nonce::from(iv),
            Payload {
                msg: sealed,
                aad: id.as_bytes(),
            },
        )
        .map_err(|_| {
            RetryError::Malformed("it does not decrypt with this message's media key".into())
        })
}

fn rmr(target: &RetryTarget) -> Node {
    let mut rmr = Node::new("rmr")
        .jid_attr("jid", target.chat.clone())
        .attr("from_me", if target.from_me { "true" } else { "false" });
    if let Some(p) = &target.participant {
        rmr = rmr.jid_attr("participant", p.clone());
    }
    rmr
}

fn encrypt_node(enc_p: Vec<u8>, iv: &[u8; 12]) -> Node {
    Node::new("encrypt").children(vec![
        Node::new("enc_p").bytes(enc_p),
        Node::new("enc_iv").bytes(iv.to_vec()),
    ])
}

/// The receipt that asks for a re-upload of `target`'s media, addressed to `own_user` (this
/// account's user JID, no device); `iv` is 12 random bytes.
pub fn retry_receipt(target: &RetryTarget, own_user: &Jid, key: &MediaKey, iv: [u8; 12]) -> Node {
    let body = ServerErrorReceipt {
        stanza_id: Some(target.id.clone()),
    }
    .encode_to_vec();
    Node::new("receipt")
        .attr("id", target.id.clone())
        .jid_attr("to", own_user.to_non_ad())
        .attr("type", "server-error")
        .children(vec![
            encrypt_node(seal(key, &iv, &target.id, &body), &iv),
            rmr(target),
        ])
}

fn bytes_child(node: &Node, tag: &str) -> Option<Bytes> {
    match &node.child(tag)?.content {
        Content::Bytes(b) => Some(b.clone()),
        _ => None,
    }
}

/// The `<rmr>` of a receipt or notification.
pub fn read_target(node: &Node) -> Option<RetryTarget> {
    let rmr = node.child("rmr")?;
    let jid = |name: &str| -> Option<Jid> {
        match rmr.get_attr(name)? {
            crate::binary::Value::Jid(j) => Some(j.clone()),
            crate::binary::Value::String(s) => s.parse().ok(),
        }
    };
    Some(RetryTarget {
        id: node.attr_str("id")?.to_owned(),
        chat: jid("jid")?,
        from_me: rmr.attr_str("from_me") == Some("true"),
        participant: jid("participant"),
    })
}

/// The phone's side: checks a `server-error` receipt with the message's media key; the
/// message id it asks about.
pub fn open_retry_receipt(receipt: &Node, key: &MediaKey) -> Result<String, RetryError> {
    let id = receipt
        .attr_str("id")
        .ok_or_else(|| RetryError::Malformed("no id".into()))?;
    let encrypt = receipt
        .child("encrypt")
        .ok_or_else(|| RetryError::Malformed("no <encrypt>".into()))?;
    let (Some(enc_p), Some(iv)) = (
        bytes_child(encrypt, "enc_p"),
        bytes_child(encrypt, "enc_iv"),
    ) else {
        return Err(RetryError::Malformed("no enc_p or enc_iv".into()));
    };
    let plain = open(key, &iv, id, &enc_p)?;
    let body = ServerErrorReceipt::decode(plain.as_slice())
        .map_err(|_| RetryError::Malformed("not a ServerErrorReceipt".into()))?;
    if body.stanza_id.as_deref() != Some(id) {
        return Err(RetryError::Malformed("it names another message".into()));
    }
    Ok(id.to_owned())
}

/// What the phone answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryAnswer {
    /// Re-uploaded at this direct path.
    Success(String),
    /// An encrypted non-success result.
    Result(MediaRetryResult),
    /// A plain `<error code>`.
    Error(u32),
}

/// The phone's side: the `mediaretry` notification answering `target` (`t`: Unix seconds;
/// `iv`: 12 random bytes).
pub fn retry_notification(
    target: &RetryTarget,
    key: &MediaKey,
    answer: &RetryAnswer,
    t: u64,
    iv: [u8; 12],
) -> Node {
    let node = Node::new("notification")
        .attr("id", target.id.clone())
        .attr("type", "mediaretry")
        .attr("t", t.to_string());
    let payload = match answer {
        RetryAnswer::Error(code) => {
            return node.children(vec![
                rmr(target),
                Node::new("error").attr("code", code.to_string()),
            ]);
        }
        RetryAnswer::Success(path) => MediaRetryNotification {
            stanza_id: Some(target.id.clone()),
            direct_path: Some(path.clone()),
            result: Some(MediaRetryResult::Success as i32),
        },
        RetryAnswer::Result(result) => MediaRetryNotification {
            stanza_id: Some(target.id.clone()),
            direct_path: None,
            result: Some(*result as i32),
        },
    };
    let sealed = seal(key, &iv, &target.id, &payload.encode_to_vec());
    node.children(vec![rmr(target), encrypt_node(sealed, &iv)])
}

/// The receiver's side: reads a `mediaretry` notification with the message's media key: the
/// new direct path, or why there is none.
pub fn read_retry_notification(node: &Node, key: &MediaKey) -> Result<String, RetryError> {
    let id = node
        .attr_str("id")
        .ok_or_else(|| RetryError::Malformed("no id".into()))?;
    if let Some(error) = node.child("error") {
        return Err(match error.attr_str("code").and_then(|c| c.parse().ok()) {
            Some(2) => RetryError::NotFound,
            Some(code) => RetryError::Refused(code),
            None => RetryError::Refused(0),
        });
    }
    let encrypt = node
        .child("encrypt")
        .ok_or_else(|| RetryError::Malformed("neither <encrypt> nor <error>".into()))?;
    let (Some(enc_p), Some(iv)) = (
        bytes_child(encrypt, "enc_p"),
        bytes_child(encrypt, "enc_iv"),
    ) else {
        return Err(RetryError::Malformed("no enc_p or enc_iv".into()));
    };
    let plain = open(key, &iv, id, &enc_p)?;
    let answer = MediaRetryNotification::decode(plain.as_slice())
        .map_err(|_| RetryError::Malformed("not a MediaRetryNotification".into()))?;
    if answer.stanza_id.as_deref().is_some_and(|s| s != id) {
        return Err(RetryError::Malformed("it names another message".into()));
    }
    let path = answer.direct_path.filter(|p| p.starts_with('/'));
    match (MediaRetryResult::try_from(answer.result.unwrap_or(0)), path) {
        (Ok(MediaRetryResult::Success), Some(path)) => Ok(path),
        // A non-success result that still carries a path is used (mautrix does the same).
        (_, Some(path)) => Ok(path),
        (Ok(MediaRetryResult::NotFound), None) => Err(RetryError::NotFound),
        (Ok(MediaRetryResult::DecryptionError), None) => Err(RetryError::DecryptionError),
        (Ok(MediaRetryResult::Success), None) => Err(RetryError::Malformed(
            "success without a direct path".into(),
        )),
        (_, None) => Err(RetryError::Refused(
            answer.result.unwrap_or(0).unsigned_abs(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> RetryTarget {
        RetryTarget {
            id: "3EB0X".into(),
            chat: "15550001@s.whatsapp.net".parse().unwrap(),
            from_me: false,
            participant: None,
        }
    }

    #[test]
    fn request_and_answer_round_trip() {
        let key = MediaKey::from_bytes([1; 32]);
        let own: Jid = "15559999:3@s.whatsapp.net".parse().unwrap();
        let receipt = retry_receipt(&target(), &own, &key, [2; 12]);
        assert_eq!(receipt.attr_str("type"), Some("server-error"));
        assert_eq!(read_target(&receipt), Some(target()));
        assert_eq!(open_retry_receipt(&receipt, &key).unwrap(), "3EB0X");
        assert!(open_retry_receipt(&receipt, &MediaKey::from_bytes([9; 32])).is_err());
        let ok = retry_notification(
            &target(),
            &key,
            &RetryAnswer::Success("/v/new".into()),
            5,
            [3; 12],
        );
        assert_eq!(read_retry_notification(&ok, &key), Ok("/v/new".into()));
        assert!(matches!(
            read_retry_notification(&ok, &MediaKey::from_bytes([9; 32])),
            Err(RetryError::Malformed(_))
        ));
        let gone = retry_notification(&target(), &key, &RetryAnswer::Error(2), 5, [3; 12]);
        assert_eq!(
            read_retry_notification(&gone, &key),
            Err(RetryError::NotFound)
        );
        let nf = retry_notification(
            &target(),
            &key,
            &RetryAnswer::Result(MediaRetryResult::NotFound),
            5,
            [3; 12],
        );
        assert_eq!(
            read_retry_notification(&nf, &key),
            Err(RetryError::NotFound)
        );
        let de = retry_notification(
            &target(),
            &key,
            &RetryAnswer::Result(MediaRetryResult::DecryptionError),
            5,
            [3; 12],
        );
        assert_eq!(
            read_retry_notification(&de, &key),
            Err(RetryError::DecryptionError)
        );
    }
}
