//! # tether-runtime-smol
//!
//! Drives a [`tether_core`] connection over real websockets, written only against futures-io,
//! async-io timers, async-net sockets and futures-rustls (ring provider, webpki roots). It runs
//! on smol, and on any executor that drives futures-io code — async-std's included (the
//! `loopback_async_std` test proves it; async-std is never a dependency of this crate). tokio
//! is not in its dependency tree.
//!
//! [`start`] returns the driver as a [`Driver`] future beside the handles: **spawn it** on
//! your executor (`smol::spawn(driver).detach()`, `async_std::task::spawn(driver)`) or await
//! it. Store calls run on one dedicated OS thread, in order.
//!
//! ```no_run
//! # async fn demo(store: impl tether_core::creds::CredentialStore + Send + 'static) -> Result<(), Box<dyn std::error::Error>> {
//! use tether_runtime_smol::{start, Config, Event, Options};
//! let (client, mut events, driver) = start(Config::default(), store, Options::default()).await?;
//! # let spawn = |_| ();
//! spawn(driver); // e.g. smol::spawn(driver).detach()
//! client.connect()?;
//! while let Some(event) = events.next().await {
//!     if let Event::Connected { .. } = event { break; }
//! }
//! client.shutdown().await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod net;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use async_channel::{Receiver, Sender};
use bytes::Bytes;
use futures_lite::{FutureExt, Stream, StreamExt};
use futures_util::FutureExt as _;
use futures_util::future::FusedFuture;
use futures_util::stream::FuturesUnordered;

pub use tether_core::connection::{
    Action, Command, CommandError, Config, Event, Output, State, TransportId,
};
pub use tether_core::creds::{CredentialStore, StoreError};
pub use tether_core::driver::{ClientError, DialError, MessagingError, Options, Sent, StartError};
use tether_core::driver::{
    Driver as Core, Input, Job, client_command, lock, panic_message, run_store_action,
    store_panicked, store_seq,
};
pub use tether_core::proxy::ProxySetting;
pub use tether_core::reason::DisconnectReason;
pub use tether_net_common::groups::{GroupQueryError, PendingGroupInfo, PendingGroupList};
use tether_net_common::media::MediaConnTracker;
pub use tether_net_common::media_client::SendMediaError;
pub use tether_net_common::media_source::MediaSource;
pub use tether_net_common::sends::PendingSend;

/// A media source reading `reader` to its end (streamed to a spool file, never held whole):
/// smol's files, sockets and pipes are futures-io readers already
/// ([`MediaSource::reader`]); the same call exists on tokio for `tokio::io::AsyncRead`.
pub fn media_reader(reader: impl futures_util::io::AsyncRead + Send + 'static) -> MediaSource {
    MediaSource::reader(reader)
}
use tether_net_common::sends::{SendTracker, send_watched};

/// The driver future: spawn it on the executor that should run the connection.
pub type Driver = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Starts a connection: loads credentials from `store` on the store thread, builds the
/// [`Connection`](tether_core::connection::Connection) and returns the handles plus the
/// [`Driver`] future to spawn.
pub async fn start<S: CredentialStore + Send + 'static>(
    config: Config,
    mut store: S,
    options: Options,
) -> Result<(Client, Events, Driver), StartError> {
    options.validate(&config)?;
    let net = Arc::new(net::Net::new(&options)?);
    let seed = tether_net_common::seed(&options)?;
    let (loaded, store) = blocking::unblock(move || {
        let loaded = catch_unwind(AssertUnwindSafe(|| store.load()));
        (loaded, store)
    })
    .await;
    let loaded =
        loaded.map_err(|panic| StartError::Runtime(panic_message(panic.as_ref()).into()))?;
    let shared = tether_net_common::new_driver(config, loaded?, Instant::now(), seed);
    let (wake_tx, wake_rx) = async_channel::bounded(1);
    let (events_tx, events_rx) = async_channel::unbounded();
    let (done_tx, done_rx) = async_channel::bounded::<()>(1);
    let sends = SendTracker::new();
    let media_conns = MediaConnTracker::new();
    let driver = drive(
        Arc::clone(&shared),
        store,
        wake_rx,
        events_tx,
        Arc::clone(&net),
        done_tx,
        (Arc::clone(&sends), Arc::clone(&media_conns)),
    );
    let client = Client {
        shared,
        wake: wake_tx,
        done: done_rx,
        sends,
        net,
        media_conns,
        media_limit: options.media_limit,
        media_memory_budget: options.media_memory_budget,
        media_retry_timeout: options.media_retry_timeout,
    };
    let events = Events {
        rx: Box::pin(events_rx),
    };
    Ok((client, events, Box::pin(driver)))
}

