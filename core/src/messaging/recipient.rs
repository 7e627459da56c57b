//! Who a message goes to, written the way people write it: a phone number (`+1 555 123 4567`,
//! `15551234567`), a user JID (`15551234567@s.whatsapp.net`, Baileys' and whatsapp-web.js'
//! `…@c.us`), a LID (`123456789012345@lid`) or a group JID (`…@g.us`), turned into the [`Jid`]
//! the core sends to — with a typed error that says what is wrong and what to give instead.
//!
//! ```text
//!  text ─trim─▶ contains '@'? ─yes─▶ parse the JID ─▶ server: s.whatsapp.net | c.us → user digits
//!                    │                                        lid                → user digits
//!                    │                                        g.us               → group id
//!                    │                                        other              → NotAChat
//!                    │                 a device (`…:3@…`) is dropped: messages go to users
//!                    └─no──▶ phone number: drop '+', spaces, '-', '.', '(', ')' → 6–15 digits,
//!                                          not starting with 0 → `digits@s.whatsapp.net`
//! ```
//!
//! [`IntoRecipient`] lets the adapters' `send` take a `&str`, a `String` or a [`Jid`] alike.

use thiserror::Error;

use crate::binary::{Jid, JidParseError, Server};

/// The shortest and longest phone number accepted (E.164 allows at most 15 digits).
const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 6..=15;

/// Why a text is not a recipient. Each message says what was given and what to give instead.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RecipientError {
    /// Nothing was given.
    #[error(
        "no recipient given: give a phone number with its country code (e.g. +15551234567), a \
         user JID (15551234567@s.whatsapp.net), a LID (…@lid) or a group JID (…@g.us)"
    )]
    Empty,
    /// A phone number with characters other than digits and separators.
    #[error(
        "{given:?} is not a phone number: use digits with the country code, optionally with a \
         leading + and spaces or dashes (e.g. +1 555 123 4567)"
    )]
    NotAPhoneNumber {
        /// What was given.
        given: String,
    },
    /// A phone number of the wrong length.
    #[error(
        "{given:?} has {digits} digits; a phone number with its country code has 6 to 15 \
         (e.g. +15551234567)"
    )]
    PhoneLength {
        /// What was given.
        given: String,
        /// How many digits it has.
        digits: usize,
    },
    /// A phone number written with a trunk or international prefix (`0…`, `00…`).
    #[error(
        "{given:?} starts with 0: give the number in international form, with the country code \
         and without a 0 or 00 prefix (e.g. +44 20 7946 0958, not 020 7946 0958)"
    )]
    LeadingZero {
        /// What was given.
        given: String,
    },
    /// Text with an `@` that does not parse as a JID.
    #[error(
        "{given:?} is not a valid JID ({error}); a user JID looks like 15551234567@s.whatsapp.net"
    )]
    InvalidJid {
        /// What was given.
        given: String,
        /// Why it does not parse.
        error: JidParseError,
    },
    /// A JID whose user part is not a number (phone-number and LID users are digits).
    #[error(
        "{given:?} is not a user: the part before @ must be the digits of a phone number or a LID"
    )]
    InvalidUser {
        /// What was given.
        given: String,
    },
    /// A JID of a server messages cannot be sent to (a server alone, a broadcast list, a
    /// newsletter…).
    #[error(
        "{given:?} is not a chat this client sends to: give a phone number, a user JID \
         (…@s.whatsapp.net), a LID (…@lid) or a group JID (…@g.us)"
    )]
    NotAChat {
        /// What was given.
        given: String,
    },
}

/// How much of a rejected input an error repeats (a pasted megabyte is not echoed back).
const SHOWN: usize = 64;

/// The input as an error shows it: at most [`SHOWN`] characters, then `…`.
fn shown(given: &str) -> String {
    match given.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}…", &given[..cut]),
        None => given.to_owned(),
    }
}

/// Parses a recipient: a phone number, a user JID, a LID or a group JID (see the module
/// docs). A device JID names its user (messages go to every device of a user).
pub fn parse_recipient(text: &str) -> Result<Jid, RecipientError> {
    let given = text.trim();
    if given.is_empty() {
        return Err(RecipientError::Empty);
    }
    if given.contains('@') {
        let jid: Jid = given.parse().map_err(|error| RecipientError::InvalidJid {
            given: shown(given),
            error,
        })?;
        return recipient_of(&jid).map_err(|e| match e {
            RecipientError::NotAChat { .. } => RecipientError::NotAChat {
                given: shown(given),
            },
            RecipientError::InvalidUser { .. } => RecipientError::InvalidUser {
                given: shown(given),
            },
            other => other,
        });
    }
    phone_number(given).map(|digits| Jid::user(&digits, Server::WhatsApp))
}

/// Checks a [`Jid`] as a recipient: the user (device dropped) of `s.whatsapp.net` (or the
/// legacy `c.us`) or `lid` with a numeric user, or a group. Everything else is refused.
pub fn recipient_of(jid: &Jid) -> Result<Jid, RecipientError> {
    let given = || shown(&jid.to_string());
    if jid.is_server_only() {
        return Err(RecipientError::NotAChat { given: given() });
    }
    let server = match jid.server() {
        Server::WhatsApp | Server::LegacyUser => Server::WhatsApp,
        Server::Lid => Server::Lid,
        Server::Group => return Ok(Jid::user(jid.user_str(), Server::Group)),
        _ => return Err(RecipientError::NotAChat { given: given() }),
    };
    let user = jid.user_str();
    if user.is_empty() || !user.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RecipientError::InvalidUser { given: given() });
    }
    Ok(Jid::user(user, server))
}

