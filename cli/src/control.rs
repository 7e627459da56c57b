//! The CLI's side of the control socket (the protocol, server and client live in
//! `tether-control`): one-shot requests to a running instance, with the two outcomes the
//! commands act on — nobody serves the store, or the request failed (the message says why).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
pub(crate) use tether_control::Request;

/// Why a request could not be answered.
#[derive(Debug)]
pub(crate) enum AskError {
    /// No instance serves the socket (no file, or nobody listening).
    NoOwner,
    /// The instance refused, or the exchange failed.
    Failed(String),
}

/// Sends one request to the instance serving the socket at `path`.
pub(crate) fn ask(path: &Path, request: &Request, timeout: Duration) -> Result<Value, AskError> {
    tether_control::ask(path, request, timeout).map_err(|e| match e {
        tether_control::AskError::NoOwner => AskError::NoOwner,
        other => AskError::Failed(other.to_string()),
    })
}
