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
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use async_channel::{Receiver, Sender};
use bytes::Bytes;
use futures_lite::{FutureExt, Stream, StreamExt};
use futures_util::stream::FuturesUnordered;

use tether_core::connection::Connection;
pub use tether_core::connection::{
    Action, Command, CommandError, Config, Event, Output, State, TransportId,
};
pub use tether_core::creds::{CredentialStore, StoreError};
pub use tether_core::driver::{ClientError, DialError, Options, StartError};
use tether_core::driver::{Driver as Core, Input, run_store_action};
pub use tether_core::proxy::ProxySetting;
pub use tether_core::reason::DisconnectReason;

/// The driver future: spawn it on the executor that should run the connection.
pub type Driver = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Starts a connection: loads credentials from `store` on the store thread, builds the
/// [`Connection`] and returns the handles plus the [`Driver`] future to spawn.
pub async fn start<S: CredentialStore + Send + 'static>(
    config: Config,
    mut store: S,
    options: Options,
) -> Result<(Client, Events, Driver), StartError> {
    options.validate(&config)?;
    let net = Arc::new(net::Net::new(&options)?);
    let seed = match options.seed {
        Some(seed) => seed,
        None => {
            let mut seed = [0; 32];
            getrandom::fill(&mut seed).map_err(|e| StartError::Entropy(e.to_string()))?;
            seed
        }
    };
    // The store lives on its own thread: it loads, then applies actions in order until the
    // driver drops the channel, then reports that it is done.
    let (loaded_tx, loaded_rx) = async_channel::bounded(1);
    let (store_tx, store_rx) = async_channel::unbounded::<Action>();
    let (io_tx, io_rx) = async_channel::unbounded::<Input>();
    let (flushed_tx, flushed_rx) = async_channel::bounded::<()>(1);
    let store_io = io_tx.clone();
    std::thread::Builder::new()
        .name("tether-store".into())
        .spawn(move || {
            let _flushed = flushed_tx;
            if loaded_tx.send_blocking(store.load()).is_err() {
                return;
            }
            while let Ok(action) = store_rx.recv_blocking() {
                if let Some(result) = run_store_action(&mut store, &action) {
                    let _ = store_io.send_blocking(Input::Store(result));
                }
            }
        })
        .map_err(|e| StartError::Runtime(e.to_string()))?;
    let loaded = loaded_rx
        .recv()
        .await
        .map_err(|_| StartError::Runtime("the store thread panicked while loading".into()))??;
    let unix_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let conn = Connection::from_store(config, loaded, Instant::now(), unix_now, seed);
    let shared = Arc::new(Mutex::new(Core::new(conn)));
    let (wake_tx, wake_rx) = async_channel::bounded(1);
    let (events_tx, events_rx) = async_channel::unbounded();
    let (done_tx, done_rx) = async_channel::bounded::<()>(1);
    let channels = Channels {
        wake: wake_rx,
        events: events_tx,
        io_tx,
        io_rx,
        store: store_tx,
        flushed: flushed_rx,
        done: done_tx,
    };
    let driver = Box::pin(drive(Arc::clone(&shared), channels, net));
    let client = Client {
        shared,
        wake: wake_tx,
        done: done_rx,
    };
    Ok((
        client,
        Events {
            rx: Box::pin(events_rx),
        },
        driver,
    ))
}

/// A handle to send commands to the connection; clone it freely.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Mutex<Core>>,
    wake: Sender<()>,
    done: Receiver<()>,
}

impl Client {
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
        if self.wake.is_closed() {
            return Err(ClientError::Ended);
        }
        lock(&self.shared).command(command, Instant::now())?;
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

fn lock(shared: &Mutex<Core>) -> MutexGuard<'_, Core> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Channels {
    wake: Receiver<()>,
    events: Sender<Event>,
    io_tx: Sender<Input>,
    io_rx: Receiver<Input>,
    store: Sender<Action>,
    flushed: Receiver<()>,
    done: Sender<()>,
}

