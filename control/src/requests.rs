//! What the socket's requests become: the messages a `send`, `send_media`, `send_location`,
//! `send_contact` or `react` sends and the command a `read` runs, built from the request's
//! fields — and the typed [`Refusal`] an answer carries when a request cannot be served.
//!
//! ```text
//! request ─▶ compose_send / media_of (upload first) / card_of / reaction_of ─▶ (to, Message)
//!         ─▶ read_command ─▶ Command::MarkRead
//!         any failure (and ClientError, MessagingError, GroupQueryError) ─▶ Refusal{code, error}
//! ```

use std::path::Path;

use serde_json::{Value, json};
use tether_core::binary::Jid;
use tether_core::connection::Command;
use tether_core::driver::{ClientError, MessagingError};
use tether_core::media::cards;
use tether_core::messaging::compose::{Quoted, ReactionTarget, Text, reaction};
use tether_core::messaging::ids::MessageId;
use tether_core::messaging::recipient::parse_recipient;
use tether_core::proto::message::Message;
use tether_net_common::groups::GroupQueryError;

use crate::events::send_error_kind;
use crate::hub::Hub;

/// An error answer: a stable `code` and a message saying what to do.
#[derive(Debug)]
pub(crate) struct Refusal {
    /// Stable, for programs: `invalid_recipient`, `bad_request`, `busy`, ….
    pub(crate) code: &'static str,
    /// For people: what happened and what to do.
    pub(crate) error: String,
    /// More fields for the answer (`Value::Null`: none).
    pub(crate) extra: Value,
}

impl Refusal {
    /// A refusal with no extra fields.
    pub(crate) fn new(code: &'static str, error: impl Into<String>) -> Self {
        Self {
            code,
            error: error.into(),
            extra: Value::Null,
        }
    }
}

impl From<ClientError> for Refusal {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Ended => Self::new("ended", e.to_string()),
            other => Self::new("refused", other.to_string()),
        }
    }
}

impl From<MessagingError> for Refusal {
    fn from(e: MessagingError) -> Self {
        match e {
            MessagingError::Recipient(r) => Self::new("invalid_recipient", r.to_string()),
            MessagingError::Client(c) => c.into(),
            MessagingError::Failed { ref id, ref reason } => {
                let (kind, code) = send_error_kind(reason);
                Self {
                    code: "send_failed",
                    error: e.to_string(),
                    extra: json!({"id": id.as_str(), "reason": kind, "nack": code}),
                }
            }
            MessagingError::Unanswered { ref id } => Self {
                code: "unanswered",
                error: e.to_string(),
                extra: json!({"id": id.as_str()}),
            },
            other => Self::new("failed", other.to_string()),
        }
    }
}

impl From<GroupQueryError> for Refusal {
    fn from(e: GroupQueryError) -> Self {
        match e {
            GroupQueryError::NotAGroup(_) | GroupQueryError::Recipient(_) => {
                Self::new("invalid_recipient", e.to_string())
            }
            GroupQueryError::Client(c) => c.into(),
            GroupQueryError::Refused { ref group, .. } => Self {
                code: "group_refused",
                error: e.to_string(),
                extra: json!({"group": group.to_string()}),
            },
            GroupQueryError::Unanswered => Self::new("unanswered", e.to_string()),
            other => Self::new("failed", other.to_string()),
        }
    }
}

/// The recipient and content of a `send` request: the text, a quote of `reply_to` (the
/// message itself when `hub` has seen it, else by id — in a 1:1 chat the other user wrote
/// it) and the mentions.
pub fn compose_send(
    s: &crate::protocol::SendText,
    hub: Option<&Hub>,
) -> Result<(Jid, Message), tether_core::messaging::recipient::RecipientError> {
    let to = parse_recipient(&s.to)?;
    let mut text = Text::new(s.text.clone());
    if let Some(id) = &s.reply_to {
        text = text.reply_to(match hub.and_then(|h| h.recent(id)) {
            Some(original) => Quoted::of(&original),
            None => {
                let quoted = Quoted::id(MessageId(id.clone()));
                if *to.server() == tether_core::binary::Server::Group {
                    quoted
                } else {
                    quoted.sender(to.clone())
                }
            }
        });
    }
    for m in &s.mentions {
        text = text.mention(parse_recipient(m)?);
    }
    Ok((to, text.build()))
}

