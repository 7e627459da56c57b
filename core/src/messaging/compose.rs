//! Building message content the way the official clients shape it (`messaging.md` §5.1;
//! whatsmeow's and Baileys' message builders for the facts): plain text, a reply that quotes
//! another message, mentions, and reactions.
//!
//! ```text
//!  Text::new(t)                          → Message{conversation: t}
//!  Text::new(t).reply_to(q) / .mention(u) → Message{extendedTextMessage{text: t, contextInfo{
//!                                              stanzaId: q.id, participant: q.sender (user),
//!                                              quotedMessage: q's content (unwrapped, without
//!                                              its own context), remoteJid: q.chat if another
//!                                              chat, mentionedJid: [u…]}}}
//!  reaction(target, "👍", ms)            → Message{reactionMessage{key{remoteJid: chat, fromMe,
//!                                              id, participant (groups)}, text, senderTimestampMs}}
//! ```
//!
//! Everything here is pure: the caller passes the time a reaction is sent.

use crate::binary::{Jid, Server};
use crate::messaging::ids::MessageId;
use crate::messaging::types::IncomingMessage;
use crate::proto::message::{
    ContextInfo, ExtendedTextMessage, Message, MessageKey, ReactionMessage,
};

/// The message a reply quotes.
#[derive(Clone, PartialEq)]
pub struct Quoted {
    /// The quoted message's id.
    pub id: MessageId,
    /// Who sent it (any device JID: the user is what goes on the wire). `None` when unknown;
    /// official clients then look the message up by id alone.
    pub sender: Option<Jid>,
    /// The chat it was in, when that is not the chat the reply goes to (a private reply to a
    /// group message).
    pub chat: Option<Jid>,
    /// Its content, shown above the reply; `None` when unknown.
    pub message: Option<Message>,
}

impl std::fmt::Debug for Quoted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quoted")
            .field("id", &self.id)
            .field("sender", &self.sender)
            .field("chat", &self.chat)
            .field("has_content", &self.message.is_some())
            .finish()
    }
}

impl Quoted {
    /// Quotes a received message (its id, sender and content) in a reply to the same chat.
    pub fn of(message: &IncomingMessage) -> Self {
        Self {
            id: message.id.clone(),
            sender: Some(message.sender.clone()),
            chat: None,
            message: Some(message.message.clone()),
        }
    }

    /// Quotes a message known only by its id (the quote shows no preview unless the reader's
    /// client has the message).
    pub fn id(id: impl Into<MessageId>) -> Self {
        Self {
            id: id.into(),
            sender: None,
            chat: None,
            message: None,
        }
    }

    /// Who sent the quoted message.
    #[must_use]
    pub fn sender(mut self, sender: Jid) -> Self {
        self.sender = Some(sender);
        self
    }

    /// The chat the quoted message was in, when the reply goes elsewhere.
    #[must_use]
    pub fn in_chat(mut self, chat: Jid) -> Self {
        self.chat = Some(chat);
        self
    }

    /// The quoted message's content.
    #[must_use]
    pub fn content(mut self, message: Message) -> Self {
        self.message = Some(message);
        self
    }
}

impl From<&IncomingMessage> for Quoted {
    fn from(message: &IncomingMessage) -> Self {
        Self::of(message)
    }
}

impl From<MessageId> for Quoted {
    fn from(id: MessageId) -> Self {
        Self::id(id)
    }
}

/// A text message, optionally replying to another and mentioning users.
#[derive(Clone, PartialEq, Default)]
pub struct Text {
    text: String,
    quote: Option<Quoted>,
    mentions: Vec<Jid>,
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Text")
            .field("len", &self.text.len())
            .field("quote", &self.quote)
            .field("mentions", &self.mentions)
            .finish()
    }
}

impl Text {
    /// A text message.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    /// Makes it a reply quoting `quoted` (an [`IncomingMessage`], a [`MessageId`] or a
    /// [`Quoted`]).
    #[must_use]
    pub fn reply_to(mut self, quoted: impl Into<Quoted>) -> Self {
        self.quote = Some(quoted.into());
        self
    }

    /// Mentions a user (the text normally contains `@` and the user's number too, which is
    /// how the official clients show the mention).
    #[must_use]
    pub fn mention(mut self, user: Jid) -> Self {
        let user = user.to_non_ad();
        if !self.mentions.contains(&user) {
            self.mentions.push(user);
        }
        self
    }

    /// Mentions every user of `users`.
    #[must_use]
    pub fn mentions(self, users: impl IntoIterator<Item = Jid>) -> Self {
        users.into_iter().fold(self, Self::mention)
    }

