//! # tether-runtime-tokio
//!
//! Drives a [`tether_core`] connection on tokio over real websockets (async-tungstenite,
//! rustls with the ring provider, webpki roots; no OpenSSL). The adapter holds no protocol
//! logic: it moves bytes between sockets and the core's [`Driver`], sleeps until the core's
//! deadline, runs store calls on tokio's blocking pool and forwards events.
//!
//! ```no_run
//! # async fn demo(store: impl tether_core::creds::CredentialStore + Send + 'static) -> Result<(), Box<dyn std::error::Error>> {
//! use tether_runtime_tokio::{start, Config, Event, Options};
//! let (client, mut events) = start(Config::default(), store, Options::default()).await?;
//! client.connect()?;
//! while let Some(event) = events.next().await {
//!     if let Event::Connected { .. } = event { break; }
//! }
//! client.shutdown().await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod net;

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub use tether_core::connection::{
    Action, Command, CommandError, Config, Event, Output, State, TransportId,
};
pub use tether_core::creds::{CredentialStore, StoreError};
pub use tether_core::driver::{ClientError, DialError, MessagingError, Options, Sent, StartError};
use tether_core::driver::{
    Driver, Input, Job, client_command, lock, run_store_action, store_panicked, store_seq,
};
pub use tether_core::proxy::ProxySetting;
pub use tether_core::reason::DisconnectReason;
pub use tether_net_common::groups::{GroupQueryError, PendingGroupInfo, PendingGroupList};
use tether_net_common::media::MediaConnTracker;
pub use tether_net_common::media_client::SendMediaError;
pub use tether_net_common::media_source::MediaSource;
pub use tether_net_common::sends::PendingSend;

mod reader;
pub use reader::media_reader;
use tether_net_common::sends::{SendTracker, send_watched};

/// Starts driving a connection: loads credentials from `store` on the blocking pool, builds
/// the [`Connection`](tether_core::connection::Connection) and spawns the driver task. Must be
/// called inside a tokio runtime.
pub async fn start<S: CredentialStore + Send + 'static>(
    config: Config,
    mut store: S,
    options: Options,
) -> Result<(Client, Events), StartError> {
    options.validate(&config)?;
    let net = Arc::new(net::Net::new(&options)?);
    let seed = tether_net_common::seed(&options)?;
    let (loaded, store) = tokio::task::spawn_blocking(move || (store.load(), store))
        .await
        .map_err(|e| StartError::Runtime(e.to_string()))?;
    let shared = tether_net_common::new_driver(config, loaded?, now(), seed);
    let (wake_tx, wake_rx) = mpsc::channel(1);
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = watch::channel(None);
    let sends = SendTracker::new();
    let media_conns = MediaConnTracker::new();
    tokio::spawn(drive(
        Arc::clone(&shared),
        wake_rx,
        events_tx,
        store,
        Arc::clone(&net),
        done_tx,
        (Arc::clone(&sends), Arc::clone(&media_conns)),
    ));
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
    Ok((client, Events { rx: events_rx }))
}

/// A handle to the connection: lifecycle commands and messaging; clone it freely.
///
/// Messaging methods return at once. A send returns a [`PendingSend`] that has the message
/// id and, awaited, resolves on the server's acknowledgement:
///
/// ```no_run
/// # async fn demo(client: tether_runtime_tokio::Client) -> Result<(), tether_runtime_tokio::MessagingError> {
/// let pending = client.send_text("+15551234567", "hello")?;
/// println!("queued {}", pending.id());
/// let sent = pending.await?; // Sent { id, t } once the server has it
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    shared: Arc<Mutex<Driver>>,
    wake: mpsc::Sender<()>,
    done: watch::Receiver<Option<Result<(), String>>>,
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
            now(),
        )?;
        self.nudge();
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
        client_command(&self.shared, self.wake.is_closed(), command, now())?;
        self.nudge();
        Ok(())
    }

    /// The connection's lifecycle state.
    pub fn state(&self) -> State {
        lock(&self.shared).state()
    }

    /// Stops the connection (`LocalShutdown`), applies every pending persist and waits for the
    /// driver to end.
    pub async fn shutdown(mut self) -> Result<(), ClientError> {
        lock(&self.shared).shutdown(now());
        self.nudge();
        let done = self.done.wait_for(Option::is_some).await;
        match done.as_deref() {
            Ok(Some(Err(e))) => Err(ClientError::DriverFailed(e.clone())),
            Ok(_) => Ok(()),
            Err(_) => Err(ClientError::DriverFailed(
                "the driver task was dropped".into(),
            )),
        }
    }

    fn nudge(&self) {
        // A full channel already holds a wake-up; a closed one means the driver ended.
        let _ = self.wake.try_send(());
    }
}

