//! Waiting for the answers of group queries on any executor: a [`PendingGroupInfo`] resolves
//! when the driver task sees `Event::GroupInfo` for its group (or `Event::GroupQueryFailed`),
//! a [`PendingGroupList`] on `Event::Groups` (or the list's `GroupQueryFailed`, named by the
//! `g.us` server JID); both resolve [`GroupQueryError::Unanswered`] when the connection drops
//! or the driver ends first (a query is never resent: ask again once connected).
//!
//! ```text
//!  Client::group_info(g) ─▶ GroupWaiters::watch(Info(g)) ─▶ Command::QueryGroup ─▶ PendingGroupInfo
//!  driver task: every event ─▶ GroupWaiters::observe
//!     GroupInfo(g) / GroupQueryFailed{g} ─▶ the waiters of g;  Groups / failed list ─▶ list waiters
//!     Disconnected / Stopped ─▶ every waiter: Unanswered
//!  driver ends ─▶ GroupWaiters::close ─▶ every waiter: Unanswered
//! ```
//!
//! The waiter is registered before the command is given, so the answer (a later input of the
//! driver) can never pass it. A dropped pending query forgets its waiter.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use tether_core::binary::{Jid, Server};
use tether_core::connection::Event;
use tether_core::driver::ClientError;
use tether_core::messaging::groups::GroupInfo;
use tether_core::messaging::recipient::RecipientError;

/// Why a group query gave no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GroupQueryError {
    /// The JID given is not a group (`…@g.us`).
    #[error("{0} is not a group JID: give one that ends in @g.us")]
    NotAGroup(Jid),
    /// What was given is not a JID or phone number.
    #[error(transparent)]
    Recipient(#[from] RecipientError),
    /// The client refused the query (not connected: it needs a live connection; ended).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The server refused it (the group does not exist, this account is not a member).
    #[error("the group query for {group} failed: {reason}")]
    Refused {
        /// The group (the `g.us` server JID for the list of groups).
        group: Jid,
        /// Why, as the server said.
        reason: String,
    },
    /// The connection dropped or the client ended before the answer came; ask again once
    /// connected.
    #[error(
        "the connection dropped before the server answered the group query; ask again once \
         connected"
    )]
    Unanswered,
}

/// What a waiter waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Asked {
    /// One group's metadata (the group JID, without device).
    Info(String),
    /// The groups this account is in.
    List,
}

/// An answer.
#[derive(Debug)]
enum Answer {
    Info(Box<GroupInfo>),
    List(Vec<GroupInfo>),
}

#[derive(Debug)]
enum Slot {
    Waiting(Option<Waker>),
    Done(Result<Answer, GroupQueryError>),
}

#[derive(Debug)]
struct Waiter {
    asked: Asked,
    slot: Slot,
}

#[derive(Debug, Default)]
struct Waiting {
    next: u64,
    waiters: HashMap<u64, Waiter>,
    closed: bool,
}

/// The group queries being waited for, shared by a client's handles and its driver task.
#[derive(Debug, Default)]
pub struct GroupWaiters {
    inner: Mutex<Waiting>,
}

/// The key a group JID is matched by: the user part on `g.us` (no device, no agent).
fn group_key(group: &Jid) -> String {
    group.to_non_ad().to_string()
}

/// `group` parsed and checked to be a group JID.
pub fn group_jid(
    group: impl tether_core::messaging::recipient::IntoRecipient,
) -> Result<Jid, GroupQueryError> {
    let jid = group.into_recipient()?;
    if *jid.server() == Server::Group && !jid.user_str().is_empty() {
        Ok(jid)
    } else {
        Err(GroupQueryError::NotAGroup(jid))
    }
}

impl GroupWaiters {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn watch(self: &Arc<Self>, asked: Asked) -> u64 {
        let mut w = self.lock();
        w.next += 1;
        let id = w.next;
        let slot = if w.closed {
            Slot::Done(Err(GroupQueryError::Unanswered))
        } else {
            Slot::Waiting(None)
        };
        w.waiters.insert(id, Waiter { asked, slot });
        id
    }