    /// The message: `conversation` for plain text, `extendedTextMessage` with a
    /// `contextInfo` for a reply or mentions.
    pub fn build(self) -> Message {
        if self.quote.is_none() && self.mentions.is_empty() {
            return Message::text(self.text);
        }
        let mut context = ContextInfo {
            mentioned_jid: self.mentions.iter().map(ToString::to_string).collect(),
            ..ContextInfo::default()
        };
        if let Some(q) = self.quote {
            context.stanza_id = Some(q.id.0);
            context.participant = q.sender.map(|s| s.to_non_ad().to_string());
            context.remote_jid = q.chat.map(|c| c.to_non_ad().to_string());
            context.quoted_message = q.message.as_ref().map(quotable).map(Box::new);
        }
        Message {
            extended_text_message: Some(Box::new(ExtendedTextMessage {
                text: Some(self.text),
                context_info: Some(Box::new(context)),
            })),
            ..Message::default()
        }
    }
}

impl From<Text> for Message {
    fn from(text: Text) -> Self {
        text.build()
    }
}

/// A quoted message's content as a reply carries it: unwrapped (ephemeral, view-once, edit
/// wrappers), without the fields that describe its own sending (sender keys, device-sent copy,
/// message secret) and without its own quote and mentions, so quotes never nest.
fn quotable(message: &Message) -> Message {
    let mut m = message.unwrapped().clone();
    m.sender_key_distribution_message = None;
    m.device_sent_message = None;
    m.message_context_info = None;
    if let Some(ext) = m.extended_text_message.as_mut() {
        ext.context_info = None;
    }
    m
}

/// The message a reaction is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReactionTarget {
    /// The chat it is in.
    pub chat: Jid,
    /// Its id.
    pub id: MessageId,
    /// Whether this account sent it.
    pub from_me: bool,
    /// Its sender, in a group (the key's `participant`); ignored in 1:1 chats.
    pub sender: Option<Jid>,
}

impl ReactionTarget {
    /// A received message.
    pub fn of(message: &IncomingMessage) -> Self {
        Self {
            chat: message.chat.clone(),
            id: message.id.clone(),
            from_me: message.from_me,
            sender: Some(message.sender.clone()),
        }
    }

    /// A message in `chat` known by its id; `from_me`: this account sent it.
    pub fn new(chat: Jid, id: impl Into<MessageId>, from_me: bool) -> Self {
        Self {
            chat,
            id: id.into(),
            from_me,
            sender: None,
        }
    }
}

impl From<&IncomingMessage> for ReactionTarget {
    fn from(message: &IncomingMessage) -> Self {
        Self::of(message)
    }
}

