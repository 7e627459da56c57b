//! Linking a Rust-API client against a [`SimServer`] the way a user does, for the tests that
//! drive a runtime adapter's `Client` (`api_messaging`, `api_media`): phone 0 scans every QR
//! code the client shows until it is connected; then the server must hold the companion's
//! pre-keys, since a contact's phone can only encrypt for the companion once they are up.
//!
//! Works with either adapter: both adapters' `Events` are a `Stream` of [`Event`]s, and the
//! waits use `async-io` timers, which run under any executor.

use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt};
use tether_core::binary::Jid;
use tether_core::connection::Event;
use tether_sim::net::SimServer;

/// Links the client whose `events` these are (its `connect` already called): scans each QR
/// code with phone 0 until `Event::Connected`, then waits until the server holds the
/// companion's pre-keys. Returns the companion's JID.
///
/// # Panics
///
/// When no event comes within `limit`, the events end, phone 0 cannot scan a code, or the
/// pre-keys are not on the server within `limit` (bounded waits: nothing here measures a
/// speed).
pub async fn link_by_qr<S>(server: &SimServer, events: &mut S, limit: Duration) -> Jid
where
    S: Stream<Item = Event> + Unpin,
{
    let companion = loop {
        match next_within(events, limit).await {
            Event::QrCode { code, .. } => {
                if let Err(e) = server.scan_qr(&code) {
                    panic!("phone 0 could not scan the QR code: {e}");
                }
            }
            Event::Connected { jid } => break jid,
            _ => {}
        }
    };
    let end = Instant::now() + limit;
    while server
        .with_server(|s| s.pre_key_count(&companion))
        .unwrap_or(0)
        == 0
    {
        assert!(
            Instant::now() < end,
            "the companion never uploaded its pre-keys"
        );
        async_io::Timer::after(Duration::from_millis(20)).await;
    }
    companion
}

/// The next event within `limit`.
async fn next_within<S>(events: &mut S, limit: Duration) -> Event
where
    S: Stream<Item = Event> + Unpin,
{
    let event = futures_lite::future::or(events.next(), async {
        async_io::Timer::after(limit).await;
        panic!("no event within {limit:?}");
    })
    .await;
    event.unwrap_or_else(|| panic!("the client's events ended while linking"))
}