    /// Waits for `group`'s metadata: call it before giving `Command::QueryGroup`.
    pub fn watch_info(self: &Arc<Self>, group: &Jid) -> PendingGroupInfo {
        PendingGroupInfo(Pending {
            id: self.watch(Asked::Info(group_key(group))),
            waiters: Arc::clone(self),
        })
    }

    /// Waits for the list of groups: call it before giving `Command::ListGroups`.
    pub fn watch_list(self: &Arc<Self>) -> PendingGroupList {
        PendingGroupList(Pending {
            id: self.watch(Asked::List),
            waiters: Arc::clone(self),
        })
    }

    /// Answers every waiting waiter that `answer` decides on.
    fn resolve(&self, mut answer: impl FnMut(&Asked) -> Option<Result<Answer, GroupQueryError>>) {
        let mut w = self.lock();
        for waiter in w.waiters.values_mut() {
            if let Slot::Waiting(waker) = &mut waiter.slot
                && let Some(result) = answer(&waiter.asked)
            {
                let waker = waker.take();
                waiter.slot = Slot::Done(result);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
        }
    }

    /// The driver task saw `event`: answers the waiters it concerns.
    pub fn observe(&self, event: &Event) {
        match event {
            Event::GroupInfo(info) => {
                let key = group_key(&info.jid);
                self.resolve(|asked| {
                    (*asked == Asked::Info(key.clone())).then(|| Ok(Answer::Info(info.clone())))
                });
            }
            Event::Groups(list) => {
                self.resolve(|asked| {
                    (*asked == Asked::List).then(|| Ok(Answer::List(list.clone())))
                });
            }
            Event::GroupQueryFailed { group, reason } => {
                let list = group.user_str().is_empty();
                let key = group_key(group);
                self.resolve(|asked| {
                    let concerned = match asked {
                        Asked::List => list,
                        Asked::Info(k) => *k == key,
                    };
                    concerned.then(|| {
                        Err(GroupQueryError::Refused {
                            group: group.clone(),
                            reason: reason.clone(),
                        })
                    })
                });
            }
            // No answer comes on a connection that is gone.
            Event::Disconnected { .. } | Event::Stopped { .. } => {
                self.resolve(|_| Some(Err(GroupQueryError::Unanswered)));
            }
            _ => {}
        }
    }

    /// The driver ended: every waiter resolves [`GroupQueryError::Unanswered`], and later
    /// ones at once.
    pub fn close(&self) {
        self.lock().closed = true;
        self.resolve(|_| Some(Err(GroupQueryError::Unanswered)));
    }

    /// How many queries are waited for (for tests).
    pub fn watched(&self) -> usize {
        self.lock().waiters.len()
    }
}

/// One registered waiter; dropping it forgets it.
#[derive(Debug)]
struct Pending {
    id: u64,
    waiters: Arc<GroupWaiters>,
}

impl Pending {
    fn poll_answer(&self, cx: &mut Context<'_>) -> Poll<Result<Answer, GroupQueryError>> {
        let mut w = self.waiters.lock();
        match w.waiters.get_mut(&self.id).map(|waiter| &mut waiter.slot) {
            Some(Slot::Waiting(waker)) => {
                *waker = Some(cx.waker().clone());
                Poll::Pending
            }
            Some(Slot::Done(_)) => match w.waiters.remove(&self.id).map(|waiter| waiter.slot) {
                Some(Slot::Done(result)) => Poll::Ready(result),
                _ => Poll::Ready(Err(GroupQueryError::Unanswered)),
            },
            None => Poll::Ready(Err(GroupQueryError::Unanswered)),
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.waiters.lock().waiters.remove(&self.id);
    }
}

/// A group's metadata, once the server answered (`Client::group_info`).
#[derive(Debug)]
#[must_use = "await it for the group's metadata"]
pub struct PendingGroupInfo(Pending);

impl Future for PendingGroupInfo {
    type Output = Result<GroupInfo, GroupQueryError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.poll_answer(cx).map(|answer| match answer? {
            Answer::Info(info) => Ok(*info),
            Answer::List(_) => Err(GroupQueryError::Unanswered),
        })
    }
}

/// The groups this account is in, once the server answered (`Client::joined_groups`).
#[derive(Debug)]
#[must_use = "await it for the list of groups"]
pub struct PendingGroupList(Pending);

impl Future for PendingGroupList {
    type Output = Result<Vec<GroupInfo>, GroupQueryError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.poll_answer(cx).map(|answer| match answer? {
            Answer::List(list) => Ok(list),
            Answer::Info(_) => Err(GroupQueryError::Unanswered),
        })
    }
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