/// The open (or opening) transport: dropping `tx` closes it (its future then ends).
struct Transport {
    id: TransportId,
    tx: Sender<Bytes>,
}

/// Transport and version-fetch futures, polled by the driver future itself: nothing is
/// spawned, so whichever executor polls the driver runs all of it.
type Tasks = FuturesUnordered<Pin<Box<dyn Future<Output = ()> + Send + 'static>>>;

/// Wakes the driver loop for one of its three reasons.
enum Wake {
    Command(bool),
    Input(Input),
    Deadline,
    TaskDone,
}

/// The driver: executes the outbox, then waits for input, a command or the deadline.
async fn drive(shared: Arc<Mutex<Core>>, ch: Channels, net: Arc<net::Net>) {
    let mut transport: Option<Transport> = None;
    let mut tasks = Tasks::new();
    loop {
        let (outbox, deadline, closing) = {
            let mut d = lock(&shared);
            (d.take_outbox(), d.deadline(), d.is_closing())
        };
        for output in outbox {
            match output {
                Output::Transmit(t) => {
                    if let Some(tr) = transport.as_ref().filter(|tr| tr.id == t.transport) {
                        let _ = tr.tx.try_send(t.payload);
                    }
                }
                Output::Action(Action::OpenTransport { id, endpoint }) => {
                    let (tx, rx) = async_channel::unbounded();
                    let io = ch.io_tx.clone();
                    tasks.push(Box::pin(net::run_transport(
                        Arc::clone(&net),
                        id,
                        endpoint,
                        rx,
                        io,
                    )));
                    transport = Some(Transport { id, tx });
                }
                Output::Action(Action::CloseTransport { id })
                    if transport.as_ref().is_some_and(|tr| tr.id == id) =>
                {
                    transport = None;
                }
                Output::Action(Action::CloseTransport { .. }) => {}
                Output::Action(Action::FetchVersion { url }) => {
                    let (net, io) = (Arc::clone(&net), ch.io_tx.clone());
                    tasks.push(Box::pin(async move {
                        let result = net.fetch_version(&url).await.map_err(Into::into);
                        let _ = io.send(Input::Version(result)).await;
                    }));
                }
                Output::Action(action) => {
                    let _ = ch.store.try_send(action);
                }
                Output::Event(event) => {
                    let _ = ch.events.try_send(event);
                }
                _ => {}
            }
        }
        if closing {
            break;
        }
        let command = async { Wake::Command(ch.wake.recv().await.is_ok()) };
        let input = async {
            match ch.io_rx.recv().await {
                Ok(input) => Wake::Input(input),
                Err(_) => std::future::pending().await,
            }
        };
        let timer = async {
            match deadline {
                Some(at) => {
                    async_io::Timer::at(at).await;
                    Wake::Deadline
                }
                None => std::future::pending().await,
            }
        };
        let task = async {
            match tasks.next().await {
                Some(()) => Wake::TaskDone,
                None => std::future::pending().await,
            }
        };
        match command.or(input).or(timer).or(task).await {
            // Every Client handle is gone: nobody can command or shut it down.
            Wake::Command(false) => lock(&shared).shutdown(Instant::now()),
            Wake::Command(true) | Wake::TaskDone => {}
            Wake::Input(input) => lock(&shared).handle(input, Instant::now()),
            Wake::Deadline => lock(&shared).timeout(Instant::now()),
        }
    }
    // Closing the transport lets its future send the close frame before the driver ends.
    drop(transport);
    while tasks
        .next()
        .or(async {
            async_io::Timer::after(std::time::Duration::from_secs(2)).await;
            None
        })
        .await
        .is_some()
    {}
    ch.store.close();
    // The store thread drops its end once every queued action is applied.
    let _ = ch.flushed.recv().await;
    ch.events.close();
    drop(ch.done);
}