/// A handle to the connection: lifecycle commands and messaging; clone it freely.
///
/// Messaging methods return at once. A send returns a [`PendingSend`] that has the message
/// id and, awaited, resolves on the server's acknowledgement:
///
/// ```no_run
/// # async fn demo(client: tether_runtime_smol::Client) -> Result<(), tether_runtime_smol::MessagingError> {
/// let pending = client.send_text("+15551234567", "hello")?;
/// println!("queued {}", pending.id());
/// let sent = pending.await?; // Sent { id, t } once the server has it
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    shared: Arc<Mutex<Core>>,
    wake: Sender<()>,
    done: Receiver<()>,
    sends: Arc<SendTracker>,
    net: Arc<net::Net>,
    media_conns: Arc<MediaConnTracker>,
    media_limit: u64,
    media_memory_budget: u64,
    media_retry_timeout: std::time::Duration,
}

impl Client {
    tether_net_common::messaging_methods!();
    tether_net_common::media_methods!();

    /// Sends any message content to `to` (a phone number, a user JID, a LID or a [`Jid`]):
    /// returns at once with the id. The message is written to the outbox in the core's next
    /// store transaction (milliseconds later) and goes out now or once connected; a message
    /// in the outbox survives a crash and is sent after the restart. Await the
    /// [`PendingSend`] for the server's answer.
    ///
    /// [`Jid`]: tether_core::binary::Jid
    pub fn send(
        &self,
        to: impl tether_core::messaging::recipient::IntoRecipient,
        message: impl Into<tether_core::proto::message::Message>,
    ) -> Result<PendingSend, MessagingError> {
        let to = to.into_recipient()?;
        let pending = send_watched(
            &self.shared,
            &self.sends,
            self.wake.is_closed(),
            to,
            message.into(),
            Instant::now(),
        )?;
        let _ = self.wake.try_send(());
        Ok(pending)
    }

    /// Starts connecting ([`Command::Connect`]).
    pub fn connect(&self) -> Result<(), ClientError> {
        self.command(Command::Connect)
    }

    /// Logs out: the server removes this companion, then the credentials are quarantined.
    pub fn logout(&self) -> Result<(), ClientError> {
        self.command(Command::Logout)
    }

    /// Sends any command; the core's refusal comes back as [`ClientError::Command`].
    pub fn command(&self, command: Command) -> Result<(), ClientError> {
        client_command(&self.shared, self.wake.is_closed(), command, Instant::now())?;
        let _ = self.wake.try_send(());
        Ok(())
    }

    /// The connection's lifecycle state.
    pub fn state(&self) -> State {
        lock(&self.shared).state()
    }

    /// Stops the connection (`LocalShutdown`), applies every pending persist and waits for the
    /// driver to end (the driver future must be running).
    pub async fn shutdown(self) -> Result<(), ClientError> {
        lock(&self.shared).shutdown(Instant::now());
        let _ = self.wake.try_send(());
        // The driver drops its sender when it has finished: `recv` then fails.
        let _ = self.done.recv().await;
        Ok(())
    }
}

/// The connection's events, in order; ends when the driver ends.
pub struct Events {
    rx: Pin<Box<Receiver<Event>>>,
}

impl Events {
    /// The next event, or `None` once the driver has ended.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await.ok()
    }
}

impl Stream for Events {
    type Item = Event;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.as_mut().poll_next(cx)
    }
}

/// Transport and version-fetch futures, polled by the driver future itself: nothing is
/// spawned, so whichever executor polls the driver runs all of it.
type Tasks = FuturesUnordered<Pin<Box<dyn Future<Output = ()> + Send + 'static>>>;

/// Why the driver loop woke up.
enum Wake {
    Command(bool),
    Input(Option<Input>),
    Deadline,
    TaskDone,
}

