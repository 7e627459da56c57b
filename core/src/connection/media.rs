//! `media_conn` through the connection (`media.md` §1): the upload token and media hosts,
//! asked with an iq while logged in and kept until `min(ttl, auth_ttl)` runs out.
//!
//! ```text
//! Command::MediaConn { refresh: false } ── a fresh answer cached? ─▶ Event::MediaConn (at once)
//!        │ no (or refresh: true)
//!        ▼
//!   not logged in ─▶ Err(InvalidState)          one already asked ─▶ wait for its answer
//!        ▼
//!   <iq xmlns="w:m" type="set"><media_conn/></iq> ─▶ answer ─┬─ parsed ─▶ cached, Event::MediaConn
//!                                                             └─ error ──▶ Event::MediaConnFailed
//!   transport lost while asked ─▶ Event::MediaConnFailed(NotConnected)
//! ```
//!
//! The cache outlives reconnects (the token is the account's, not the socket's); a host that
//! refuses the token is the adapter's cue to ask again with `refresh: true`.

use std::time::Instant;

use super::{CommandError, Connection, Event, State};
use crate::binary::Node;
use crate::media::{MediaConn, MediaConnError, conn};

/// The cached answer and whether one is being asked for.
#[derive(Debug, Default)]
pub(super) struct MediaConnCache {
    answer: Option<MediaConn>,
    asked: bool,
}

impl Connection {
    /// The cached `media_conn` answer while it is still good at `now` (see
    /// [`Command::MediaConn`](super::Command::MediaConn) to ask for one).
    pub fn media_conn(&self, now: Instant) -> Option<&MediaConn> {
        self.media
            .answer
            .as_ref()
            .filter(|answer| answer.is_fresh(now))
    }

    /// `Command::MediaConn`: answers from the cache unless `refresh`, else asks the server.
    pub(super) fn request_media_conn(
        &mut self,
        refresh: bool,
        now: Instant,
    ) -> Result<(), CommandError> {
        if !refresh && let Some(answer) = self.media_conn(now) {
            let answer = Box::new(answer.clone());
            self.events.push_back(Event::MediaConn(answer));
            return Ok(());
        }
        if self.state != State::Connected {
            return Err(self.invalid("media_conn"));
        }
        if self.media.asked {
            return Ok(());
        }
        self.media.asked = true;
        let iq = self
            .session
            .media_conn_iq()
            .children(vec![conn::request_child()]);
        self.send(&iq, now);
        Ok(())
    }

    /// The server's answer to the `media_conn` iq.
    pub(super) fn on_media_conn_answer(&mut self, node: &Node, now: Instant) {
        self.media.asked = false;
        match MediaConn::parse(node, now) {
            Ok(answer) => {
                self.media.answer = Some(answer.clone());
                self.events.push_back(Event::MediaConn(Box::new(answer)));
            }
            Err(reason) => {
                tracing::warn!(%reason, "media_conn refused");
                self.events.push_back(Event::MediaConnFailed { reason });
            }
        }
    }

    /// The transport ended: an unanswered `media_conn` iq never will be.
    pub(super) fn media_conn_lost(&mut self) {
        if std::mem::take(&mut self.media.asked) {
            self.events.push_back(Event::MediaConnFailed {
                reason: MediaConnError::NotConnected,
            });
        }
    }
}
