//! Typing indicators (`<chatstate>`): what the official web client sends while its user types
//! or records in a chat, and when they stop.
//!
//! ```text
//!  <chatstate to="15551234567@s.whatsapp.net"><composing/></chatstate>             typing
//!  <chatstate to="…"><composing media="audio"/></chatstate>                         recording
//!  <chatstate to="…"><paused/></chatstate>                                          stopped
//! ```
//!
//! The server forwards it to the chat's other devices and sends no answer. Only `to` is set:
//! the server knows who sends it (WhatsApp Web's own schema has no `from`; Baileys adds one).

use crate::binary::{Jid, Node};

/// What the user is doing in a chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChatState {
    /// Typing (the chat shows "typing…").
    Composing,
    /// Recording a voice note ("recording audio…").
    Recording,
    /// Stopped typing or recording.
    Paused,
}

impl ChatState {
    /// The name used in JSON and the CLI (`composing`, `recording`, `paused`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Composing => "composing",
            Self::Recording => "recording",
            Self::Paused => "paused",
        }
    }

    /// The state for a name of [`ChatState::name`] (also `typing` for composing).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "composing" | "typing" => Some(Self::Composing),
            "recording" => Some(Self::Recording),
            "paused" => Some(Self::Paused),
            _ => None,
        }
    }
}

/// The `<chatstate>` stanza telling `to` (a user or group; a device JID names its user) what
/// this account is doing in their chat.
pub fn chat_state_node(to: &Jid, state: ChatState) -> Node {
    let child = match state {
        ChatState::Composing => Node::new("composing"),
        ChatState::Recording => Node::new("composing").attr("media", "audio"),
        ChatState::Paused => Node::new("paused"),
    };
    Node::new("chatstate")
        .jid_attr("to", to.to_non_ad())
        .children(vec![child])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binary::Value;

    #[test]
    fn the_three_states_as_the_web_client_sends_them() {
        let to: Jid = "15551234567:4@s.whatsapp.net".parse().unwrap();
        let text = |s| chat_state_node(&to, s).to_string();
        for (state, child) in [
            (ChatState::Composing, "<composing/>"),
            (ChatState::Recording, "<composing media=\"audio\"/>"),
            (ChatState::Paused, "<paused/>"),
        ] {
            let node = chat_state_node(&to, state);
            assert_eq!(&*node.tag, "chatstate");
            assert!(
                matches!(node.get_attr("to"), Some(Value::Jid(j)) if j.to_string() == "15551234567@s.whatsapp.net")
            );
            assert!(node.get_attr("from").is_none());
            assert!(text(state).contains(child), "{}", text(state));
            assert_eq!(ChatState::from_name(state.name()), Some(state));
        }
        assert_eq!(ChatState::from_name("typing"), Some(ChatState::Composing));
        assert_eq!(ChatState::from_name("dancing"), None);
    }
}
