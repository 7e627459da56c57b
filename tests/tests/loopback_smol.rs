//! The loopback suite (`loopback/mod.rs`) on `tether-runtime-smol`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod loopback;

use std::future::Future;

use tether_core::connection::{Command, Config, Event};
use tether_core::driver::{ClientError, Options};
use tether_runtime_smol::{Client, Events, start};

struct Smol {
    client: Client,
    events: Events,
}

impl loopback::Harness for Smol {
    fn block_on<F: Future<Output = ()> + Send + 'static>(f: F) {
        smol::block_on(f);
    }

    async fn start(config: Config, store: loopback::SharedStore, options: Options) -> Self {
        let (client, events, driver) = start(config, store, options).await.expect("start");
        smol::spawn(driver).detach();
        Self { client, events }
    }

    fn command(&self, command: Command) -> Result<(), ClientError> {
        self.client.command(command)
    }

    async fn next_event(&mut self) -> Option<Event> {
        self.events.next().await
    }

    async fn shutdown(mut self) -> (Result<(), ClientError>, Vec<Event>) {
        let result = self.client.shutdown().await;
        let mut rest = Vec::new();
        while let Some(event) = self.events.next().await {
            rest.push(event);
        }
        (result, rest)
    }
}

loopback_suite!(Smol);
