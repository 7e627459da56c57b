//! The async runtime the connection runs on, chosen at build time: tokio (feature
//! `runtime-tokio`, the default) or smol (`--no-default-features --features runtime-smol`).
//! Everything else in the CLI is runtime-agnostic (plain threads and async-channel).

use std::future::Future;
use std::time::Duration;

#[cfg(feature = "runtime-tokio")]
pub(crate) use tether_runtime_tokio::{
    Client, Events, GroupQueryError, Options, PendingGroupInfo, PendingGroupList, PendingSend,
    ProxySetting, StartError,
};

#[cfg(all(feature = "runtime-smol", not(feature = "runtime-tokio")))]
pub(crate) use tether_runtime_smol::{
    Client, Events, GroupQueryError, Options, PendingGroupInfo, PendingGroupList, PendingSend,
    ProxySetting, StartError,
};

use tether_core::connection::Config;
use tether_core::creds::CredentialStore;

/// Starts driving a connection on this runtime (tokio spawns the driver itself; on smol the
/// driver future goes to smol's global executor).
pub(crate) async fn start<S: CredentialStore + Send + 'static>(
    config: Config,
    store: S,
    options: Options,
) -> Result<(Client, Events), StartError> {
    #[cfg(feature = "runtime-tokio")]
    {
        tether_runtime_tokio::start(config, store, options).await
    }
    #[cfg(all(feature = "runtime-smol", not(feature = "runtime-tokio")))]
    {
        let (client, events, driver) = tether_runtime_smol::start(config, store, options).await?;
        smol::spawn(driver).detach();
        Ok((client, events))
    }
}

/// The runtime's name, for `--version`-style messages.
pub(crate) const NAME: &str = if cfg!(feature = "runtime-tokio") {
    "tokio"
} else {
    "smol"
};

/// Runs `future` to completion on a fresh runtime.
#[cfg(feature = "runtime-tokio")]
pub(crate) fn block_on<F: Future>(future: F) -> std::io::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    Ok(rt.block_on(future))
}

/// Runs `future` to completion on smol's executor.
#[cfg(all(feature = "runtime-smol", not(feature = "runtime-tokio")))]
pub(crate) fn block_on<F: Future>(future: F) -> std::io::Result<F::Output> {
    Ok(smol::block_on(future))
}

/// Runs `future` beside the caller on the runtime, detached (it ends with the runtime).
pub(crate) fn spawn(future: impl Future<Output = ()> + Send + 'static) {
    #[cfg(feature = "runtime-tokio")]
    drop(tokio::spawn(future));
    #[cfg(all(feature = "runtime-smol", not(feature = "runtime-tokio")))]
    smol::spawn(future).detach();
}

/// Sleeps on the runtime's timer.
pub(crate) async fn sleep(d: Duration) {
    #[cfg(feature = "runtime-tokio")]
    tokio::time::sleep(d).await;
    #[cfg(all(feature = "runtime-smol", not(feature = "runtime-tokio")))]
    {
        smol::Timer::after(d).await;
    }
}

/// Where a plain thread (the control socket's) runs a future of this session's connection.
#[cfg(feature = "runtime-tokio")]
#[derive(Clone, Debug)]
pub(crate) struct Here(tokio::runtime::Handle);

/// Where a plain thread (the control socket's) runs a future of this session's connection.
#[cfg(all(feature = "runtime-smol", not(feature = "runtime-tokio")))]
#[derive(Clone, Debug)]
pub(crate) struct Here;

impl Here {
    /// The runtime this is called on (call it inside the runtime).
    pub(crate) fn current() -> Self {
        #[cfg(feature = "runtime-tokio")]
        {
            Self(tokio::runtime::Handle::current())
        }
        #[cfg(all(feature = "runtime-smol", not(feature = "runtime-tokio")))]
        {
            Self
        }
    }

    /// Runs `future` to completion from a thread outside the runtime.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        #[cfg(feature = "runtime-tokio")]
        {
            self.0.block_on(future)
        }
        #[cfg(all(feature = "runtime-smol", not(feature = "runtime-tokio")))]
        {
            smol::block_on(future)
        }
    }
}