/// The connection's events, in order; ends when the driver ends.
pub struct Events {
    rx: mpsc::UnboundedReceiver<Event>,
}

impl Events {
    /// The next event, or `None` once the driver has ended.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }
}

impl Stream for Events {
    type Item = Event;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// The driver task: executes the outbox, then waits for input, a command or the deadline.
async fn drive<S: CredentialStore + Send + 'static>(
    shared: Arc<Mutex<Driver>>,
    mut wake: mpsc::Receiver<()>,
    events: mpsc::UnboundedSender<Event>,
    store: S,
    net: Arc<net::Net>,
    done: watch::Sender<Option<Result<(), String>>>,
    (sends, media_conns): (Arc<SendTracker>, Arc<MediaConnTracker>),
) {
    let closer = sends.close_on_drop();
    let media_closer = media_conns.close_on_drop();
    let (io_tx, mut io_rx) = mpsc::unbounded_channel::<Input>();
    let (store_tx, store_rx) = mpsc::unbounded_channel::<Action>();
    let store_worker = tokio::spawn(store_loop(store, store_rx, io_tx.clone()));
    // The current (open or opening) transport: dropping its sender closes it.
    let mut transport: Option<mpsc::UnboundedSender<Bytes>> = None;
    loop {
        let (jobs, deadline, closing) = lock(&shared).take_turn();
        for job in jobs {
            match job {
                Job::Transmit(payload) => {
                    if let Some(tx) = &transport {
                        let _ = tx.send(payload);
                    }
                }
                Job::Open { id, endpoint } => {
                    let (tx, rx) = mpsc::unbounded_channel();
                    transport = Some(tx);
                    tokio::spawn(net::run_transport(
                        Arc::clone(&net),
                        id,
                        endpoint,
                        rx,
                        io_tx.clone(),
                    ));
                }
                Job::Close => transport = None,
                Job::FetchVersion(url) => {
                    let (net, io) = (Arc::clone(&net), io_tx.clone());
                    tokio::spawn(async move {
                        let result = net.fetch_version(&url).await.map_err(Into::into);
                        let _ = io.send(Input::Version(result));
                    });
                }
                Job::Store(action) => {
                    let _ = store_tx.send(action);
                }
                Job::Event(event) => {
                    sends.observe(&event);
                    media_conns.observe(&event);
                    let _ = events.send(event);
                }
                _ => {}
            }
        }
        if closing {
            break;
        }
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            woken = wake.recv() => {
                if woken.is_none() {
                    // Every Client handle is gone: nobody can command or shut it down.
                    lock(&shared).shutdown(now());
                }
            }
            Some(input) = io_rx.recv() => lock(&shared).handle(input, now()),
            () = sleep => lock(&shared).timeout(now()),
        }
    }
    drop((transport, store_tx));
    let result = store_worker.await.map_err(|e| format!("store worker: {e}"));
    drop(events);
    drop((closer, media_closer));
    let _ = done.send(Some(result));
}

/// Applies store actions in order, each on the blocking pool: no thread is held while idle.
async fn store_loop<S: CredentialStore + Send + 'static>(
    mut store: S,
    mut actions: mpsc::UnboundedReceiver<Action>,
    io: mpsc::UnboundedSender<Input>,
) {
    while let Some(action) = actions.recv().await {
        let seq = store_seq(&action);
        let applied = tokio::task::spawn_blocking(move || {
            let result = run_store_action(&mut store, &action);
            (store, result)
        })
        .await;
        match applied {
            Ok((back, result)) => {
                store = back;
                if let Some(result) = result {
                    let _ = io.send(Input::Store(result));
                }
            }
            Err(e) => {
                if let Some(input) = store_panicked(seq, &e.to_string()) {
                    let _ = io.send(input);
                }
                return;
            }
        }
    }
}