/// The digits of a phone number written with an optional `+` and separators.
fn phone_number(given: &str) -> Result<String, RecipientError> {
    let rest = given.strip_prefix('+').unwrap_or(given);
    let mut digits = String::with_capacity(rest.len().min(32));
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
            _ => {
                return Err(RecipientError::NotAPhoneNumber {
                    given: shown(given),
                });
            }
        }
        if digits.len() > *PHONE_DIGITS.end() {
            break;
        }
    }
    if digits.starts_with('0') {
        return Err(RecipientError::LeadingZero {
            given: shown(given),
        });
    }
    let count = rest.chars().filter(char::is_ascii_digit).count();
    if !PHONE_DIGITS.contains(&count) {
        return Err(RecipientError::PhoneLength {
            given: shown(given),
            digits: count,
        });
    }
    Ok(digits)
}

/// Anything the adapters' `send` accepts as `to`: a phone number or JID as text, or a [`Jid`].
pub trait IntoRecipient {
    /// The recipient's JID, or why this is not one.
    fn into_recipient(self) -> Result<Jid, RecipientError>;
}

impl IntoRecipient for &str {
    fn into_recipient(self) -> Result<Jid, RecipientError> {
        parse_recipient(self)
    }
}

impl IntoRecipient for String {
    fn into_recipient(self) -> Result<Jid, RecipientError> {
        parse_recipient(&self)
    }
}

impl IntoRecipient for &String {
    fn into_recipient(self) -> Result<Jid, RecipientError> {
        parse_recipient(self)
    }
}

impl IntoRecipient for Jid {
    fn into_recipient(self) -> Result<Jid, RecipientError> {
        recipient_of(&self)
    }
}

impl IntoRecipient for &Jid {
    fn into_recipient(self) -> Result<Jid, RecipientError> {
        recipient_of(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> String {
        match parse_recipient(text) {
            Ok(jid) => jid.to_string(),
            Err(e) => panic!("{text:?} refused: {e}"),
        }
    }

    #[test]
    fn phone_numbers_in_every_usual_spelling() {
        for text in [
            "15551234567",
            "+15551234567",
            " +1 555 123 4567 ",
            "+1 (555) 123-4567",
            "1.555.123.4567",
        ] {
            assert_eq!(ok(text), "15551234567@s.whatsapp.net", "{text}");
        }
    }

    #[test]
    fn jids_and_lids_name_their_user() {
        assert_eq!(
            ok("15551234567@s.whatsapp.net"),
            "15551234567@s.whatsapp.net"
        );
        assert_eq!(ok("15551234567@c.us"), "15551234567@s.whatsapp.net");
        assert_eq!(
            ok("15551234567:3@s.whatsapp.net"),
            "15551234567@s.whatsapp.net"
        );
        assert_eq!(ok("123456789012345@lid"), "123456789012345@lid");
        assert_eq!(ok("123456789012345:7@lid"), "123456789012345@lid");
        assert_eq!(ok("120363021234567890@g.us"), "120363021234567890@g.us");
        let jid: Jid = "15551234567:2@s.whatsapp.net".parse().unwrap();
        assert_eq!(
            (&jid).into_recipient().unwrap().to_string(),
            "15551234567@s.whatsapp.net"
        );
        assert_eq!(
            String::from("+15551234567").into_recipient().unwrap(),
            jid.to_non_ad()
        );
    }

    #[test]
    fn every_refusal_is_typed_and_names_the_input() {
        type Check = fn(&RecipientError) -> bool;
        let cases: [(&str, Check); 10] = [
            ("", |e| matches!(e, RecipientError::Empty)),
            ("   ", |e| matches!(e, RecipientError::Empty)),
            ("alice", |e| {
                matches!(e, RecipientError::NotAPhoneNumber { .. })
            }),
            ("+1555abc4567", |e| {
                matches!(e, RecipientError::NotAPhoneNumber { .. })
            }),
            ("12345", |e| {
                matches!(e, RecipientError::PhoneLength { digits: 5, .. })
            }),
            ("1234567890123456", |e| {
                matches!(e, RecipientError::PhoneLength { digits: 16, .. })
            }),
            ("0044 20 7946 0958", |e| {
                matches!(e, RecipientError::LeadingZero { .. })
            }),
            ("a@b@c", |e| matches!(e, RecipientError::InvalidJid { .. })),
            ("alice@s.whatsapp.net", |e| {
                matches!(e, RecipientError::InvalidUser { .. })
            }),
            ("status@broadcast", |e| {
                matches!(e, RecipientError::NotAChat { .. })
            }),
        ];
        for (text, check) in cases {
            let e = parse_recipient(text).unwrap_err();
            assert!(check(&e), "{text:?}: {e:?}");
            let message = e.to_string();
            assert!(
                text.trim().is_empty() || message.contains(text.trim()),
                "{message}"
            );
        }
        for text in ["@s.whatsapp.net", "123@newsletter", "5-123:0@interop"] {
            assert!(
                matches!(parse_recipient(text), Err(RecipientError::NotAChat { .. })),
                "{text}"
            );
        }
        assert!(matches!(
            parse_recipient("s.whatsapp.net"),
            Err(RecipientError::NotAPhoneNumber { .. })
        ));
    }

    #[test]
    fn long_inputs_are_refused_without_growing() {
        let long = "1".repeat(100_000);
        assert!(matches!(
            parse_recipient(&long),
            Err(RecipientError::PhoneLength {
                digits: 100_000,
                ..
            })
        ));
    }
}
