//! Differential testing of Tether's WABinary codec against the npm build of Baileys.
//!
//! The Node.js side is `interop/codec.mjs` (Baileys 6.17.16 with the dictionary-version-3 token
//! tables passed through its codec options); it speaks JSON lines in an *interchange* form:
//!
//! ```text
//! node    = {"tag": str, "attrs": [[key, value], ...], "content": content}
//! content = null | [node, ...] | {"hex": "..."} | {"str": "..."}
//! ```
//!
//! - [`json`]: interchange JSON ↔ [`tether_core::binary::Node`].
//! - [`canon`]: the **one place** where the two sides are normalised before comparing (DESIGN
//!   §3.1): byte content and string content compare as bytes, and JIDs compare as strings in
//!   whatsmeow's rendering. `codec.mjs` prints Baileys' nodes as they are.
//! - [`harness`]: runs `node interop/codec.mjs <mode>` and pipes JSON lines through it.
//!
//! - [`fidelity`]: runs the real Baileys client (`interop/fidelity.mjs`) against a
//!   `SimServer` and links Baileys sessions ([`fidelity::link_baileys_session`]).
//!
//! - [`signal`]: runs npm libsignal 6.0.0 as Baileys drives it (`interop/signal.mjs`) for the
//!   differential suite of `tether-signal`.
//!
//! The harness needs the npm package installed: `(cd interop && npm ci --ignore-scripts)`.

pub mod canon;
pub mod fidelity;
pub mod harness;
pub mod json;
pub mod signal;

pub use canon::{Canon, CanonContent, first_difference};
pub use harness::{Baileys, Generated, INSTALL_HINT, repo_root};
pub use json::{JidMode, node_from_json};
