//! Waiting for the server's answer to a sent message, on any executor: a [`PendingSend`] is
//! a future that resolves when the driver task sees `Event::Sent` or `Event::SendFailed` with
//! its id (or the driver ends first).
//!
//! ```text
//!  Client::send ── lock ─▶ Driver::send → id ─▶ SendTracker::watch(id) ── unlock ─▶ PendingSend
//!  driver task: every Job::Event ─▶ SendTracker::observe ─▶ Sent / SendFailed → wake the waiter
//!  driver ends ─▶ SendTracker::close ─▶ every waiter: Unanswered
//! ```
//!
//! The id is watched before the driver lock is released, so the answer (a later input,
//! handled under the same lock) can never pass its waiter. Only watched ids take memory, and
//! a dropped [`PendingSend`] forgets its id.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use tether_core::binary::Jid;
use tether_core::connection::Event;
use tether_core::driver::{ClientError, Driver, MessagingError, Sent, lock};
use tether_core::messaging::ids::MessageId;
use tether_core::messaging::types::SendError;
use tether_core::proto::message::Message;

use crate::groups::GroupWaiters;

/// Where one watched send stands.
#[derive(Debug)]
enum Slot {
    /// No answer yet; the waker of the task awaiting it, once polled.
    Waiting(Option<Waker>),
    /// The answer.
    Done(Result<u64, SendError>),
}

/// The sends being waited for, shared by a client's handles and its driver task; it carries
/// the group queries being waited for too ([`GroupWaiters`]), which see the same events.
#[derive(Debug, Default)]
pub struct SendTracker {
    inner: Mutex<Tracked>,
    groups: Arc<GroupWaiters>,
}

#[derive(Debug, Default)]
struct Tracked {
    slots: HashMap<MessageId, Slot>,
    closed: bool,
}

impl SendTracker {
    /// A tracker with nothing watched.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, Tracked> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Watches `id`: the returned future resolves with its answer. Call it before releasing
    /// the driver lock under which the message was sent.
    pub fn watch(self: &Arc<Self>, id: MessageId) -> PendingSend {
        let mut tracked = self.lock();
        if !tracked.closed {
            tracked.slots.insert(id.clone(), Slot::Waiting(None));
        }
        PendingSend {
            id,
            tracker: Arc::clone(self),
        }
    }

    /// The group queries waited for on this client.
    pub fn groups(&self) -> &Arc<GroupWaiters> {
        &self.groups
    }

    /// The driver task saw `event`: answers the waiter of a `Sent` or `SendFailed` (and those
    /// of group queries it answers).
    pub fn observe(&self, event: &Event) {
        self.groups.observe(event);
        let (id, answer) = match event {
            Event::Sent { id, t, .. } => (id, Ok(*t)),
            Event::SendFailed { id, reason } => (id, Err(reason.clone())),
            _ => return,
        };
        let mut tracked = self.lock();
        if let Some(slot) = tracked.slots.get_mut(id)
            && let Slot::Waiting(waker) = std::mem::replace(slot, Slot::Done(answer))
            && let Some(waker) = waker
        {
            waker.wake();
        }
    }

    /// The driver ended: every waiter resolves ([`MessagingError::Unanswered`] unless its
    /// answer came), and later watches resolve at once.
    pub fn close(&self) {
        self.groups.close();
        let mut tracked = self.lock();
        tracked.closed = true;
        for slot in tracked.slots.values_mut() {
            if let Slot::Waiting(waker) = slot
                && let Some(waker) = waker.take()
            {
                waker.wake();
            }
        }
    }

    /// A guard that [`close`](Self::close)s the tracker when dropped: the driver task holds
    /// it, so waiters resolve even when the task is dropped or aborted instead of ending.
    pub fn close_on_drop(self: &Arc<Self>) -> CloseOnDrop {
        CloseOnDrop(Arc::clone(self))
    }

    /// How many sends are watched (for tests and metrics).
    pub fn watched(&self) -> usize {
        self.lock().slots.len()
    }
}

