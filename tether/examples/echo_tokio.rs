//! An echo bot on tokio: answers every text message with the same text, quoting it.
//! `cargo run -p tether --example echo_tokio [STORE]` (TETHER_SERVER/TETHER_TRUST_ROOT: a `tether sim`).
use tether::{Event, Options, RedbStore};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = RedbStore::open(
        std::env::args()
            .nth(1)
            .as_deref()
            .unwrap_or("echo-bot.redb"),
    )?;
    let config = tether::config_from_env()?.unwrap_or_default();
    let (client, mut events) = tether::tokio::start(config, store, Options::default()).await?;
    client.connect()?;
    while let Some(event) = events.next().await {
        match event {
            Event::QrCode { code, .. } => println!("qr {code}"),
            Event::Message(msg) => {
                if let (false, Some(text)) = (msg.from_me, msg.text()) {
                    match client.reply(&msg, text)?.await {
                        Ok(sent) => println!("echoed {} as {}", msg.id, sent.id), // the server has it
                        Err(e) => eprintln!("echo of {} failed: {e}", msg.id),
                    }
                }
                client.confirm(&[msg.inbox])?; // handled: never delivered again
            }
            Event::Stopped { reason } => return Err(reason.to_string().into()),
            _ => {}
        }
    }
    Ok(())
}
