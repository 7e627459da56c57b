//! Waiting for `mediaretry` notifications (`media.md` §4.4) on any executor: the driver task
//! hands every `Event::Stanza` it sees to [`MediaRetryTracker::observe`], which keeps the
//! newest [`KEPT`] `mediaretry` notifications by message id; a download that asked its phone
//! for a re-upload waits for the one naming its message.
//!
//! ```text
//! download ─▶ 403/404/410 ─▶ wait(id) ─▶ <receipt type=server-error> sent ─┬─ notification(id) ─▶ Ok(node)
//!                                                                         ├─ driver ended ─▶ Err(NotConnected)
//!                                                                         └─ (the caller's timer) ─▶ Timeout
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tether_core::binary::{Jid, Node, Server};
use tether_core::connection::Event;
use tether_core::media::retry::{RetryTarget, read_retry_notification, retry_receipt};
use tether_core::media::{MediaError, MediaRef, RetryError};
use tether_core::messaging::types::IncomingMessage;

use crate::media::MediaDial;

/// Notifications kept for waiters that have not looked yet.
pub const KEPT: usize = 64;

/// The media-retry flow for `message`, whose download the host refused with `status`
/// (403/404/410): sends the encrypted `server-error` receipt to `own` (this device's JID)
/// through `send`, waits up to `timeout` for the phone's `mediaretry` notification
/// and returns the media with the new direct path (key and hashes unchanged). Every failure
/// is [`MediaError::Expired`] with the reason.
pub async fn reuploaded<D: MediaDial>(
    net: &D,
    tracker: &Arc<MediaRetryTracker>,
    own: &Jid,
    message: &IncomingMessage,
    status: u16,
    timeout: Duration,
    send: impl FnOnce(Node) -> Result<(), String>,
) -> Result<MediaRef, MediaError> {
    let expired = |retry| MediaError::Expired { status, retry };
    let media = MediaRef::of(&message.message).ok_or(MediaError::NotMedia)?;
    let key = media.media_key()?.clone();
    let target = RetryTarget {
        id: message.id.0.clone(),
        chat: message.chat.clone(),
        from_me: message.from_me,
        participant: (*message.chat.server() == Server::Group).then(|| message.sender.clone()),
    };
    let mut iv = [0u8; 12];
    getrandom::fill(&mut iv).map_err(|e| MediaError::Io {
        what: "drawing a media-retry IV".into(),
        detail: e.to_string(),
    })?;
    let wait = tracker.wait(&target.id);
    send(retry_receipt(&target, own, &key, iv)).map_err(|_| expired(RetryError::NotConnected))?;
    let wait = std::pin::pin!(wait);
    let timer = std::pin::pin!(net.sleep(timeout));
    let node = match futures_util::future::select(wait, timer).await {
        futures_util::future::Either::Left((answer, _)) => answer.map_err(expired)?,
        futures_util::future::Either::Right(_) => {
            return Err(expired(RetryError::Timeout(timeout.as_secs())));
        }
    };
    let direct_path = read_retry_notification(&node, &key).map_err(expired)?;
    let mut media = media;
    media.direct_path = Some(direct_path);
    // The old URL names the expired path.
    media.url = None;
    Ok(media)
}

/// The `mediaretry` notifications the driver task saw, by message id.
#[derive(Debug, Default)]
pub struct MediaRetryTracker {
    inner: Mutex<Tracked>,
}

#[derive(Debug, Default)]
struct Tracked {
    notifications: VecDeque<(String, Node)>,
    wakers: Vec<Waker>,
    closed: bool,
}

impl MediaRetryTracker {
    fn lock(&self) -> MutexGuard<'_, Tracked> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A future for the notification about message `id`: create it before sending the
    /// request. An older notification about `id` that nobody took is dropped.
    pub fn wait(self: &Arc<Self>, id: &str) -> MediaRetryWait {
        self.lock().notifications.retain(|(kept, _)| kept != id);
        MediaRetryWait {
            tracker: Arc::clone(self),
            id: id.to_owned(),
        }
    }

    /// The driver task saw `event`.
    pub fn observe(&self, event: &Event) {
        let Event::Stanza(node) = event else {
            return;
        };
        if node.tag != "notification" || node.attr_str("type") != Some("mediaretry") {
            return;
        }
        let Some(id) = node.attr_str("id") else {
            return;
        };
        let mut tracked = self.lock();
        if tracked.notifications.len() >= KEPT {
            tracked.notifications.pop_front();
        }
        tracked
            .notifications
            .push_back((id.to_owned(), node.clone()));
        for waker in tracked.wakers.drain(..) {
            waker.wake();
        }
    }

    /// The driver ended: every waiter resolves with [`RetryError::NotConnected`].
    pub fn close(&self) {
        let mut tracked = self.lock();
        tracked.closed = true;
        for waker in tracked.wakers.drain(..) {
            waker.wake();
        }
    }
}

/// The `mediaretry` notification about one message ([`MediaRetryTracker::wait`]).
#[derive(Debug)]
#[must_use = "await it for the notification"]
pub struct MediaRetryWait {
    tracker: Arc<MediaRetryTracker>,
    id: String,
}

impl Future for MediaRetryWait {
    type Output = Result<Node, RetryError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut tracked = self.tracker.lock();
        if let Some(at) = tracked
            .notifications
            .iter()
            .position(|(id, _)| *id == self.id)
            && let Some((_, node)) = tracked.notifications.remove(at)
        {
            return Poll::Ready(Ok(node));
        }
        if tracked.closed {
            return Poll::Ready(Err(RetryError::NotConnected));
        }
        if !tracked.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            tracked.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn notification(id: &str, kind: &str) -> Event {
        Event::Stanza(
            Node::new("notification")
                .attr("id", id.to_owned())
                .attr("type", kind.to_owned()),
        )
    }

    #[test]
    fn a_waiter_gets_the_notification_about_its_message_only() {
        let tracker = Arc::new(MediaRetryTracker::default());
        let mut wait = tracker.wait("A");
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(Pin::new(&mut wait).poll(&mut cx).is_pending());
        tracker.observe(&notification("B", "mediaretry"));
        tracker.observe(&notification("A", "devices"));
        assert!(Pin::new(&mut wait).poll(&mut cx).is_pending());
        tracker.observe(&notification("A", "mediaretry"));
        match Pin::new(&mut wait).poll(&mut cx) {
            Poll::Ready(Ok(node)) => assert_eq!(node.attr_str("id"), Some("A")),
            other => panic!("{other:?}"),
        }
        // Once taken it is gone; after the close a waiter resolves with an error.
        let mut again = tracker.wait("A");
        assert!(Pin::new(&mut again).poll(&mut cx).is_pending());
        tracker.close();
        assert!(matches!(
            Pin::new(&mut again).poll(&mut cx),
            Poll::Ready(Err(RetryError::NotConnected))
        ));
    }
}
