//! The requests of the control protocol and how they are read: one JSON object per line with
//! a `"cmd"`, an optional `"req"` (any JSON value, echoed in the answer so a client can match
//! answers to requests), and the command's own fields — unknown fields are refused by name, so
//! a typo never goes unnoticed. Three plain words are accepted too, as older `tether` commands
//! send them: `status`, `stop`, `backup PATH`.
//!
//! See `docs/CONTROL.md` for the whole protocol.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use tether_core::media::MediaKind;
use tether_core::messaging::chatstate::ChatState;

/// The longest request line accepted (bytes, newline included). Longer lines are refused and
/// the connection closed. The largest thing a request carries is a `send_contact`'s vCard
/// text (at most [`MAX_CARDS_TEXT`](tether_core::media::cards::MAX_CARDS_TEXT), 256 KiB),
/// which fits JSON-escaped with room to spare.
pub const MAX_LINE: usize = 512 * 1024;

/// One request.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Request {
    /// The instance's status (`{"status": …}`).
    Status,
    /// Shut the instance down gracefully.
    Stop,
    /// Write a consistent copy of the store to `path`.
    Backup {
        /// Where.
        path: PathBuf,
    },
    /// Stream events on this connection.
    Subscribe(Subscribe),
    /// Stop streaming events on this connection.
    Unsubscribe,
    /// Send a text message.
    Send(SendText),
    /// Upload a file and send it as an image, video, voice note, document or sticker.
    SendMedia(SendMedia),
    /// Send a location pin.
    SendLocation(SendLocation),
    /// Send a contact card (a vCard).
    SendContact(SendContact),
    /// React to a message.
    React(React),
    /// Mark messages read.
    Read(Read),
    /// A typing indicator.
    Typing {
        /// The chat.
        chat: String,
        /// What the user does.
        state: ChatState,
    },
    /// The account's presence.
    Presence {
        /// Online (`true`) or not.
        available: bool,
    },
    /// The consumer has handled these inbox positions.
    Confirm {
        /// Inbox positions.
        positions: Vec<u64>,
    },
    /// A group's metadata, from the server.
    GroupInfo {
        /// The group JID (`…@g.us`).
        group: String,
    },
    /// The groups this account is in, from the server.
    Groups,
}

/// `subscribe`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscribe {
    /// Replay the inbox from this position first (every entry, confirmed or not); without it,
    /// only events from now on.
    #[serde(default)]
    pub from: Option<u64>,
    /// Only these events (e.g. `["message", "receipt"]`); without it, all.
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

/// `send`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendText {
    /// The recipient: a phone number, a user JID, a LID or a group JID.
    pub to: String,
    /// The text.
    pub text: String,
    /// The id of the message this one replies to (quoted).
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Users mentioned (phone numbers or JIDs).
    #[serde(default)]
    pub mentions: Vec<String>,
    /// Answer after the server acknowledged the message (default), or at once with the id
    /// (`false`; the `sent`/`send_failed` event follows for subscribers).
    #[serde(default = "yes")]
    pub wait: bool,
}

/// `send_media`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendMedia {
    /// The recipient, as for `send`.
    pub to: String,
    /// `image`, `video`, `voice` (an Ogg/Opus voice note), `document` or `sticker` (a WebP
    /// file).
    pub kind: String,
    /// The file, as the running instance sees it (an absolute path is safest).
    pub path: PathBuf,
    /// The caption (not for `voice` or `sticker`).
    #[serde(default)]
    pub caption: Option<String>,
    /// The file name a `document` shows (default: the path's).
    #[serde(default)]
    pub file_name: Option<String>,
    /// The mimetype (default: by the file's extension, else its first bytes).
    #[serde(default)]
    pub mimetype: Option<String>,
    /// A `video` that plays silently in a loop, as a GIF.
    #[serde(default)]
    pub gif: bool,
    /// As for `send`.
    #[serde(default = "yes")]
    pub wait: bool,
}

/// `send_location`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendLocation {
    /// The recipient, as for `send`.
    pub to: String,
    /// Decimal degrees, -90..90.
    pub latitude: f64,
    /// Decimal degrees, -180..180.
    pub longitude: f64,
    /// The place's name, shown under the map.
    #[serde(default)]
    pub name: Option<String>,
    /// Its address.
    #[serde(default)]
    pub address: Option<String>,
    /// As for `send`.
    #[serde(default = "yes")]
    pub wait: bool,
}

