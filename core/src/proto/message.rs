//! The end-to-end encrypted `Message` protobuf: the subset Tether reads and writes
//! (`messaging.md` §5.1; whatsmeow `proto/waE2E/WAWebProtobufsE2E.proto` = Baileys
//! `WAProto.proto` `proto.Message`).
//!
//! ```text
//! Message { 1 conversation, 2 senderKeyDistributionMessage, 3 imageMessage,
//!           4 contactMessage, 5 locationMessage, 6 extendedTextMessage, 7 documentMessage,
//!           8 audioMessage, 9 videoMessage, 12 protocolMessage, 13 contactsArrayMessage,
//!           18 liveLocationMessage, 26 stickerMessage, 31 deviceSentMessage,
//!           35 messageContextInfo, 37 viewOnceMessage, 40 ephemeralMessage,
//!           46 reactionMessage, 53 documentWithCaptionMessage, 55 viewOnceMessageV2,
//!           58 editedMessage, 59 viewOnceMessageV2Extension, 66 ptvMessage,
//!           74 lottieStickerMessage, … }
//! ExtendedTextMessage { 1 text, 17 contextInfo }
//! ContextInfo { 1 stanzaId, 2 participant, 3 quotedMessage, 4 remoteJid, 15 mentionedJid[] }
//! MessageKey { 1 remoteJid, 2 fromMe, 3 id, 4 participant }
//! ```
//!
//! The media messages themselves (image, video, …) are in [`super::media`].
//!
//! Everything is proto2 with optional fields. Fields Tether does not model are skipped when
//! decoding: applications that need them decode the raw bytes, which every received message
//! keeps beside this decoded form.

use bytes::Bytes;

use super::media::{
    AudioMessage, ContactMessage, ContactsArrayMessage, DocumentMessage, ImageMessage,
    LiveLocationMessage, LocationMessage, StickerMessage, VideoMessage,
};

/// `Message`: one message's content (exactly one content field is normally set).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    /// Field 1: plain text.
    #[prost(string, optional, tag = "1")]
    pub conversation: Option<String>,
    /// Field 2: a sender key for a group, riding along with (or instead of) content.
    #[prost(message, optional, tag = "2")]
    pub sender_key_distribution_message: Option<SenderKeyDistributionMessage>,
    /// Field 3: an image.
    #[prost(message, optional, tag = "3")]
    pub image_message: Option<Box<ImageMessage>>,
    /// Field 4: a contact card.
    #[prost(message, optional, tag = "4")]
    pub contact_message: Option<Box<ContactMessage>>,
    /// Field 5: a location.
    #[prost(message, optional, tag = "5")]
    pub location_message: Option<Box<LocationMessage>>,
    /// Field 6: text with a quote, mentions or a link preview.
    #[prost(message, optional, tag = "6")]
    pub extended_text_message: Option<Box<ExtendedTextMessage>>,
    /// Field 7: a document.
    #[prost(message, optional, tag = "7")]
    pub document_message: Option<Box<DocumentMessage>>,
    /// Field 8: audio, or a voice note (`ptt`).
    #[prost(message, optional, tag = "8")]
    pub audio_message: Option<Box<AudioMessage>>,
    /// Field 9: a video (or a GIF: `gifPlayback`).
    #[prost(message, optional, tag = "9")]
    pub video_message: Option<Box<VideoMessage>>,
    /// Field 12: revokes, edits, ephemeral settings, app-state keys, history sync…
    #[prost(message, optional, tag = "12")]
    pub protocol_message: Option<Box<ProtocolMessage>>,
    /// Field 13: several contact cards.
    #[prost(message, optional, tag = "13")]
    pub contacts_array_message: Option<Box<ContactsArrayMessage>>,
    /// Field 18: a live location update.
    #[prost(message, optional, tag = "18")]
    pub live_location_message: Option<Box<LiveLocationMessage>>,
    /// Field 26: a sticker.
    #[prost(message, optional, tag = "26")]
    pub sticker_message: Option<Box<StickerMessage>>,
    /// Field 31: a copy of a message this account sent, for the sender's other devices.
    #[prost(message, optional, tag = "31")]
    pub device_sent_message: Option<Box<DeviceSentMessage>>,
    /// Field 35: per-message metadata (message secret, …).
    #[prost(message, optional, tag = "35")]
    pub message_context_info: Option<MessageContextInfo>,
    /// Field 37: a view-once wrapper.
    #[prost(message, optional, tag = "37")]
    pub view_once_message: Option<Box<FutureProofMessage>>,
    /// Field 40: a disappearing-chat wrapper.
    #[prost(message, optional, tag = "40")]
    pub ephemeral_message: Option<Box<FutureProofMessage>>,
    /// Field 46: a reaction to another message.
    #[prost(message, optional, tag = "46")]
    pub reaction_message: Option<ReactionMessage>,
    /// Field 53: a document with a caption.
    #[prost(message, optional, tag = "53")]
    pub document_with_caption_message: Option<Box<FutureProofMessage>>,
    /// Field 55: a view-once wrapper (v2).
    #[prost(message, optional, tag = "55")]
    pub view_once_message_v2: Option<Box<FutureProofMessage>>,
    /// Field 58: an edit envelope.
    #[prost(message, optional, tag = "58")]
    pub edited_message: Option<Box<FutureProofMessage>>,
    /// Field 59: a view-once wrapper (v2 extension).
    #[prost(message, optional, tag = "59")]
    pub view_once_message_v2_extension: Option<Box<FutureProofMessage>>,
    /// Field 66: a round video note (PTV).
    #[prost(message, optional, tag = "66")]
    pub ptv_message: Option<Box<VideoMessage>>,
    /// Field 74: a Lottie sticker wrapper.
    #[prost(message, optional, tag = "74")]
    pub lottie_sticker_message: Option<Box<FutureProofMessage>>,
}

