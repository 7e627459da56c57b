//! The three runtimes the suite runs on, as `Harness` implementations.
//! `AsyncStd` drives `tether-runtime-smol` on async-std's executor: the adapter is written against
//! futures-io only, so any executor that runs futures-io code runs it (async-std is a
//! dev-dependency of the tests and nothing else). Each test binary uses one of them.
#![allow(dead_code)]

use std::future::Future;

use tether_core::connection::{Command, Config, Event};
use tether_core::driver::{ClientError, Options};

use super::{Harness, SharedStore};

pub(crate) struct Tokio {
    client: tether_runtime_tokio::Client,
    events: tether_runtime_tokio::Events,
}

impl Harness for Tokio {
    fn block_on<F: Future<Output = ()> + Send + 'static>(f: F) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(f);
    }

    async fn start(config: Config, store: SharedStore, options: Options) -> Self {
        let (client, events) = tether_runtime_tokio::start(config, store, options)
            .await
            .expect("start");
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

pub(crate) struct Smol {
    client: tether_runtime_smol::Client,
    events: tether_runtime_smol::Events,
}

impl Harness for Smol {
    fn block_on<F: Future<Output = ()> + Send + 'static>(f: F) {
        smol::block_on(f);
    }

    async fn start(config: Config, store: SharedStore, options: Options) -> Self {
        let (client, events, driver) = tether_runtime_smol::start(config, store, options)
            .await
            .expect("start");
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

pub(crate) struct AsyncStd {
    client: tether_runtime_smol::Client,
    events: tether_runtime_smol::Events,
}

impl Harness for AsyncStd {
    fn block_on<F: Future<Output = ()> + Send + 'static>(f: F) {
        async_std::task::block_on(f);
    }

    async fn start(config: Config, store: SharedStore, options: Options) -> Self {
        let (client, events, driver) = tether_runtime_smol::start(config, store, options)
            .await
            .expect("start");
        async_std::task::spawn(driver);
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
