//! Locations and contact cards (`media.md` §3.3): messages that carry no file, built and
//! checked here, sent like any other message (the outbox gives them `type="media"` and the
//! stanza `mediatype` `location` / `vcard`, §3.7).
//!
//! ```text
//! latitude, longitude (checked), name?, address? ──location_message──▶ locationMessage
//! display name? (else the vCard's FN), vCard (checked) ──contact_message──▶ contactMessage
//! received: Message ──Location::of / ContactCard::of──▶ the typed fields (after unwrapping)
//! ```
//!
//! The fields are those Baileys' `generateWAMessageContent` sends for `{location}` and
//! `{contacts}` with one contact: `degreesLatitude`, `degreesLongitude`, `name`, `address`;
//! `displayName`, `vcard`.
//!
//! ```
//! use tether_core::media::cards::{contact_message, location_message};
//!
//! let pin = location_message(52.520008, 13.404954, Some("Brandenburg Gate"), None)?;
//! assert_eq!(pin.location_message.unwrap().degrees_latitude, Some(52.520008));
//! let vcard = "BEGIN:VCARD\nVERSION:3.0\nFN:Ada Lovelace\nTEL:+4915112345678\nEND:VCARD";
//! let card = contact_message(None, vcard)?; // the name shown: the vCard's FN
//! assert_eq!(card.contact_message.unwrap().display_name.as_deref(), Some("Ada Lovelace"));
//! # Ok::<(), tether_core::media::cards::CardError>(())
//! ```

use thiserror::Error;

use crate::driver::MessagingError;
use crate::proto::media::{ContactMessage, LocationMessage};
use crate::proto::message::Message;

/// The largest vCard sent (bytes). A bound of Tether's own: the apps' `vcard_max_size_kb` is
/// not known; a card with a small photo fits.
pub const MAX_VCARD: usize = 32 * 1024;

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
    /// The text is not a vCard.
    #[error(
        "the contact card is not a vCard: it must start with BEGIN:VCARD and end with END:VCARD"
    )]
    NotVcard,
    /// The vCard is larger than [`MAX_VCARD`].
    #[error("the vCard is {size} bytes, more than the {limit} allowed; drop its photo or notes")]
    VcardTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// No display name was given and the vCard has no `FN` line.
    #[error("the contact card has no name: give a display name, or an FN line in the vCard")]
    NoName,
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

/// A contact card: `vcard` (vCard text, sent as given) shown as `display_name`, or when that is
/// `None` as the vCard's `FN`.
pub fn contact_message(display_name: Option<&str>, vcard: &str) -> Result<Message, CardError> {
    if vcard.len() > MAX_VCARD {
        return Err(CardError::VcardTooLarge {
            size: vcard.len(),
            limit: MAX_VCARD,
        });
    }
    let card = vcard.trim();
    let starts = card
        .get(..11)
        .is_some_and(|s| s.eq_ignore_ascii_case("BEGIN:VCARD"));
    let ends = card
        .len()
        .checked_sub(9)
        .and_then(|i| card.get(i..))
        .is_some_and(|s| s.eq_ignore_ascii_case("END:VCARD"));
    if !(starts && ends) {
        return Err(CardError::NotVcard);
    }
    let display_name = match label(display_name, "display name")? {
        Some(name) => name,
        None => label(vcard_name(card).as_deref(), "vCard's FN")?.ok_or(CardError::NoName)?,
    };
    Ok(Message {
        contact_message: Some(Box::new(ContactMessage {
            display_name: Some(display_name),
            vcard: Some(card.to_owned()),
            ..ContactMessage::default()
        })),
        ..Message::default()
    })
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

/// A received contact card (the first of a contacts array).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContactCard {
    /// The name shown.
    pub display_name: Option<String>,
    /// The vCard text.
    pub vcard: Option<String>,
    /// How many cards the message holds (more than one: a `contactsArrayMessage`).
    pub count: usize,
}

impl ContactCard {
    /// The contact card(s) `message` carries (after unwrapping), or `None`.
    pub fn of(message: &Message) -> Option<Self> {
        let m = message.unwrapped();
        if let Some(c) = &m.contact_message {
            return Some(Self {
                display_name: c.display_name.clone(),
                vcard: c.vcard.clone(),
                count: 1,
            });
        }
        let array = m.contacts_array_message.as_ref()?;
        let first = array.contacts.first();
        Some(Self {
            display_name: array
                .display_name
                .clone()
                .or_else(|| first.and_then(|c| c.display_name.clone())),
            vcard: first.and_then(|c| c.vcard.clone()),
            count: array.contacts.len(),
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
}
