//! Locations and contact cards (`media.md` §3.3): messages that carry no file, built and
//! checked here, sent like any other message (the outbox gives them `type="media"` and the
//! stanza `mediatype` `location` / `vcard`, §3.7).
//!
//! ```text
//! latitude, longitude (checked), name?, address? ──location_message──▶ locationMessage
//! display name?, vCard text ──split_vcards──▶ one card  ──contact_message──▶ contactMessage
//!                                          └─▶ 2..=64 cards ─────────────────▶ contactsArrayMessage
//! received: Message ──Location::of / ContactCard::of──▶ the typed fields (after unwrapping)
//! ```
//!
//! The fields are those Baileys' `generateWAMessageContent` sends for `{location}` and
//! `{contacts}`: `degreesLatitude`, `degreesLongitude`, `name`, `address`; one contact as a
//! `contactMessage` (`displayName`, `vcard`), several as a `contactsArrayMessage` (the list's
//! `displayName` and one `contactMessage` per card). A `.vcf` file exported from a phone's
//! address book often holds several cards: its text, given as is, sends them all in one message.
//!
//! ```
//! use tether_core::media::cards::{contact_message, location_message};
//!
//! let pin = location_message(52.520008, 13.404954, Some("Brandenburg Gate"), None)?;
//! assert_eq!(pin.location_message.unwrap().degrees_latitude, Some(52.520008));
//! let vcard = "BEGIN:VCARD\nVERSION:3.0\nFN:Ada Lovelace\nTEL:+4915112345678\nEND:VCARD";
//! let card = contact_message(None, vcard)?; // the name shown: the vCard's FN
//! assert_eq!(card.contact_message.unwrap().display_name.as_deref(), Some("Ada Lovelace"));
//! let two = format!("{vcard}\nBEGIN:VCARD\nVERSION:3.0\nFN:Alan Turing\nEND:VCARD\n");
//! let list = contact_message(None, &two)?.contacts_array_message.unwrap();
//! assert_eq!(list.display_name.as_deref(), Some("2 contacts"));
//! assert_eq!(list.contacts[1].display_name.as_deref(), Some("Alan Turing"));
//! # Ok::<(), tether_core::media::cards::CardError>(())
//! ```

use thiserror::Error;

use crate::driver::MessagingError;
use crate::proto::media::{ContactMessage, ContactsArrayMessage, LocationMessage};
use crate::proto::message::Message;

/// The largest vCard sent (bytes). A bound of Tether's own: the apps' `vcard_max_size_kb` is
/// not known; a card with a small photo fits.
pub const MAX_VCARD: usize = 32 * 1024;

/// The most cards one contacts message carries. A bound of Tether's own, like [`MAX_VCARD`].
pub const MAX_CARDS: usize = 64;

/// The longest vCard text read for one message, all its cards together (bytes; Tether's own).
pub const MAX_CARDS_TEXT: usize = 256 * 1024;

/// The longest name or address of a location, and the longest display name (characters).
pub const MAX_LABEL: usize = 1024;

/// Why a location or contact card cannot be sent (nothing was queued).
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum CardError {
    /// The coordinates are not a place on Earth.
    #[error(
        "({latitude}, {longitude}) is not a place: the latitude must be within -90..90 and the \
         longitude within -180..180 (decimal degrees, e.g. 52.520008,13.404954)"
    )]
    Coordinates {
        /// The latitude given.
        latitude: f64,
        /// The longitude given.
        longitude: f64,
    },
    /// The text is not a vCard, or holds text outside its cards, or a card without its end.
    #[error(
        "the contact card is not a vCard: each card must start with a BEGIN:VCARD line and end \
         with an END:VCARD line, with nothing but blank lines between cards"
    )]
    NotVcard,
    /// A vCard is larger than [`MAX_VCARD`], or the text larger than [`MAX_CARDS_TEXT`].
    #[error("the vCard is {size} bytes, more than the {limit} allowed; drop its photo or notes")]
    VcardTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The text holds more than [`MAX_CARDS`] vCards.
    #[error(
        "the text holds {count} vCards, more than the {limit} one message carries; send them in several messages"
    )]
    TooManyCards {
        /// How many it holds.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// No display name was given and the vCard has no `FN` line.
    #[error("the contact card has no name: give a display name, or an FN line in the vCard")]
    NoName,
    /// One of several vCards has no `FN` line (each card of a list is shown by its own name).
    #[error("vCard {position} of {count} has no name: give it an FN line")]
    UnnamedCard {
        /// Its position in the text, from 1.
        position: usize,
        /// How many cards the text holds.
        count: usize,
    },
    /// A name, address or display name is longer than [`MAX_LABEL`] characters.
    #[error("the {what} is longer than {MAX_LABEL} characters; shorten it")]
    TooLong {
        /// Which one.
        what: &'static str,
    },
}