/// The recipient and content of a `send_media`: the file uploaded, then its media message.
pub(crate) fn media_of(
    m: &crate::protocol::SendMedia,
    backend: &dyn crate::server::Backend,
) -> Result<(Jid, Message), Refusal> {
    let to =
        parse_recipient(&m.to).map_err(|e| Refusal::new("invalid_recipient", e.to_string()))?;
    let (kind, voice_note) = m.media_kind().ok_or_else(|| {
        Refusal::new(
            "bad_request",
            format!(
                "send_media: kind {:?} is not one of {}",
                m.kind,
                crate::protocol::MEDIA_KINDS
            ),
        )
    })?;
    if let Some(problem) = sticker_problem(kind, &m.path) {
        return Err(Refusal::new(
            "bad_request",
            format!("send_media: {problem}"),
        ));
    }
    let mut options = if voice_note {
        tether_net_common::media_client::voice_note_options(&m.path)
    } else {
        tether_net_common::media_client::options_for(kind, &m.path, m.caption.as_deref())
    };
    if m.file_name.is_some() {
        options.file_name.clone_from(&m.file_name);
    }
    if m.mimetype.is_some() {
        options.mimetype.clone_from(&m.mimetype);
    }
    options.gif = m.gif;
    // With the `thumbnails` feature: an image's JPEG thumbnail and size.
    tether_net_common::media_source::fill_options_for_path(kind, &m.path, &mut options);
    let upload = backend.upload(kind, &m.path).map_err(|e| {
        Refusal::new(
            "media_failed",
            format!("cannot send {}: {e}; nothing was sent", m.path.display()),
        )
    })?;
    let unix = tether_net_common::media_client::unix_now();
    Ok((
        to,
        tether_core::media::media_message(&upload, &options, unix),
    ))
}

/// Why the file at `path` cannot go as a `kind` sticker: a readable file that is not WebP (the
/// apps show nothing for one). `None` for other kinds, and for a file that cannot be read (its
/// upload says why).
pub fn sticker_problem(kind: tether_core::media::MediaKind, path: &Path) -> Option<String> {
    (kind == tether_core::media::MediaKind::Sticker
        && path.is_file()
        && !tether_net_common::media_source::is_webp_file(path))
    .then(|| {
        format!(
            "{} is not a WebP image; a sticker must be WebP (convert it first, e.g. `cwebp`), \
             or send it as an image",
            path.display()
        )
    })
}

/// The recipient and content of a `send_location` or `send_contact`: a card that cannot be
/// sent as given is a `bad_request`.
pub(crate) fn card_of(
    to: &str,
    built: Result<Message, cards::CardError>,
) -> Result<(Jid, Message), Refusal> {
    let to = parse_recipient(to).map_err(|e| Refusal::new("invalid_recipient", e.to_string()))?;
    let message = built.map_err(|e| Refusal::new("bad_request", e.to_string()))?;
    Ok((to, message))
}

/// The chat and content of a `react`.
pub(crate) fn reaction_of(r: &crate::protocol::React) -> Result<(Jid, Message), Refusal> {
    let invalid = |e: tether_core::messaging::recipient::RecipientError| {
        Refusal::new("invalid_recipient", e.to_string())
    };
    let chat = parse_recipient(&r.chat).map_err(invalid)?;
    let mut target = ReactionTarget::new(chat.clone(), MessageId(r.id.clone()), r.from_me);
    target.sender = r
        .sender
        .as_deref()
        .map(parse_recipient)
        .transpose()
        .map_err(invalid)?;
    Ok((
        chat,
        reaction(&target, &r.emoji, tether_net_common::sends::unix_ms()),
    ))
}

/// The `MarkRead` of a `read`.
pub(crate) fn read_command(r: &crate::protocol::Read) -> Result<Command, Refusal> {
    let invalid = |e: tether_core::messaging::recipient::RecipientError| {
        Refusal::new("invalid_recipient", e.to_string())
    };
    if r.ids.is_empty() {
        return Err(Refusal::new("bad_request", "read: give at least one id"));
    }
    let chat = parse_recipient(&r.chat).map_err(invalid)?;
    let group = *chat.server() == tether_core::binary::Server::Group;
    let participant = r
        .sender
        .as_deref()
        .map(parse_recipient)
        .transpose()
        .map_err(invalid)?
        .filter(|_| group);
    Ok(Command::MarkRead {
        chat,
        participant,
        ids: r.ids.iter().map(|i| MessageId(i.clone())).collect(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_reply_by_id_to_an_unseen_message_quotes_the_chat_user() {
        let hub = Hub::new();
        let s = crate::protocol::SendText {
            to: "+15551234567".into(),
            text: "sure".into(),
            reply_to: Some("3EB0QQ".into()),
            mentions: vec!["15550001111".into()],
            wait: true,
        };
        let (to, m) = compose_send(&s, Some(&hub)).unwrap();
        assert_eq!(to.to_string(), "15551234567@s.whatsapp.net");
        let ctx = m.context_info().unwrap();
        assert_eq!(ctx.stanza_id.as_deref(), Some("3EB0QQ"));
        assert_eq!(
            ctx.participant.as_deref(),
            Some("15551234567@s.whatsapp.net")
        );
        assert_eq!(ctx.mentioned_jid, vec!["15550001111@s.whatsapp.net"]);
        let bad = crate::protocol::SendText {
            to: "alice".into(),
            ..s
        };
        assert!(matches!(
            compose_send(&bad, Some(&hub)),
            Err(tether_core::messaging::recipient::RecipientError::NotAPhoneNumber { .. })
        ));
    }
}