/// `send_contact`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendContact {
    /// The recipient, as for `send`.
    pub to: String,
    /// The vCard text (`BEGIN:VCARD` … `END:VCARD`); several cards (a `.vcf` file's
    /// content) are sent as one contacts message.
    pub vcard: String,
    /// The name shown (default: the vCard's `FN`, or "N contacts" for several).
    #[serde(default)]
    pub display_name: Option<String>,
    /// As for `send`.
    #[serde(default = "yes")]
    pub wait: bool,
}

/// The `kind` words of `send_media`.
pub const MEDIA_KINDS: &str = "image, video, voice, document, sticker";

/// What the `kind` word of `send_media` (and of `tether send --KIND`) uploads as, and whether
/// it is a voice note; `None` for a word that is not one of [`MEDIA_KINDS`].
pub fn media_kind(word: &str) -> Option<(MediaKind, bool)> {
    match word {
        "image" => Some((MediaKind::Image, false)),
        "video" => Some((MediaKind::Video, false)),
        "voice" => Some((MediaKind::Audio, true)),
        "document" => Some((MediaKind::Document, false)),
        "sticker" => Some((MediaKind::Sticker, false)),
        _ => None,
    }
}

impl SendMedia {
    /// What `kind` uploads as, and whether it is a voice note (see [`media_kind`]).
    pub fn media_kind(&self) -> Option<(MediaKind, bool)> {
        media_kind(&self.kind)
    }
}

/// `react`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct React {
    /// The chat of the message.
    pub chat: String,
    /// The message id.
    pub id: String,
    /// The emoji; `""` removes an earlier reaction.
    pub emoji: String,
    /// The message was sent by this account.
    #[serde(default)]
    pub from_me: bool,
    /// Its sender, in a group.
    #[serde(default)]
    pub sender: Option<String>,
    /// As for `send`.
    #[serde(default = "yes")]
    pub wait: bool,
}

/// `read`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Read {
    /// The chat.
    pub chat: String,
    /// The message ids.
    pub ids: Vec<String>,
    /// Their sender, in a group.
    #[serde(default)]
    pub sender: Option<String>,
}

fn yes() -> bool {
    true
}

/// A request line that cannot be carried out as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRequest {
    /// The request's `req`, when it could be read.
    pub req: Value,
    /// What is wrong, and what to send instead.
    pub error: String,
}

/// The commands, for error messages.
const COMMANDS: &str = "status, subscribe, unsubscribe, send, send_media, send_location, \
    send_contact, react, read, typing, presence, confirm, group_info, groups, backup, stop";

/// The fields of a request as `T`. A field of the wrong type is named (serde alone says only
/// "invalid type: string \"x\", expected f64"); a missing or unknown field names itself.
fn typed<T: serde::de::DeserializeOwned>(fields: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(fields).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.inner().to_string()
        } else {
            format!("field {path:?}: {}", e.inner())
        }
    })
}