/// Why sending a location or contact card failed: the card (nothing was queued) or the
/// message.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SendCardError {
    /// The location or card cannot be sent as given.
    #[error(transparent)]
    Card(#[from] CardError),
    /// The message could not be queued.
    #[error(transparent)]
    Messaging(#[from] MessagingError),
}

fn label(text: Option<&str>, what: &'static str) -> Result<Option<String>, CardError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) if t.chars().count() > MAX_LABEL => Err(CardError::TooLong { what }),
        other => Ok(other.map(str::to_owned)),
    }
}

/// A location message: the point at `latitude`, `longitude` (decimal degrees, WGS 84), with
/// the place's `name` and `address` shown under the map when given.
pub fn location_message(
    latitude: f64,
    longitude: f64,
    name: Option<&str>,
    address: Option<&str>,
) -> Result<Message, CardError> {
    if !(latitude.is_finite()
        && longitude.is_finite()
        && (-90.0..=90.0).contains(&latitude)
        && (-180.0..=180.0).contains(&longitude))
    {
        return Err(CardError::Coordinates {
            latitude,
            longitude,
        });
    }
    Ok(Message {
        location_message: Some(Box::new(LocationMessage {
            degrees_latitude: Some(latitude),
            degrees_longitude: Some(longitude),
            name: label(name, "place name")?,
            address: label(address, "address")?,
            ..LocationMessage::default()
        })),
        ..Message::default()
    })
}