/// Closes its [`SendTracker`] when dropped ([`SendTracker::close_on_drop`]).
#[derive(Debug)]
pub struct CloseOnDrop(Arc<SendTracker>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A message handed to the connection: its [`id`](PendingSend::id) at once, and, awaited,
/// the server's answer: [`Sent`] (the server accepted it) or a [`MessagingError`]
/// (`Failed` with the typed reason, or `Unanswered` when the client ended first; the message
/// is durable either way and a restart resends an unanswered one).
///
/// Dropping it does not cancel the message; it only stops waiting.
#[derive(Debug)]
#[must_use = "await it for the server's answer, or drop it to send without waiting"]
pub struct PendingSend {
    id: MessageId,
    tracker: Arc<SendTracker>,
}

impl PendingSend {
    /// The message id (what receipts and `Event::Sent` name).
    pub fn id(&self) -> &MessageId {
        &self.id
    }
}

impl Future for PendingSend {
    type Output = Result<Sent, MessagingError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut tracked = this.tracker.lock();
        let closed = tracked.closed;
        let unanswered = || MessagingError::Unanswered {
            id: this.id.clone(),
        };
        match tracked.slots.get_mut(&this.id) {
            Some(Slot::Waiting(_)) if closed => {
                tracked.slots.remove(&this.id);
                Poll::Ready(Err(unanswered()))
            }
            Some(Slot::Waiting(waker)) => {
                *waker = Some(cx.waker().clone());
                Poll::Pending
            }
            Some(Slot::Done(_)) => match tracked.slots.remove(&this.id) {
                Some(Slot::Done(Ok(t))) => Poll::Ready(Ok(Sent {
                    id: this.id.clone(),
                    t,
                })),
                Some(Slot::Done(Err(reason))) => Poll::Ready(Err(MessagingError::Failed {
                    id: this.id.clone(),
                    reason,
                })),
                _ => Poll::Ready(Err(unanswered())),
            },
            // Watched after the driver ended, or polled again after it resolved.
            None => Poll::Ready(Err(unanswered())),
        }
    }
}

impl Drop for PendingSend {
    fn drop(&mut self) {
        self.tracker.lock().slots.remove(&self.id);
    }
}

/// What both adapters' `Client::send` does: refuses when the driver has ended, else sends
/// under the driver lock and watches the id before releasing it. The caller then wakes its
/// driver task.
pub fn send_watched(
    shared: &Mutex<Driver>,
    tracker: &Arc<SendTracker>,
    ended: bool,
    to: Jid,
    message: Message,
    now: Instant,
) -> Result<PendingSend, MessagingError> {
    if ended {
        return Err(ClientError::Ended.into());
    }
    let mut driver = lock(shared);
    let id = driver.send(to, message, now)?;
    let pending = tracker.watch(id);
    drop(driver);
    Ok(pending)
}