impl Request {
    /// Reads one request line: its `req` (`null` when absent) and the request.
    pub fn parse(line: &str) -> Result<(Value, Self), BadRequest> {
        let line = line.trim();
        if !line.starts_with('{') {
            return Self::parse_word(line).map(|r| (Value::Null, r));
        }
        let mut map: Map<String, Value> = serde_json::from_str(line).map_err(|e| BadRequest {
            req: Value::Null,
            error: format!("the line is not a JSON object ({e}); send one object per line"),
        })?;
        let req = map.remove("req").unwrap_or(Value::Null);
        let bad = |error: String| BadRequest {
            req: req.clone(),
            error,
        };
        let Some(Value::String(cmd)) = map.remove("cmd") else {
            return Err(bad(format!(
                "every request needs \"cmd\" (one of: {COMMANDS})"
            )));
        };
        let rest = Value::Object(map);
        let fields = |e: String| bad(format!("{cmd}: {e}"));
        let none = |rest: &Value| match rest.as_object().and_then(|m| m.keys().next()) {
            Some(k) => Err(bad(format!("{cmd} takes no field {k:?}"))),
            None => Ok(()),
        };
        let request = match cmd.as_str() {
            "status" => none(&rest).map(|()| Self::Status)?,
            "stop" => none(&rest).map(|()| Self::Stop)?,
            "unsubscribe" => none(&rest).map(|()| Self::Unsubscribe)?,
            "groups" => none(&rest).map(|()| Self::Groups)?,
            "group_info" => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct GroupInfo {
                    group: String,
                }
                let g: GroupInfo = typed(rest).map_err(fields)?;
                Self::GroupInfo { group: g.group }
            }
            "backup" => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Backup {
                    path: PathBuf,
                }
                let b: Backup = typed(rest).map_err(fields)?;
                Self::Backup { path: b.path }
            }
            "subscribe" => Self::Subscribe(typed(rest).map_err(fields)?),
            "send" => Self::Send(typed(rest).map_err(fields)?),
            "send_media" => {
                let m: SendMedia = typed(rest).map_err(fields)?;
                if m.media_kind().is_none() {
                    return Err(bad(format!(
                        "send_media: kind {:?} is not one of {MEDIA_KINDS}",
                        shorten(&m.kind)
                    )));
                }
                let captionless = match m.kind.as_str() {
                    "voice" => Some("a voice note"),
                    "sticker" => Some("a sticker"),
                    _ => None,
                };
                if let (Some(what), Some(_)) = (captionless, &m.caption) {
                    return Err(bad(format!(
                        "send_media: {what} has no caption; drop \"caption\""
                    )));
                }
                if m.kind == "sticker" && m.mimetype.is_some() {
                    return Err(bad(
                        "send_media: a sticker is always image/webp; drop \"mimetype\"".into(),
                    ));
                }
                if m.gif && m.kind != "video" {
                    return Err(bad(
                        "send_media: only a video plays as a GIF; drop \"gif\" or send a video"
                            .into(),
                    ));
                }
                if m.file_name.is_some() && m.kind != "document" {
                    return Err(bad(
                        "send_media: only a document shows a file name; drop \"file_name\"".into(),
                    ));
                }
                Self::SendMedia(m)
            }
            "send_location" => Self::SendLocation(typed(rest).map_err(fields)?),
            "send_contact" => Self::SendContact(typed(rest).map_err(fields)?),
            "react" => Self::React(typed(rest).map_err(fields)?),
            "read" => Self::Read(typed(rest).map_err(fields)?),
            "typing" => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Typing {
                    chat: String,
                    state: String,
                }
                let t: Typing = typed(rest).map_err(fields)?;
                let state = ChatState::from_name(&t.state).ok_or_else(|| {
                    bad(format!(
                        "typing: state {:?} is not one of composing, recording, paused",
                        t.state
                    ))
                })?;
                Self::Typing {
                    chat: t.chat,
                    state,
                }
            }
            "presence" => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Presence {
                    available: bool,
                }
                let p: Presence = typed(rest).map_err(fields)?;
                Self::Presence {
                    available: p.available,
                }
            }
            "confirm" => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Confirm {
                    positions: Vec<u64>,
                }
                let c: Confirm = typed(rest).map_err(fields)?;
                Self::Confirm {
                    positions: c.positions,
                }
            }
            other => {
                return Err(bad(format!(
                    "unknown command {other:?}; the commands are: {COMMANDS}"
                )));
            }
        };
        Ok((req, request))
    }

    /// The plain-word forms older clients send.
    fn parse_word(line: &str) -> Result<Self, BadRequest> {
        match line.split_once(' ') {
            None if line == "status" => Ok(Self::Status),
            None if line == "stop" => Ok(Self::Stop),
            Some(("backup", path)) if !path.trim().is_empty() => Ok(Self::Backup {
                path: PathBuf::from(path.trim()),
            }),
            _ => Err(BadRequest {
                req: Value::Null,
                error: format!(
                    "unknown control request {:?}: send one JSON object per line, e.g. \
                     {{\"cmd\":\"status\"}} (the commands are: {COMMANDS})",
                    shorten(line)
                ),
            }),
        }
    }

    /// The request as a JSON line (what [`crate::client`] sends).
    pub fn to_line(&self, req: &Value) -> String {
        let mut v = match self {
            Self::Status => json!({"cmd": "status"}),
            Self::Stop => json!({"cmd": "stop"}),
            Self::Unsubscribe => json!({"cmd": "unsubscribe"}),
            Self::Backup { path } => json!({"cmd": "backup", "path": path}),
            Self::Subscribe(s) => json!({"cmd": "subscribe", "from": s.from, "events": s.events}),
            Self::Send(s) => json!({
                "cmd": "send", "to": s.to, "text": s.text, "reply_to": s.reply_to,
                "mentions": s.mentions, "wait": s.wait,
            }),
            Self::SendMedia(m) => json!({
                "cmd": "send_media", "to": m.to, "kind": m.kind, "path": m.path,
                "caption": m.caption, "file_name": m.file_name, "mimetype": m.mimetype,
                "gif": m.gif, "wait": m.wait,
            }),
            Self::SendLocation(l) => json!({
                "cmd": "send_location", "to": l.to, "latitude": l.latitude,
                "longitude": l.longitude, "name": l.name, "address": l.address, "wait": l.wait,
            }),
            Self::SendContact(c) => json!({
                "cmd": "send_contact", "to": c.to, "vcard": c.vcard,
                "display_name": c.display_name, "wait": c.wait,
            }),
            Self::React(r) => json!({
                "cmd": "react", "chat": r.chat, "id": r.id, "emoji": r.emoji,
                "from_me": r.from_me, "sender": r.sender, "wait": r.wait,
            }),
            Self::Read(r) => {
                json!({"cmd": "read", "chat": r.chat, "ids": r.ids, "sender": r.sender})
            }
            Self::Typing { chat, state } => {
                json!({"cmd": "typing", "chat": chat, "state": state.name()})
            }
            Self::Presence { available } => json!({"cmd": "presence", "available": available}),
            Self::Confirm { positions } => json!({"cmd": "confirm", "positions": positions}),
            Self::GroupInfo { group } => json!({"cmd": "group_info", "group": group}),
            Self::Groups => json!({"cmd": "groups"}),
        };
        if let Some(map) = v.as_object_mut() {
            map.retain(|_, value| !value.is_null());
            if !req.is_null() {
                map.insert("req".into(), req.clone());
            }
        }
        v.to_string()
    }

    /// The command's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Stop => "stop",
            Self::Backup { .. } => "backup",
            Self::Subscribe(_) => "subscribe",
            Self::Unsubscribe => "unsubscribe",
            Self::Send(_) => "send",
            Self::SendMedia(_) => "send_media",
            Self::SendLocation(_) => "send_location",
            Self::SendContact(_) => "send_contact",
            Self::React(_) => "react",
            Self::Read(_) => "read",
            Self::Typing { .. } => "typing",
            Self::Presence { .. } => "presence",
            Self::Confirm { .. } => "confirm",
            Self::GroupInfo { .. } => "group_info",
            Self::Groups => "groups",
        }
    }
}