/// `ExtendedTextMessage`: text with context.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExtendedTextMessage {
    /// Field 1: the text.
    #[prost(string, optional, tag = "1")]
    pub text: Option<String>,
    /// Field 17: quote and mentions.
    #[prost(message, optional, tag = "17")]
    pub context_info: Option<Box<ContextInfo>>,
}

/// `ContextInfo`: what a message replies to and whom it mentions.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContextInfo {
    /// Field 1: the id of the quoted message.
    #[prost(string, optional, tag = "1")]
    pub stanza_id: Option<String>,
    /// Field 2: who sent the quoted message (a user JID).
    #[prost(string, optional, tag = "2")]
    pub participant: Option<String>,
    /// Field 3: the quoted message's content.
    #[prost(message, optional, tag = "3")]
    pub quoted_message: Option<Box<Message>>,
    /// Field 4: the chat of the quoted message, when it differs.
    #[prost(string, optional, tag = "4")]
    pub remote_jid: Option<String>,
    /// Field 15: the mentioned users (JID strings).
    #[prost(string, repeated, tag = "15")]
    pub mentioned_jid: Vec<String>,
}

/// `SenderKeyDistributionMessage`: a group sender key, delivered pairwise.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SenderKeyDistributionMessage {
    /// Field 1: the group JID string.
    #[prost(string, optional, tag = "1")]
    pub group_id: Option<String>,
    /// Field 2: the Signal `SenderKeyDistributionMessage` bytes (`0x33 ‖ protobuf`).
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub axolotl_sender_key_distribution_message: Option<Bytes>,
}

/// `ProtocolMessage.Type` values Tether acts on or names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ProtocolMessageType {
    /// Delete for everyone.
    Revoke = 0,
    /// Disappearing-messages setting.
    EphemeralSetting = 3,
    /// Ephemeral sync response.
    EphemeralSyncResponse = 4,
    /// History sync notification.
    HistorySyncNotification = 5,
    /// App-state sync key share (from the primary).
    AppStateSyncKeyShare = 6,
    /// App-state sync key request.
    AppStateSyncKeyRequest = 7,
    /// Fan-out backfill request.
    MsgFanoutBackfillRequest = 8,
    /// Initial security notification setting sync.
    InitialSecurityNotificationSettingSync = 9,
    /// App-state fatal exception notification.
    AppStateFatalExceptionNotification = 10,
    /// Share phone number.
    SharePhoneNumber = 11,
    /// A message edit.
    MessageEdit = 14,
    /// Peer data operation request (e.g. placeholder resend).
    PeerDataOperationRequestMessage = 16,
    /// Peer data operation response.
    PeerDataOperationRequestResponseMessage = 17,
}

/// `ProtocolMessage`: control content (the subset Tether reads).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtocolMessage {
    /// Field 1: the message it refers to.
    #[prost(message, optional, tag = "1")]
    pub key: Option<MessageKey>,
    /// Field 2: its [`ProtocolMessageType`] (raw value kept).
    #[prost(enumeration = "ProtocolMessageType", optional, tag = "2")]
    pub r#type: Option<i32>,
    /// Field 14: the new content of an edit.
    #[prost(message, optional, tag = "14")]
    pub edited_message: Option<Box<Message>>,
    /// Field 15: the edit's timestamp in milliseconds.
    #[prost(int64, optional, tag = "15")]
    pub timestamp_ms: Option<i64>,
}

/// `MessageKey`: names one message.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MessageKey {
    /// Field 1: the chat.
    #[prost(string, optional, tag = "1")]
    pub remote_jid: Option<String>,
    /// Field 2: whether this account sent it.
    #[prost(bool, optional, tag = "2")]
    pub from_me: Option<bool>,
    /// Field 3: the message id.
    #[prost(string, optional, tag = "3")]
    pub id: Option<String>,
    /// Field 4: the sender in a group.
    #[prost(string, optional, tag = "4")]
    pub participant: Option<String>,
}

/// `DeviceSentMessage`: the copy for the sender's own other devices.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeviceSentMessage {
    /// Field 1: the chat the message was sent to, as addressed.
    #[prost(string, optional, tag = "1")]
    pub destination_jid: Option<String>,
    /// Field 2: the message itself.
    #[prost(message, optional, tag = "2")]
    pub message: Option<Box<Message>>,
    /// Field 3: participant hash (broadcasts only).
    #[prost(string, optional, tag = "3")]
    pub phash: Option<String>,
}