/// A contact message from `vcard`, vCard text holding one card or several (a `.vcf` file's
/// content): one card is a `contactMessage` shown as `display_name`, or when that is `None` as
/// the vCard's `FN`; several are a `contactsArrayMessage` shown as `display_name`, or as
/// "N contacts", each card under its own `FN`. The cards are sent as given.
pub fn contact_message(display_name: Option<&str>, vcard: &str) -> Result<Message, CardError> {
    let cards = split_vcards(vcard)?;
    let display_name = label(display_name, "display name")?;
    let message = match cards.as_slice() {
        [card] => Message {
            contact_message: Some(Box::new(named_card(card, display_name)?)),
            ..Message::default()
        },
        _ => {
            let count = cards.len();
            let contacts = cards
                .iter()
                .enumerate()
                .map(|(i, card)| {
                    named_card(card, None).map_err(|error| match error {
                        CardError::NoName => CardError::UnnamedCard {
                            position: i + 1,
                            count,
                        },
                        other => other,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Message {
                contacts_array_message: Some(Box::new(ContactsArrayMessage {
                    display_name: Some(display_name.unwrap_or_else(|| format!("{count} contacts"))),
                    contacts,
                    ..ContactsArrayMessage::default()
                })),
                ..Message::default()
            }
        }
    };
    Ok(message)
}

/// One card, shown as `display_name` or its `FN`.
fn named_card(card: &str, display_name: Option<String>) -> Result<ContactMessage, CardError> {
    let display_name = match display_name {
        Some(name) => name,
        None => label(vcard_name(card).as_deref(), "vCard's FN")?.ok_or(CardError::NoName)?,
    };
    Ok(ContactMessage {
        display_name: Some(display_name),
        vcard: Some(card.to_owned()),
        ..ContactMessage::default()
    })
}

/// The vCards in `text`, in order, as slices of it: each runs from a `BEGIN:VCARD` line to its
/// `END:VCARD` line (a card nested in another, vCard 2.1's `AGENT`, stays inside it). Blank
/// lines between cards are skipped; anything else outside a card, a card left open or no card
/// at all is [`CardError::NotVcard`]. Each card is at most [`MAX_VCARD`] bytes and the text
/// holds at most [`MAX_CARDS`] of them; a text longer than [`MAX_CARDS_TEXT`] is refused
/// before it is read.
pub fn split_vcards(text: &str) -> Result<Vec<&str>, CardError> {
    let limit = MAX_CARDS_TEXT;
    if text.len() > limit {
        return Err(CardError::VcardTooLarge {
            size: text.len(),
            limit,
        });
    }
    let mut cards = Vec::new();
    let mut count = 0;
    // Where the open card starts, and how deep the nesting is.
    let mut open: Option<(usize, usize)> = None;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let start = at;
        at += line.len();
        let content = line.trim();
        // A folded line (RFC 6350 §3.2: it starts with a space or a tab) continues a property.
        let folded = line.starts_with([' ', '\t']);
        let begins = !folded && content.eq_ignore_ascii_case("BEGIN:VCARD");
        let ends = !folded && content.eq_ignore_ascii_case("END:VCARD");
        open = match open {
            None if begins => Some((start, 1)),
            None if content.is_empty() => None,
            None => return Err(CardError::NotVcard),
            Some((first, depth)) if begins => Some((first, depth + 1)),
            Some((first, 1)) if ends => {
                let card = text.get(first..at).unwrap_or_default().trim();
                if card.len() > MAX_VCARD {
                    return Err(CardError::VcardTooLarge {
                        size: card.len(),
                        limit: MAX_VCARD,
                    });
                }
                count += 1;
                if count <= MAX_CARDS {
                    cards.push(card);
                }
                None
            }
            Some((first, depth)) if ends => Some((first, depth - 1)),
            still_open => still_open,
        };
    }
    match (open, count) {
        (Some(_), _) | (None, 0) => Err(CardError::NotVcard),
        (None, count) if count > MAX_CARDS => Err(CardError::TooManyCards {
            count,
            limit: MAX_CARDS,
        }),
        _ => Ok(cards),
    }
}

/// The formatted name (`FN`, parameters allowed: `FN;CHARSET=UTF-8:…`) of a vCard, with the
/// vCard escapes `\,` `\;` `\\` undone.
pub fn vcard_name(vcard: &str) -> Option<String> {
    vcard.lines().find_map(|line| {
        let (property, value) = line.split_once(':')?;
        let name = property.split(';').next()?.trim();
        if !name.eq_ignore_ascii_case("FN") {
            return None;
        }
        let value = value
            .trim()
            .replace("\\,", ",")
            .replace("\\;", ";")
            .replace("\\\\", "\\");
        (!value.is_empty()).then_some(value)
    })
}

/// A received location's typed fields.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Location {
    /// Decimal degrees.
    pub latitude: f64,
    /// Decimal degrees.
    pub longitude: f64,
    /// The place's name.
    pub name: Option<String>,
    /// Its address.
    pub address: Option<String>,
    /// A live location (`isLive`, or a `liveLocationMessage`).
    pub live: bool,
}

impl Location {
    /// The location `message` carries (after unwrapping), live or not; `None` when it carries
    /// none or lacks the coordinates.
    pub fn of(message: &Message) -> Option<Self> {
        let m = message.unwrapped();
        if let Some(l) = &m.location_message {
            return Some(Self {
                latitude: l.degrees_latitude?,
                longitude: l.degrees_longitude?,
                name: l.name.clone(),
                address: l.address.clone(),
                live: l.is_live == Some(true),
            });
        }
        let l = m.live_location_message.as_ref()?;
        Some(Self {
            latitude: l.degrees_latitude?,
            longitude: l.degrees_longitude?,
            name: None,
            address: None,
            live: true,
        })
    }
}

/// A received contact message: one card (`contactMessage`) or several
/// (`contactsArrayMessage`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContactCard {
    /// The name shown: the card's, or the list's for several.
    pub display_name: Option<String>,
    /// The first card's vCard text.
    pub vcard: Option<String>,
    /// How many cards the message holds (more than one: a `contactsArrayMessage`).
    pub count: usize,
    /// Every card, in the order sent.
    pub cards: Vec<SharedContact>,
}

/// One card of a received contact message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SharedContact {
    /// The name shown for it.
    pub display_name: Option<String>,
    /// Its vCard text.
    pub vcard: Option<String>,
}

impl SharedContact {
    fn of(card: &ContactMessage) -> Self {
        Self {
            display_name: card.display_name.clone(),
            vcard: card.vcard.clone(),
        }
    }
}