/// At most 80 characters of untrusted text, for an error message.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_command_parses_and_round_trips_through_its_line() {
        let lines = [
            r#"{"cmd":"status"}"#,
            r#"{"cmd":"stop","req":1}"#,
            r#"{"cmd":"backup","path":"/tmp/b.redb"}"#,
            r#"{"cmd":"subscribe","from":12,"events":["message"]}"#,
            r#"{"cmd":"subscribe"}"#,
            r#"{"cmd":"unsubscribe"}"#,
            r#"{"cmd":"send","to":"+15551234567","text":"hi","reply_to":"3EB0AA","mentions":["15550001111"],"req":"a"}"#,
            r#"{"cmd":"send","to":"15551234567","text":"hi","wait":false}"#,
            r#"{"cmd":"send_media","to":"15551234567","kind":"document","path":"/tmp/r.pdf","caption":"the report"}"#,
            r#"{"cmd":"send_media","to":"15551234567","kind":"voice","path":"/tmp/n.ogg","wait":false}"#,
            r#"{"cmd":"send_media","to":"15551234567","kind":"sticker","path":"/tmp/s.webp"}"#,
            r#"{"cmd":"send_location","to":"15551234567","latitude":-33.856784,"longitude":151.215297,"name":"Opera House"}"#,
            r#"{"cmd":"send_contact","to":"15551234567","vcard":"BEGIN:VCARD\nFN:Ada\nEND:VCARD","wait":false}"#,
            r#"{"cmd":"react","chat":"15551234567@s.whatsapp.net","id":"X","emoji":"👍"}"#,
            r#"{"cmd":"read","chat":"15551234567@s.whatsapp.net","ids":["X","Y"]}"#,
            r#"{"cmd":"typing","chat":"15551234567","state":"recording"}"#,
            r#"{"cmd":"presence","available":false}"#,
            r#"{"cmd":"confirm","positions":[1,2,5]}"#,
        ];
        for line in lines {
            let (req, request) = Request::parse(line).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            let (req2, again) = Request::parse(&request.to_line(&req)).unwrap();
            assert_eq!((req, request), (req2, again), "{line}");
        }
        let (req, r) = Request::parse(lines[6]).unwrap();
        assert_eq!(req, json!("a"));
        match r {
            Request::Send(s) => {
                assert_eq!(s.reply_to.as_deref(), Some("3EB0AA"));
                assert!(s.wait, "send waits for the ack by default");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_plain_words_of_older_clients() {
        assert_eq!(Request::parse("status\n").unwrap().1, Request::Status);
        assert_eq!(Request::parse("stop").unwrap().1, Request::Stop);
        assert_eq!(
            Request::parse("backup /tmp/b.redb").unwrap().1,
            Request::Backup {
                path: PathBuf::from("/tmp/b.redb")
            }
        );
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            ("rm -rf /", "unknown control request"),
            ("{not json", "not a JSON object"),
            (r#"{"req":4}"#, "needs \"cmd\""),
            (r#"{"cmd":"dance"}"#, "unknown command \"dance\""),
            (r#"{"cmd":"send","to":"1","txt":"hi"}"#, "txt"),
            (r#"{"cmd":"send","to":"1"}"#, "text"),
            (r#"{"cmd":"status","verbose":true}"#, "verbose"),
            (
                r#"{"cmd":"typing","chat":"1","state":"dancing"}"#,
                "dancing",
            ),
            (r#"{"cmd":"confirm","positions":[-1]}"#, "confirm"),
            (
                r#"{"cmd":"send_media","to":"1","kind":"gif","path":"/a"}"#,
                "kind \"gif\" is not one of image, video",
            ),
            (
                r#"{"cmd":"send_media","to":"1","kind":"voice","path":"/a","caption":"x"}"#,
                "no caption",
            ),
            (
                r#"{"cmd":"send_media","to":"1","kind":"sticker","path":"/a","caption":"x"}"#,
                "a sticker has no caption",
            ),
            (
                r#"{"cmd":"send_media","to":"1","kind":"sticker","path":"/a","mimetype":"image/png"}"#,
                "always image/webp",
            ),
            (r#"{"cmd":"send_media","to":"1","kind":"image"}"#, "path"),
            (
                r#"{"cmd":"send_location","to":"1","latitude":1}"#,
                "longitude",
            ),
            (
                r#"{"cmd":"send_location","to":"1","latitude":"x","longitude":1}"#,
                "send_location: field \"latitude\": invalid type: string \"x\", expected f64",
            ),
            (r#"{"cmd":"send_contact","to":"1","card":"x"}"#, "card"),
            (
                r#"{"cmd":"send_media","to":"1","kind":"image","path":"/a","gif":true}"#,
                "only a video plays as a GIF",
            ),
            (
                r#"{"cmd":"send_media","to":"1","kind":"video","path":"/a","file_name":"a"}"#,
                "only a document shows a file name",
            ),
        ];
        for (line, needle) in cases {
            let e = Request::parse(line).unwrap_err();
            assert!(e.error.contains(needle), "{line}: {}", e.error);
        }
        assert_eq!(
            Request::parse(r#"{"cmd":"dance","req":"r7"}"#)
                .unwrap_err()
                .req,
            json!("r7"),
            "the req is echoed even when the request is refused"
        );
    }
}
