//! The CLI's side of the control socket (the protocol, server, client and the trust checks
//! live in `tether-control`): one-shot requests to a running instance, with the outcomes the
//! commands act on — nobody serves the store, the socket is not to be trusted (another user's
//! file or server, a link), or the request failed (the message says why).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
pub(crate) use tether_control::Request;
pub(crate) use tether_control::socket::{Peer, own_uid, writable_by_others};

/// Why a request could not be answered.
#[derive(Debug)]
pub(crate) enum AskError {
    /// No instance serves the socket (no file, or nobody listening).
    NoOwner,
    /// The socket is not the owner's: another user's file or server, or a link. It was not
    /// used.
    Untrusted(String),
    /// The instance refused, or the exchange failed.
    Failed(String),
}

impl From<tether_control::AskError> for AskError {
    fn from(e: tether_control::AskError) -> Self {
        match e {
            tether_control::AskError::NoOwner => Self::NoOwner,
            tether_control::AskError::Untrusted(why) => Self::Untrusted(why),
            other => Self::Failed(other.to_string()),
        }
    }
}

/// Sends one request to the instance serving the socket at `path`.
pub(crate) fn ask(path: &Path, request: &Request, timeout: Duration) -> Result<Value, AskError> {
    Ok(tether_control::ask(path, request, timeout)?)
}

/// [`ask`], to a socket of user `uid` served by user `uid`; also returns who answered.
pub(crate) fn ask_peer(
    path: &Path,
    request: &Request,
    timeout: Duration,
    uid: u32,
) -> Result<(Value, Peer), AskError> {
    Ok(tether_control::ask_peer(path, request, timeout, uid)?)
}