/// `MessageContextInfo`: per-message metadata.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MessageContextInfo {
    /// Field 3: 32 random bytes (reporting tokens, poll and event encryption).
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub message_secret: Option<Bytes>,
    /// Field 4: padding (unused by the reference clients).
    #[prost(bytes = "bytes", optional, tag = "4")]
    pub padding_bytes: Option<Bytes>,
}

/// `FutureProofMessage`: a wrapper around another message (ephemeral, view-once, edits…).
#[derive(Clone, PartialEq, prost::Message)]
pub struct FutureProofMessage {
    /// Field 1: the wrapped message.
    #[prost(message, optional, tag = "1")]
    pub message: Option<Box<Message>>,
}

/// `ReactionMessage`: an emoji reaction (empty text removes it).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReactionMessage {
    /// Field 1: the message reacted to.
    #[prost(message, optional, tag = "1")]
    pub key: Option<MessageKey>,
    /// Field 2: the emoji ("" removes the reaction).
    #[prost(string, optional, tag = "2")]
    pub text: Option<String>,
    /// Field 3: grouping key.
    #[prost(string, optional, tag = "3")]
    pub grouping_key: Option<String>,
    /// Field 4: when it was sent, in milliseconds.
    #[prost(int64, optional, tag = "4")]
    pub sender_timestamp_ms: Option<i64>,
}

impl Message {
    /// A plain text message (`conversation`).
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            conversation: Some(text.into()),
            ..Self::default()
        }
    }

    /// The message inside the wrappers a receiver unwraps (`ephemeralMessage`,
    /// `viewOnceMessage*`, `documentWithCaptionMessage`, `editedMessage`,
    /// `lottieStickerMessage`; `messaging.md` §6.2 step 4, `media.md` §3.1), or `self` when there is none. At most 8 levels are followed.
    pub fn unwrapped(&self) -> &Self {
        let mut current = self;
        for _ in 0..8 {
            let inner = [
                &current.ephemeral_message,
                &current.view_once_message,
                &current.view_once_message_v2,
                &current.document_with_caption_message,
                &current.edited_message,
                &current.view_once_message_v2_extension,
                &current.lottie_sticker_message,
            ]
            .into_iter()
            .find_map(|w| w.as_ref().and_then(|w| w.message.as_deref()));
            match inner {
                Some(next) => current = next,
                None => break,
            }
        }
        current
    }

    /// The text of a text message: `conversation` or `extendedTextMessage.text`, after
    /// unwrapping.
    pub fn text_content(&self) -> Option<&str> {
        let m = self.unwrapped();
        m.conversation.as_deref().or_else(|| {
            m.extended_text_message
                .as_ref()
                .and_then(|e| e.text.as_deref())
        })
    }

    /// The context (quote, mentions) of an extended text message, after unwrapping.
    pub fn context_info(&self) -> Option<&ContextInfo> {
        self.unwrapped()
            .extended_text_message
            .as_ref()
            .and_then(|e| e.context_info.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    #[test]
    fn conversation_matches_the_vector_plaintext() {
        // messaging.md Appendix A: Message{conversation:"hi"} = 0a 02 68 69.
        assert_eq!(
            Message::text("hi").encode_to_vec(),
            vec![0x0a, 0x02, b'h', b'i']
        );
    }

    #[test]
    fn text_is_read_from_both_fields_and_through_wrappers() {
        let extended = Message {
            extended_text_message: Some(Box::new(ExtendedTextMessage {
                text: Some("quoted reply".into()),
                context_info: Some(Box::new(ContextInfo {
                    stanza_id: Some("3EB0AA".into()),
                    mentioned_jid: vec!["123@s.whatsapp.net".into()],
                    ..ContextInfo::default()
                })),
            })),
            ..Message::default()
        };
        let wrapped = Message {
            ephemeral_message: Some(Box::new(FutureProofMessage {
                message: Some(Box::new(extended)),
            })),
            ..Message::default()
        };
        let back = Message::decode(wrapped.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back.text_content(), Some("quoted reply"));
        assert_eq!(
            back.context_info().and_then(|c| c.stanza_id.as_deref()),
            Some("3EB0AA")
        );
        assert_eq!(Message::text("x").text_content(), Some("x"));
    }

    #[test]
    fn unknown_fields_are_skipped() {
        // field 99 (not modelled) as an empty message, then conversation.
        let bytes = [0x9a, 0x06, 0x00, 0x0a, 0x01, b'a'];
        let m = Message::decode(&bytes[..]).unwrap();
        assert_eq!(m.text_content(), Some("a"));
    }

    #[test]
    fn deep_wrapping_stops() {
        let mut m = Message::text("deep");
        for _ in 0..20 {
            m = Message {
                ephemeral_message: Some(Box::new(FutureProofMessage {
                    message: Some(Box::new(m)),
                })),
                ..Message::default()
            };
        }
        assert_eq!(
            m.text_content(),
            None,
            "more than 8 wrappers are not followed"
        );
    }
}
