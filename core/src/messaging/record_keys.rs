//! Store keys of the messaging records that code outside the messaging layer writes too (an
//! import of another client's Signal files): one definition, used by the layer itself.
//!
//! | table | key | value |
//! |---|---|---|
//! | [`Table::Sessions`](crate::records::Table::Sessions) | [`session`]: the canonical address (`<user>[_<domain>].<device>`) | `tether_signal::SessionRecord::to_bytes` |
//! | [`Table::Identities`](crate::records::Table::Identities) | [`identity`]: the same address | the 32-byte identity key |
//! | [`Table::SenderKeys`](crate::records::Table::SenderKeys) | [`sender_key`]: `<group JID>\|<address>` | `tether_signal::SenderKeyRecord::to_bytes` |
//! | [`Table::LidMap`](crate::records::Table::LidMap) | [`lid_of_pn`]: `pn:<digits>`; [`pn_of_lid`]: `lid:<digits>` | the other side's digits |

use bytes::Bytes;

use super::address::Address;
use crate::binary::Jid;

/// The key of a device's Signal session.
pub fn session(address: &Address) -> Bytes {
    address.key()
}

/// The key of a device's identity key.
pub fn identity(address: &Address) -> Bytes {
    address.key()
}

/// The key of a group member's sender key.
pub fn sender_key(group: &Jid, sender: &Address) -> Bytes {
    Bytes::from(format!("{}|{}", group.to_non_ad(), sender))
}

/// The key under which a phone-number user's LID is kept (value: the LID digits).
pub fn lid_of_pn(pn_user: &str) -> Bytes {
    Bytes::from(format!("pn:{pn_user}"))
}

/// The key under which a LID user's phone number is kept (value: the phone-number digits).
pub fn pn_of_lid(lid_user: &str) -> Bytes {
    Bytes::from(format!("lid:{lid_user}"))
}
