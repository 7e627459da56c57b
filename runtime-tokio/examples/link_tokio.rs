//! Link this machine as a WhatsApp companion on tokio and print every event.
//!
//! ```text
//! cargo run -p tether-runtime-tokio --example link_tokio -- [STORE_PATH]
//! ```
//! Scan the printed QR string (render it with any QR tool, or use `tether link`, which draws
//! it). To practise against the simulator instead of WhatsApp, run `tether sim` and set
//! `TETHER_ENDPOINT=ws://127.0.0.1:PORT/ws/chat` and `TETHER_ROOT=<hex root key>` as it prints.
//! Credentials persist in STORE_PATH (default `tether-example.redb`); the example ends at
//! `Stopped` (or Ctrl-C).

use std::error::Error;

use tether_runtime_tokio::{Config, Event, Options, start};
use tether_store_redb::RedbStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
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
    let (client, mut events) = start(config, store, Options::default()).await?;
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
}
