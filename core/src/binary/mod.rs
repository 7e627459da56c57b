//! WABinary: the binary XML-like encoding of every stanza after the Noise handshake
//! (`transport.md` §6–§8).
//!
//! ```text
//! transport plaintext := flags (1 byte) || body        body = node, or zlib(node) if flags & 0x02
//! node                := list_header(L) || tag || A × (key || value) || [content]
//! ```
//!
//! - [`Node`] / [`Value`] / [`Content`]: the decoded model; attribute order is kept.
//! - [`Str`]: the model's string type (static token, inline short string or shared).
//! - [`Jid`]: typed JIDs, parsed and printed as whatsmeow does (`transport.md` §8).
//! - [`TokenDict`]: the token dictionaries, a codec parameter (version 3 by default, version 2
//!   for old clients such as npm Baileys 6.x).
//! - [`encode`] / [`decode`]: the node codec; [`encode_plaintext`] / [`decode_plaintext`] add
//!   the flags byte and the bounded zlib inflate.
//! - [`text`]: the XML-like text form used by `Display` and `tether node decode|encode`.

pub mod jid;
pub mod node;
pub mod string;
pub mod text;
pub mod token;

mod decode;
mod encode;
mod plaintext;

pub use decode::{DecodeError, DecodeErrorKind, MAX_DEPTH, decode};
pub use encode::{EncodeError, MAX_BINARY_LEN, MAX_LIST_LEN, encode};
pub use jid::{Jid, JidParseError, Server};
pub use node::{Attr, Attrs, Content, INLINE_ATTRS, Node, Value};
pub use plaintext::{
    DEFAULT_MAX_INFLATED_LEN, FLAG_COMPRESSED, decode_plaintext, decode_plaintext_with_limit,
    encode_plaintext,
};
pub use string::Str;
pub use token::{Token, TokenDict};
