//! Embed Tether in an application with no tokio at all: smol drives the connection. Links
//! this machine as a WhatsApp companion and prints every event.
//!
//! ```text
//! cargo run -p tether-runtime-smol --example link_smol -- [STORE_PATH]
//! ```
//! Scan the printed QR string. Against the simulator: `tether sim`, then set
//! `TETHER_ENDPOINT=ws://127.0.0.1:PORT/ws/chat` and `TETHER_ROOT=<hex root key>` as it prints.
//! Credentials persist in STORE_PATH (default `tether-example.redb`).

use std::error::Error;

use tether_runtime_smol::{Config, Event, Options, start};
use tether_store_redb::RedbStore;

fn main() -> Result<(), Box<dyn Error>> {
    smol::block_on(async {
        let path = std::env::args()
            .nth(1)
            .unwrap_or_else(|| "tether-example.redb".into());
        let store = RedbStore::open(&path)?;
        let config = match (
            std::env::var("TETHER_ENDPOINT"),
            std::env::var("TETHER_ROOT"),
        ) {
            (Ok(endpoint), Ok(root)) => {
                let mut key = [0; 32];
                hex::decode_to_slice(root.trim(), &mut key)?;
                Config::for_server(endpoint, key)
            }
            _ => Config::default(),
        };
        let (client, mut events, driver) = start(config, store, Options::default()).await?;
        // The driver is a plain future: any executor that runs futures-io code can run it.
        smol::spawn(driver).detach();
        client.connect()?;
        while let Some(event) = events.next().await {
            match event {
                Event::QrCode { code, .. } => println!("scan this QR code with WhatsApp: {code}"),
                Event::Connected { jid } => println!("connected as {jid}"),
                Event::Stopped { reason } => {
                    println!("stopped: {reason}");
                    break;
                }
                other => println!("{other:?}"),
            }
        }
        client.shutdown().await?;
        Ok(())
    })
}