/// A reaction to `target` with `emoji` (an empty `emoji` removes an earlier reaction), sent at
/// `sent_at_ms` (Unix milliseconds). It goes to the target's chat.
pub fn reaction(target: &ReactionTarget, emoji: &str, sent_at_ms: i64) -> Message {
    let group = *target.chat.server() == Server::Group;
    Message {
        reaction_message: Some(ReactionMessage {
            key: Some(MessageKey {
                remote_jid: Some(target.chat.to_non_ad().to_string()),
                from_me: Some(target.from_me),
                id: Some(target.id.0.clone()),
                participant: target
                    .sender
                    .as_ref()
                    .filter(|_| group && !target.from_me)
                    .map(|s| s.to_non_ad().to_string()),
            }),
            text: Some(emoji.to_owned()),
            grouping_key: None,
            sender_timestamp_ms: Some(sent_at_ms),
        }),
        ..Message::default()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use prost::Message as _;

    use super::*;
    use crate::messaging::types::InboxPos;
    use crate::proto::message::FutureProofMessage;

    fn jid(s: &str) -> Jid {
        s.parse().unwrap()
    }

    fn incoming(id: &str, message: Message) -> IncomingMessage {
        IncomingMessage {
            inbox: InboxPos(7),
            id: MessageId(id.into()),
            chat: jid("15550001111@s.whatsapp.net"),
            sender: jid("15550001111:3@s.whatsapp.net"),
            sender_alt: None,
            from_me: false,
            timestamp: 1_800_000_000,
            push_name: Some("Ann".into()),
            offline: false,
            message_type: "text".into(),
            raw: Bytes::from(message.encode_to_vec()),
            message,
            replayed: false,
        }
    }

    /// Encodes and decodes, as the receiver sees it.
    fn wire(m: Message) -> Message {
        Message::decode(m.encode_to_vec().as_slice()).unwrap()
    }

    #[test]
    fn plain_text_is_a_conversation() {
        let m = wire(Text::new("hello").build());
        assert_eq!(m.conversation.as_deref(), Some("hello"));
        assert!(m.extended_text_message.is_none());
    }

    #[test]
    fn a_reply_quotes_id_sender_user_and_content_and_reads_back() {
        let original = incoming("3EB0AAAA", Message::text("how are you?"));
        let m = wire(Text::new("fine").reply_to(&original).build());
        assert_eq!(m.text_content(), Some("fine"));
        let ctx = m.context_info().unwrap();
        assert_eq!(ctx.stanza_id.as_deref(), Some("3EB0AAAA"));
        assert_eq!(
            ctx.participant.as_deref(),
            Some("15550001111@s.whatsapp.net")
        );
        assert_eq!(ctx.remote_jid, None);
        assert_eq!(
            ctx.quoted_message
                .as_deref()
                .and_then(Message::text_content),
            Some("how are you?")
        );
        // The receiving side's helper sees the same quote.
        let received = incoming("3EB0BBBB", m);
        let quote = received.quoted().unwrap();
        assert_eq!(quote.id, MessageId("3EB0AAAA".into()));
        assert_eq!(quote.text.as_deref(), Some("how are you?"));
    }

    #[test]
    fn quotes_never_nest_and_wrappers_are_removed() {
        let first = Text::new("one")
            .mention(jid("15552223333@s.whatsapp.net"))
            .build();
        let wrapped = Message {
            ephemeral_message: Some(Box::new(FutureProofMessage {
                message: Some(Box::new(
                    Text::new("two").reply_to(MessageId("X".into())).build(),
                )),
            })),
            ..Message::default()
        };
        for content in [first, wrapped] {
            let m = Text::new("reply")
                .reply_to(Quoted::id(MessageId("Q".into())).content(content))
                .build();
            let quoted = m.context_info().unwrap().quoted_message.as_deref().unwrap();
            assert!(quoted.ephemeral_message.is_none());
            assert!(quoted.context_info().is_none(), "{quoted:?}");
        }
    }

    #[test]
    fn a_quote_by_id_alone_and_in_another_chat() {
        let m = Text::new("about that")
            .reply_to(
                Quoted::id(MessageId("ID1".into()))
                    .sender(jid("15559998888:5@s.whatsapp.net"))
                    .in_chat(jid("120363000000000001@g.us")),
            )
            .build();
        let ctx = m.context_info().unwrap();
        assert_eq!(ctx.stanza_id.as_deref(), Some("ID1"));
        assert_eq!(
            ctx.participant.as_deref(),
            Some("15559998888@s.whatsapp.net")
        );
        assert_eq!(ctx.remote_jid.as_deref(), Some("120363000000000001@g.us"));
        assert!(ctx.quoted_message.is_none());
    }

    #[test]
    fn mentions_are_users_once_each_and_read_back() {
        let ann = jid("15550001111:2@s.whatsapp.net");
        let bob = jid("123456789012345@lid");
        let m = wire(
            Text::new("hi @15550001111 and @123456789012345")
                .mentions([ann.clone(), bob.clone(), ann.to_non_ad()])
                .build(),
        );
        let received = incoming("3EB0CCCC", m);
        assert_eq!(received.mentions(), vec![ann.to_non_ad(), bob]);
        assert!(received.quoted().is_none());
    }

    #[test]
    fn reactions_name_the_message_and_read_back() {
        let original = incoming("3EB0DDDD", Message::text("lunch?"));
        let m = wire(reaction(
            &ReactionTarget::of(&original),
            "👍",
            1_800_000_000_123,
        ));
        let r = m.reaction_message.as_ref().unwrap();
        let key = r.key.as_ref().unwrap();
        assert_eq!(
            key.remote_jid.as_deref(),
            Some("15550001111@s.whatsapp.net")
        );
        assert_eq!(key.from_me, Some(false));
        assert_eq!(key.participant, None, "1:1 reactions carry no participant");
        assert_eq!(r.sender_timestamp_ms, Some(1_800_000_000_123));
        let received = incoming("3EB0EEEE", m);
        assert_eq!(
            received.reaction(),
            Some((MessageId("3EB0DDDD".into()), "👍".to_owned()))
        );
        // Removing a reaction is an empty text; a group reaction names the participant.
        let mut target = ReactionTarget::new(jid("120363000000000001@g.us"), "G1", false);
        target.sender = Some(jid("15550001111:3@s.whatsapp.net"));
        let m = reaction(&target, "", 5);
        let key = m.reaction_message.as_ref().unwrap().key.as_ref().unwrap();
        assert_eq!(
            key.participant.as_deref(),
            Some("15550001111@s.whatsapp.net")
        );
        assert_eq!(m.reaction_message.unwrap().text.as_deref(), Some(""));
    }
}
