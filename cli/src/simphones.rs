//! The simulated phones of `tether sim` and `tether demo` as a user drives them: phone 0 is the
//! account a companion links to, phones 1… are its contacts. A contact's phone writes to the
//! account (what a bot receives), any phone writes to anyone, and what each phone's
//! application received can be listed or watched as it arrives. Shared by the HTTP control
//! interface, stdin and the demo.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tether_core::binary::Jid;
use tether_core::messaging::recipient::parse_recipient;
use tether_sim::net::SimServer;

use crate::output::who;

/// The phones, as JSON (`index`, `phone_number`, `lid_user`, `push_name`).
pub(crate) fn phones_json(server: &SimServer) -> Value {
    json!(server.phones())
}

/// The account the companions link to (phone 0), as a user JID.
pub(crate) fn account(server: &SimServer) -> Option<Jid> {
    let phones = server.phones();
    let first = phones.first()?;
    parse_recipient(&first.phone_number).ok()
}

/// Phone `phone` writes `text` to `to` (a phone number or JID; default: the account of phone
/// 0, i.e. the linked companions). Returns the message id.
pub(crate) fn send(
    server: &SimServer,
    phone: usize,
    to: Option<&str>,
    text: &str,
) -> Result<(String, Jid), String> {
    let to = match to {
        Some(t) => parse_recipient(t).map_err(|e| e.to_string())?,
        None => account(server).ok_or("the simulator has no phone 0")?,
    };
    let id = server
        .send_text(phone, &to, text)
        .map_err(|e| e.to_string())?;
    Ok((id, to))
}

/// Phone `phone` sends `content` as a document named `name` to `to` (default: phone 0's
/// account), stored on the sim's media host. Returns the message id.
pub(crate) fn send_document(
    server: &SimServer,
    phone: usize,
    to: Option<&str>,
    name: &str,
    content: &[u8],
) -> Result<(String, Jid), String> {
    use tether_core::media::{MediaKind, MediaOptions};
    let to = match to {
        Some(t) => parse_recipient(t).map_err(|e| e.to_string())?,
        None => account(server).ok_or("the simulator has no phone 0")?,
    };
    let mut options = MediaOptions::default();
    options.file_name = Some(name.to_owned());
    let id = server
        .send_media(phone, &to, MediaKind::Document, content, &options)
        .map_err(|e| e.to_string())?;
    Ok((id, to))
}

/// The `media` of a received message as JSON: what it is and, fetched from the media host
/// and verified as a phone would, the SHA-256 of its content (or why it could not be).
fn media_json(server: &SimServer, media: &tether_core::media::MediaRef) -> Value {
    use sha2::Digest as _;
    let fetched = server.fetch_media(media);
    json!({
        "type": media.kind.map(|k| k.name()),
        "mimetype": media.mimetype,
        "file_name": media.file_name,
        "caption": media.caption,
        "size": media.file_length,
        "voice_note": media.voice_note,
        "animated": media.animated,
        "seconds": media.seconds,
        "sha256": fetched.as_ref().ok().map(|b| hex::encode(sha2::Sha256::digest(b))),
        "fetch_error": fetched.err().map(|e| e.to_string()),
    })
}

/// What phone `phone` received, as JSON (`id`, `chat`, `sender`, `from_me`, `text`, `media`,
/// `location`, `contact`, `t_ms`, `offline`).
pub(crate) fn received_json(server: &SimServer, phone: usize) -> Result<Value, String> {
    use prost::Message as _;
    use tether_control::events::{contact_json, location_json};
    let got = server.received(phone).map_err(|e| e.to_string())?;
    Ok(Value::Array(
        got.iter()
            .map(|r| {
                let content = tether_core::proto::message::Message::decode(r.content.as_ref()).ok();
                json!({
                    "id": r.id,
                    "chat": r.chat.to_string(),
                    "sender": r.sender.to_string(),
                    "from_me": r.from_me,
                    "text": r.text,
                    "media": r.media.as_deref().map(|m| media_json(server, m)),
                    "location": content.as_ref().map(location_json),
                    "contact": content.as_ref().map(contact_json),
                    "t_ms": r.t.saturating_mul(1000),
                    "offline": r.offline,
                })
            })
            .collect(),
    ))
}

/// Prints every message a phone receives, as it arrives (a line per message, from a thread
/// that looks every 200 ms).
pub(crate) fn watch(server: Arc<SimServer>, print: impl Fn(&str) + Send + 'static) {
    std::thread::spawn(move || {
        let mut seen = vec![0usize; server.phones().len()];
        loop {
            for (phone, count) in seen.iter_mut().enumerate() {
                let Ok(got) = server.received(phone) else {
                    continue;
                };
                for r in got.iter().skip(*count) {
                    let text = r.text.as_deref().unwrap_or("[a message without text]");
                    print(&format!(
                        "📱 phone {phone} received from {}: {text}",
                        who(&r.sender.to_string())
                    ));
                }
                *count = got.len().max(*count);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
}