impl ContactCard {
    /// The contact card(s) `message` carries (after unwrapping), or `None`.
    pub fn of(message: &Message) -> Option<Self> {
        let m = message.unwrapped();
        let (display_name, cards) = if let Some(c) = &m.contact_message {
            (c.display_name.clone(), vec![SharedContact::of(c)])
        } else {
            let array = m.contacts_array_message.as_ref()?;
            let cards: Vec<_> = array.contacts.iter().map(SharedContact::of).collect();
            let display_name = array
                .display_name
                .clone()
                .or_else(|| cards.first().and_then(|c| c.display_name.clone()));
            (display_name, cards)
        };
        Some(Self {
            display_name,
            vcard: cards.first().and_then(|c| c.vcard.clone()),
            count: cards.len(),
            cards,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::mediatype;
    use prost::Message as _;

    const ADA: &str = "BEGIN:VCARD\nVERSION:3.0\nFN;CHARSET=UTF-8:Ada Lovelace\\, Countess\n\
                       TEL;type=CELL;waid=4915112345678:+4915112345678\nEND:VCARD";

    #[test]
    fn a_location_round_trips_through_the_protobuf_with_its_mediatype() {
        let m = location_message(-33.856784, 151.215297, Some("Opera House"), Some(" ")).unwrap();
        let m = Message::decode(m.encode_to_vec().as_slice()).unwrap();
        assert_eq!(mediatype(&m), Some("location"));
        let l = Location::of(&m).unwrap();
        assert_eq!((l.latitude, l.longitude), (-33.856784, 151.215297));
        assert_eq!(l.name.as_deref(), Some("Opera House"));
        assert_eq!(l.address, None, "a blank address is left out");
        assert!(!l.live);
        for (lat, lon) in [
            (90.5, 0.0),
            (0.0, -180.1),
            (f64::NAN, 0.0),
            (0.0, f64::INFINITY),
        ] {
            assert!(
                matches!(
                    location_message(lat, lon, None, None),
                    Err(CardError::Coordinates { .. })
                ),
                "({lat}, {lon})"
            );
        }
        assert!(location_message(90.0, -180.0, None, None).is_ok());
        let long = "x".repeat(MAX_LABEL + 1);
        assert_eq!(
            location_message(0.0, 0.0, Some(&long), None),
            Err(CardError::TooLong { what: "place name" })
        );
    }

    #[test]
    fn a_contact_card_is_named_by_its_fn_unless_named_and_must_be_a_vcard() {
        let m = contact_message(None, &format!("\n{ADA}\r\n")).unwrap();
        let m = Message::decode(m.encode_to_vec().as_slice()).unwrap();
        assert_eq!(mediatype(&m), Some("vcard"));
        let card = ContactCard::of(&m).unwrap();
        assert_eq!(card.display_name.as_deref(), Some("Ada Lovelace, Countess"));
        assert_eq!(card.vcard.as_deref(), Some(ADA), "sent as given, trimmed");
        assert_eq!(card.count, 1);
        let named = contact_message(Some("Ada"), ADA).unwrap();
        assert_eq!(
            named.contact_message.unwrap().display_name.as_deref(),
            Some("Ada")
        );
        assert_eq!(
            contact_message(None, "FN:Ada"),
            Err(CardError::NotVcard),
            "no BEGIN/END"
        );
        assert_eq!(
            contact_message(None, "BEGIN:VCARD\nTEL:+1\nEND:VCARD"),
            Err(CardError::NoName)
        );
        let huge = format!(
            "BEGIN:VCARD\nFN:A\nNOTE:{}\nEND:VCARD",
            "n".repeat(MAX_VCARD)
        );
        assert!(matches!(
            contact_message(None, &huge),
            Err(CardError::VcardTooLarge { .. })
        ));
        assert_eq!(
            vcard_name("BEGIN:VCARD\nfn:bob\nEND:VCARD").as_deref(),
            Some("bob")
        );
        assert!(ContactCard::of(&Message::text("hi")).is_none());
        assert!(Location::of(&Message::text("hi")).is_none());
    }

    const ALAN: &str = "BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Alan Turing\r\nNOTE:folded\r\n END:VCARD\r\n\
                        AGENT:\r\nBEGIN:VCARD\r\nFN:Secretary\r\nEND:VCARD\r\nEND:VCARD";

    #[test]
    fn several_cards_are_one_contacts_array_each_under_its_own_name() {
        let vcf = format!("{ADA}\n\n{ALAN}\r\n");
        assert_eq!(
            split_vcards(&vcf).unwrap(),
            [ADA, ALAN],
            "nested and folded lines stay"
        );
        let m = contact_message(None, &vcf).unwrap();
        let m = Message::decode(m.encode_to_vec().as_slice()).unwrap();
        assert_eq!(mediatype(&m), Some("contact_array"));
        let list = m.contacts_array_message.as_deref().unwrap();
        assert_eq!(list.display_name.as_deref(), Some("2 contacts"));
        let names: Vec<_> = list
            .contacts
            .iter()
            .map(|c| c.display_name.as_deref())
            .collect();
        assert_eq!(names, [Some("Ada Lovelace, Countess"), Some("Alan Turing")]);
        let card = ContactCard::of(&m).unwrap();
        assert_eq!((card.count, card.cards.len()), (2, 2));
        assert_eq!(card.display_name.as_deref(), Some("2 contacts"));
        assert_eq!(card.vcard.as_deref(), Some(ADA), "the first card's text");
        assert_eq!(card.cards[1].vcard.as_deref(), Some(ALAN));
        let named = contact_message(Some("Pioneers"), &vcf).unwrap();
        let list = named.contacts_array_message.unwrap();
        assert_eq!(list.display_name.as_deref(), Some("Pioneers"));
        assert_eq!(
            list.contacts[0].display_name.as_deref(),
            Some("Ada Lovelace, Countess")
        );
    }

    #[test]
    fn a_vcf_with_stray_text_an_open_card_an_unnamed_card_or_too_many_is_refused() {
        for bad in [
            "",
            "\n \n",
            &format!("{ADA}\nhello\n{ALAN}"),
            &format!("{ADA}\nBEGIN:VCARD\nFN:Open"),
            "BEGIN:VCARD FN:one line END:VCARD",
        ] {
            assert_eq!(split_vcards(bad), Err(CardError::NotVcard), "{bad:?}");
        }
        let unnamed = format!("{ADA}\nBEGIN:VCARD\nTEL:+1\nEND:VCARD");
        assert_eq!(
            contact_message(Some("Both"), &unnamed),
            Err(CardError::UnnamedCard {
                position: 2,
                count: 2
            })
        );
        let tiny = "BEGIN:VCARD\nFN:x\nEND:VCARD\n";
        assert_eq!(
            split_vcards(&tiny.repeat(MAX_CARDS)).unwrap().len(),
            MAX_CARDS
        );
        assert_eq!(
            split_vcards(&tiny.repeat(MAX_CARDS + 3)),
            Err(CardError::TooManyCards {
                count: MAX_CARDS + 3,
                limit: MAX_CARDS
            })
        );
        let big = format!(
            "BEGIN:VCARD\nFN:A\nNOTE:{}\nEND:VCARD\n",
            "n".repeat(MAX_VCARD)
        );
        assert!(matches!(
            split_vcards(&format!("{ADA}\n{big}")),
            Err(CardError::VcardTooLarge {
                limit: MAX_VCARD,
                ..
            })
        ));
        let huge = "x".repeat(MAX_CARDS_TEXT + 1);
        assert!(matches!(
            split_vcards(&huge),
            Err(CardError::VcardTooLarge { .. })
        ));
    }

    proptest::proptest! {
        /// Any arrangement of card lines: no panic, and every card found is a whole card of
        /// the text, as given.
        #[test]
        fn split_cards_are_whole_cards_of_the_text(
            lines in proptest::collection::vec(
                proptest::sample::select(vec![
                    "BEGIN:VCARD", "begin:vcard ", "END:VCARD", " END:VCARD", "FN:Ada", "",
                    "\tBEGIN:VCARD", "junk", "END:VCARD\r",
                ]),
                0..40,
            ),
        ) {
            let text = lines.join("\n");
            if let Ok(cards) = split_vcards(&text) {
                proptest::prop_assert!(!cards.is_empty() && cards.len() <= MAX_CARDS);
                for card in cards {
                    proptest::prop_assert!(text.contains(card));
                    proptest::prop_assert!(card.get(..11).is_some_and(|b| b.eq_ignore_ascii_case("BEGIN:VCARD")));
                    proptest::prop_assert!(card.ends_with("END:VCARD"));
                }
            }
        }
    }
}