/// The driver: executes the outbox, then waits for input, a command, the deadline or one of
/// its own futures (transports, a version fetch, the store loop).
async fn drive<S: CredentialStore + Send + 'static>(
    shared: Arc<Mutex<Core>>,
    store: S,
    wake: Receiver<()>,
    events: Sender<Event>,
    net: Arc<net::Net>,
    done: Sender<()>,
    (sends, media_conns): (Arc<SendTracker>, Arc<MediaConnTracker>),
) {
    let closer = sends.close_on_drop();
    let media_closer = media_conns.close_on_drop();
    let (io_tx, io_rx) = async_channel::unbounded::<Input>();
    let (store_tx, store_rx) = async_channel::unbounded::<Action>();
    let mut store_loop = pin!(store_loop(store, store_rx, io_tx.clone()).fuse());
    // The current (open or opening) transport: dropping its sender closes it (its future
    // then ends).
    let mut transport: Option<Sender<Bytes>> = None;
    let mut tasks = Tasks::new();
    loop {
        let (jobs, deadline, closing) = lock(&shared).take_turn();
        for job in jobs {
            match job {
                Job::Transmit(payload) => {
                    if let Some(tx) = &transport {
                        let _ = tx.try_send(payload);
                    }
                }
                Job::Open { id, endpoint } => {
                    let (tx, rx) = async_channel::unbounded();
                    let net = Arc::clone(&net);
                    tasks.push(Box::pin(net::run_transport(
                        net,
                        id,
                        endpoint,
                        rx,
                        io_tx.clone(),
                    )));
                    transport = Some(tx);
                }
                Job::Close => transport = None,
                Job::FetchVersion(url) => {
                    let (net, io) = (Arc::clone(&net), io_tx.clone());
                    tasks.push(Box::pin(async move {
                        let result = net.fetch_version(&url).await.map_err(Into::into);
                        let _ = io.send(Input::Version(result)).await;
                    }));
                }
                Job::Store(action) => {
                    let _ = store_tx.try_send(action);
                }
                Job::Event(event) => {
                    sends.observe(&event);
                    media_conns.observe(&event);
                    let _ = events.try_send(event);
                }
                _ => {}
            }
        }
        if closing {
            break;
        }
        let command = async { Wake::Command(wake.recv().await.is_ok()) };
        let input = async { Wake::Input(io_rx.recv().await.ok()) };
        let timer = async {
            match deadline {
                Some(at) => async_io::Timer::at(at).await,
                None => std::future::pending().await,
            };
            Wake::Deadline
        };
        let task = async {
            match tasks.next().await {
                Some(()) => Wake::TaskDone,
                None => std::future::pending().await,
            }
        };
        let store = async {
            (&mut store_loop).await;
            Wake::TaskDone
        };
        match command.or(input).or(timer).or(task).or(store).await {
            // Every Client handle is gone: nobody can command or shut it down.
            Wake::Command(false) => lock(&shared).shutdown(Instant::now()),
            Wake::Input(Some(input)) => lock(&shared).handle(input, Instant::now()),
            Wake::Deadline => lock(&shared).timeout(Instant::now()),
            Wake::Command(true) | Wake::Input(None) | Wake::TaskDone => {}
        }
    }
    events.close();
    // Closing the transport lets its future send the close frame; the store loop applies
    // every queued action, then ends.
    drop(transport);
    store_tx.close();
    let transports = async {
        let grace = async_io::Timer::after(std::time::Duration::from_secs(2));
        let drain = async { while tasks.next().await.is_some() {} };
        drain
            .or(async {
                grace.await;
            })
            .await;
    };
    if !store_loop.is_terminated() {
        futures_lite::future::zip(store_loop, transports).await;
    }
    drop((closer, media_closer));
    drop(done);
}

/// Applies store actions in order, each on the `blocking` thread pool: no thread is held while
/// idle.
async fn store_loop<S: CredentialStore + Send + 'static>(
    mut store: S,
    actions: Receiver<Action>,
    io: Sender<Input>,
) {
    while let Ok(action) = actions.recv().await {
        let seq = store_seq(&action);
        let (back, result) = blocking::unblock(move || {
            let result = catch_unwind(AssertUnwindSafe(|| run_store_action(&mut store, &action)));
            (store, result)
        })
        .await;
        store = back;
        match result {
            Ok(Some(result)) => {
                let _ = io.send(Input::Store(result)).await;
            }
            Ok(None) => {}
            // A store that panicked may be half-way through a change: answer this action as
            // failed (the core stops) and use the store no more, as the tokio adapter does.
            Err(panic) => {
                if let Some(input) = store_panicked(seq, panic_message(panic.as_ref())) {
                    let _ = io.send(input).await;
                }
                return;
            }
        }
    }
}
