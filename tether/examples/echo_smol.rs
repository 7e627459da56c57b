//! An echo bot on smol (`--no-default-features --features runtime-smol,store-redb`): echoes texts, quoting them.
use tether::{Event, Options, RedbStore};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(async {
        let store = RedbStore::open(
            std::env::args()
                .nth(1)
                .as_deref()
                .unwrap_or("echo-bot.redb"),
        )?;
        let config = tether::config_from_env()?.unwrap_or_default();
        let (client, mut events, driver) =
            tether::smol::start(config, store, Options::default()).await?;
        smol::spawn(driver).detach();
        client.connect()?;
        while let Some(event) = events.next().await {
            match event {
                Event::QrCode { code, .. } => println!("qr {code}"),
                Event::Message(msg) => {
                    if let (false, Some(text)) = (msg.from_me, msg.text()) {
                        match client.reply(&msg, text)?.await {
                            Ok(sent) => println!("echoed {} as {}", msg.id, sent.id),
                            Err(e) => eprintln!("echo of {} failed: {e}", msg.id),
                        }
                    }
                    client.confirm(&[msg.inbox])?;
                }
                Event::Stopped { reason } => return Err(reason.to_string().into()),
                _ => {}
            }
        }
        Ok(())
    })
}