/// The current time in Unix milliseconds (reaction timestamps), from the OS clock.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The messaging methods both adapters' `Client` share, written once. Expand it inside
/// `impl Client { … }` of a type that has `fn command(&self, Command) -> Result<(),
/// ClientError>`, `fn send(&self, to: impl IntoRecipient, message: impl Into<Message>) ->
/// Result<PendingSend, MessagingError>` and a field `sends: Arc<SendTracker>` that its driver
/// task feeds every event.
#[macro_export]
macro_rules! messaging_methods {
    () => {
        /// Sends a text message to `to` (a phone number such as `"+15551234567"`, a user JID,
        /// a LID or a [`Jid`](tether_core::binary::Jid)). Returns at once with the id;
        /// awaiting the [`PendingSend`] waits for the server's acknowledgement.
        pub fn send_text(
            &self,
            to: impl $crate::__core::messaging::recipient::IntoRecipient,
            text: impl Into<String>,
        ) -> Result<$crate::sends::PendingSend, $crate::__core::driver::MessagingError> {
            self.send(to, $crate::__core::proto::message::Message::text(text))
        }

        /// Sends a location pin to `to`: `latitude`, `longitude` in decimal degrees, with the
        /// place's `name` and `address` shown under the map when given. Coordinates off the
        /// globe are refused (`SendCardError::Card`) and nothing is queued.
        pub fn send_location(
            &self,
            to: impl $crate::__core::messaging::recipient::IntoRecipient,
            latitude: f64,
            longitude: f64,
            name: Option<&str>,
            address: Option<&str>,
        ) -> Result<$crate::sends::PendingSend, $crate::__core::media::cards::SendCardError> {
            let message =
                $crate::__core::media::cards::location_message(latitude, longitude, name, address)?;
            Ok(self.send(to, message)?)
        }

        /// Sends a contact card to `to`: `vcard` (vCard text, e.g. a `.vcf` file's content)
        /// shown as `display_name`, or when that is `None` as the vCard's `FN`. Text holding
        /// several cards sends them all in one message (a list shown as `display_name` or
        /// "N contacts", each card under its `FN`). Text that is not a vCard is refused
        /// (`SendCardError::Card`) and nothing is queued.
        pub fn send_contact(
            &self,
            to: impl $crate::__core::messaging::recipient::IntoRecipient,
            display_name: Option<&str>,
            vcard: &str,
        ) -> Result<$crate::sends::PendingSend, $crate::__core::media::cards::SendCardError> {
            let message = $crate::__core::media::cards::contact_message(display_name, vcard)?;
            Ok(self.send(to, message)?)
        }

        /// Replies to a received message in its chat, quoting it.
        pub fn reply(
            &self,
            to: &$crate::__core::messaging::types::IncomingMessage,
            text: impl Into<String>,
        ) -> Result<$crate::sends::PendingSend, $crate::__core::driver::MessagingError> {
            self.send(
                &to.chat,
                $crate::__core::messaging::compose::Text::new(text).reply_to(to),
            )
        }

        /// Reacts to a message with an emoji (`""` removes an earlier reaction); the
        /// reaction goes to the message's chat.
        pub fn react(
            &self,
            to: impl Into<$crate::__core::messaging::compose::ReactionTarget>,
            emoji: &str,
        ) -> Result<$crate::sends::PendingSend, $crate::__core::driver::MessagingError> {
            let target = to.into();
            let message = $crate::__core::messaging::compose::reaction(
                &target,
                emoji,
                $crate::sends::unix_ms(),
            );
            self.send(&target.chat, message)
        }

        /// Marks messages of `chat` read (blue ticks for the sender): `ids` sent by
        /// `sender` (needed in groups; `None` in 1:1 chats). Needs a live connection.
        pub fn mark_read_ids(
            &self,
            chat: &$crate::__core::binary::Jid,
            sender: Option<&$crate::__core::binary::Jid>,
            ids: Vec<$crate::__core::messaging::ids::MessageId>,
        ) -> Result<(), $crate::__core::driver::ClientError> {
            let group = *chat.server() == $crate::__core::binary::Server::Group;
            self.command($crate::__core::connection::Command::MarkRead {
                chat: chat.clone(),
                participant: sender.filter(|_| group).cloned(),
                ids,
            })
        }

        /// Marks a received message read. Needs a live connection.
        pub fn mark_read(
            &self,
            message: &$crate::__core::messaging::types::IncomingMessage,
        ) -> Result<(), $crate::__core::driver::ClientError> {
            self.mark_read_ids(
                &message.chat,
                Some(&message.sender),
                vec![message.id.clone()],
            )
        }

        /// Shows `chat` that this account is typing, recording, or has stopped
        /// ([`ChatState`](tether_core::messaging::chatstate::ChatState)). Needs a live
        /// connection.
        pub fn typing(
            &self,
            chat: impl $crate::__core::messaging::recipient::IntoRecipient,
            state: $crate::__core::messaging::chatstate::ChatState,
        ) -> Result<(), $crate::__core::driver::MessagingError> {
            let to = chat.into_recipient()?;
            Ok(self.command($crate::__core::connection::Command::ChatState { to, state })?)
        }

        /// Sets the account's presence: `available` (online; delivery receipts become
        /// active) or unavailable. Needs a live connection.
        pub fn set_presence(
            &self,
            available: bool,
        ) -> Result<(), $crate::__core::driver::ClientError> {
            self.command($crate::__core::connection::Command::Presence { available })
        }

        /// Asks the server for a group's metadata (subject, addressing mode, creator,
        /// members with their roles); awaiting the [`PendingGroupInfo`] gives it, or why not
        /// (the group does not exist, this account is not a member, the connection dropped).
        /// Needs a live connection. The answer also refreshes the cached row that group sends
        /// use.
        ///
        /// [`PendingGroupInfo`]: tether_net_common::groups::PendingGroupInfo
        pub fn group_info(
            &self,
            group: impl $crate::__core::messaging::recipient::IntoRecipient,
        ) -> Result<$crate::groups::PendingGroupInfo, $crate::groups::GroupQueryError> {
            let group = $crate::groups::group_jid(group)?;
            let pending = self.sends.groups().watch_info(&group);
            self.command($crate::__core::connection::Command::QueryGroup { group })?;
            Ok(pending)
        }

        /// Asks the server for the groups this account is in, each with its metadata;
        /// awaiting the [`PendingGroupList`] gives them. Needs a live connection.
        ///
        /// [`PendingGroupList`]: tether_net_common::groups::PendingGroupList
        pub fn joined_groups(
            &self,
        ) -> Result<$crate::groups::PendingGroupList, $crate::groups::GroupQueryError> {
            let pending = self.sends.groups().watch_list();
            self.command($crate::__core::connection::Command::ListGroups)?;
            Ok(pending)
        }

        /// Confirms that the application has handled these inbox entries
        /// ([`IncomingMessage::inbox`](tether_core::messaging::types::IncomingMessage::inbox)):
        /// they are not emitted again after a restart. Unconfirmed ones are.
        pub fn confirm(
            &self,
            positions: &[$crate::__core::messaging::types::InboxPos],
        ) -> Result<(), $crate::__core::driver::ClientError> {
            self.command($crate::__core::connection::Command::Confirm {
                positions: positions.to_vec(),
            })
        }
    };
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn to() -> Jid {
        "15551234567@s.whatsapp.net".parse().unwrap()
    }

    fn poll(p: &mut PendingSend, count: &Arc<Count>) -> Poll<Result<Sent, MessagingError>> {
        let waker = Waker::from(Arc::clone(count));
        Pin::new(p).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn a_watched_send_resolves_with_its_answer_and_only_its_own() {
        let tracker = SendTracker::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let mut a = tracker.watch(MessageId("A".into()));
        let mut b = tracker.watch(MessageId("B".into()));
        assert!(poll(&mut a, &count).is_pending());
        assert!(poll(&mut b, &count).is_pending());
        tracker.observe(&Event::Sent {
            id: MessageId("A".into()),
            to: to(),
            t: 17,
        });
        tracker.observe(&Event::Sent {
            id: MessageId("unwatched".into()),
            to: to(),
            t: 1,
        });
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "only A's waiter woke");
        match poll(&mut a, &count) {
            Poll::Ready(Ok(sent)) => assert_eq!((sent.id.0.as_str(), sent.t), ("A", 17)),
            other => panic!("{other:?}"),
        }
        assert!(poll(&mut b, &count).is_pending());
        tracker.observe(&Event::SendFailed {
            id: MessageId("B".into()),
            reason: SendError::nack(463),
        });
        assert!(matches!(
            poll(&mut b, &count),
            Poll::Ready(Err(MessagingError::Failed {
                reason: SendError::Nack { code: 463, .. },
                ..
            }))
        ));
        drop((a, b));
        assert_eq!(
            tracker.watched(),
            0,
            "resolved and dropped sends are forgotten"
        );
    }

    #[test]
    fn an_answer_before_the_first_poll_is_kept_and_close_resolves_the_rest() {
        let tracker = SendTracker::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let mut early = tracker.watch(MessageId("E".into()));
        tracker.observe(&Event::Sent {
            id: MessageId("E".into()),
            to: to(),
            t: 3,
        });
        assert!(matches!(poll(&mut early, &count), Poll::Ready(Ok(_))));
        let mut waiting = tracker.watch(MessageId("W".into()));
        assert!(poll(&mut waiting, &count).is_pending());
        tracker.close();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(matches!(
            poll(&mut waiting, &count),
            Poll::Ready(Err(MessagingError::Unanswered { .. }))
        ));
        let mut late = tracker.watch(MessageId("L".into()));
        assert!(matches!(
            poll(&mut late, &count),
            Poll::Ready(Err(MessagingError::Unanswered { .. }))
        ));
        let dropped = tracker.watch(MessageId("D".into()));
        drop(dropped);
        assert_eq!(tracker.watched(), 0);
    }
}