    fn poll<F: Future + Unpin>(f: &mut F, count: &Arc<Count>) -> Poll<F::Output> {
        let waker = Waker::from(Arc::clone(count));
        Pin::new(f).poll(&mut Context::from_waker(&waker))
    }

    fn info(jid: &str) -> GroupInfo {
        GroupInfo {
            jid: jid.parse().unwrap(),
            subject: "s".into(),
            addressing_mode: "lid".into(),
            creator: None,
            participants: Vec::new(),
        }
    }

    #[test]
    fn each_query_resolves_with_its_own_answer() {
        let w = Arc::new(GroupWaiters::default());
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let a: Jid = "120363000000000001@g.us".parse().unwrap();
        let b: Jid = "120363000000000002@g.us".parse().unwrap();
        let mut info_a = w.watch_info(&a);
        let mut info_b = w.watch_info(&b);
        let mut list = w.watch_list();
        assert!(poll(&mut info_a, &count).is_pending());
        assert!(poll(&mut info_b, &count).is_pending());
        assert!(poll(&mut list, &count).is_pending());
        w.observe(&Event::GroupInfo(Box::new(info("120363000000000001@g.us"))));
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "only a's waiter woke");
        match poll(&mut info_a, &count) {
            Poll::Ready(Ok(got)) => assert_eq!(got.jid, a),
            other => panic!("{other:?}"),
        }
        assert!(poll(&mut info_b, &count).is_pending());
        w.observe(&Event::GroupQueryFailed {
            group: b.clone(),
            reason: "this account is not a member of the group".into(),
        });
        assert!(matches!(
            poll(&mut info_b, &count),
            Poll::Ready(Err(GroupQueryError::Refused { group, .. })) if group == b
        ));
        assert!(
            poll(&mut list, &count).is_pending(),
            "a group's failure is not the list's"
        );
        w.observe(&Event::Groups(vec![info("120363000000000001@g.us")]));
        assert!(matches!(poll(&mut list, &count), Poll::Ready(Ok(l)) if l.len() == 1));
        drop((info_a, info_b, list));
        assert_eq!(w.watched(), 0, "resolved and dropped queries are forgotten");
    }

    #[test]
    fn a_failed_list_a_drop_and_the_end_resolve_waiters() {
        let w = Arc::new(GroupWaiters::default());
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let mut list = w.watch_list();
        w.observe(&Event::GroupQueryFailed {
            group: Jid::server_jid(Server::Group),
            reason: "refused".into(),
        });
        assert!(matches!(
            poll(&mut list, &count),
            Poll::Ready(Err(GroupQueryError::Refused { .. }))
        ));
        let mut waiting = w.watch_info(&"1-2@g.us".parse().unwrap());
        assert!(poll(&mut waiting, &count).is_pending());
        w.close();
        assert!(matches!(
            poll(&mut waiting, &count),
            Poll::Ready(Err(GroupQueryError::Unanswered))
        ));
        let mut late = w.watch_list();
        assert!(matches!(
            poll(&mut late, &count),
            Poll::Ready(Err(GroupQueryError::Unanswered))
        ));
    }

    #[test]
    fn only_group_jids_are_queried() {
        assert!(group_jid("120363000000000001@g.us").is_ok());
        assert!(matches!(
            group_jid("+15551234567"),
            Err(GroupQueryError::NotAGroup(_))
        ));
    }
}
