//! The media-retry ("re-upload") flow through the Rust API against a TLS `SimServer`
//! (`media.md` §4.4): a contact's phone sends media to the account, the file expires on the
//! media host, and `download_message` asks the account's phone for a re-upload (an encrypted
//! `server-error` receipt), gets the new path in the `mediaretry` notification and downloads
//! the identical file from there. With the phone not answering, the same download ends in a
//! typed `MediaError::Expired { retry: Timeout }` after `Options::media_retry_timeout`: it
//! never hangs. Bounded waits only; nothing asserts a speed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tether_core::binary::Jid;
use tether_core::connection::{Config, Event};
use tether_core::driver::{Options, TlsTrust};
use tether_core::media::{MediaError, MediaKind, MediaOptions, MediaRef, RetryError};
use tether_core::messaging::types::IncomingMessage;
use tether_core::proxy::ProxySetting;
use tether_sim::MemStore;
use tether_sim::net::{SimServer, SimServerConfig, TestCa};

const LIMIT: Duration = Duration::from_secs(60);

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("tether-media-retry-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn content(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(salt) ^ ((i >> 7) as u8))
        .collect()
}

async fn next_event(events: &mut tether_runtime_tokio::Events) -> Event {
    tokio::time::timeout(LIMIT, events.next())
        .await
        .expect("no event within the limit")
        .expect("the driver ended")
}

/// Waits for the message carrying media with this caption.
async fn media_message(
    events: &mut tether_runtime_tokio::Events,
    caption: &str,
) -> Box<IncomingMessage> {
    loop {
        if let Event::Message(m) = next_event(events).await
            && MediaRef::of(&m.message).is_some_and(|r| r.caption.as_deref() == Some(caption))
        {
            return m;
        }
    }
}

#[test]
fn an_expired_file_is_reuploaded_by_the_phone_and_no_answer_is_a_typed_timeout() {
    let dir = scratch("flow");
    let ca = TestCa::generate().unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.ca_pem()).unwrap();
    let server = SimServer::start(SimServerConfig {
        tls: Some(ca),
        ..SimServerConfig::default()
    })
    .unwrap();
    let mut config = Config::for_server(server.ws_url(), server.root_public());
    config.reconnect.base_delay = Duration::from_millis(100);
    config.version_url = server.version_url();
    let mut options = Options::default();
    options.proxy = ProxySetting::Off;
    options.seed = Some([7; 32]);
    options.trust = TlsTrust::builtin_only().with_ca_file(ca_file);
    options.media_retry_timeout = Duration::from_secs(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, mut events) =
            tether_runtime_tokio::start(config, MemStore::default(), options)
                .await
                .unwrap();
        client.connect().unwrap();
        let companion = loop {
            match next_event(&mut events).await {
                Event::QrCode { code, .. } => {
                    server.scan_qr(&code).unwrap();
                }
                Event::Connected { jid } => break jid,
                _ => {}
            }
        };
        let end = Instant::now() + LIMIT;
        while server
            .with_server(|s| s.pre_key_count(&companion))
            .unwrap_or(0)
            == 0
        {
            assert!(Instant::now() < end, "no pre-keys uploaded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let own: Jid = format!("{}@s.whatsapp.net", server.phones()[0].phone_number)
            .parse()
            .unwrap();

        // The contact's document expires; the account's phone re-uploads it on request.
        let file = content(70_001, 1);
        let mut sent = MediaOptions::default();
        sent.caption = Some("expires".into());
        sent.file_name = Some("old.pdf".into());
        server
            .send_media(1, &own, MediaKind::Document, &file, &sent)
            .unwrap();
        let m = media_message(&mut events, "expires").await;
        let old_path = MediaRef::of(&m.message).unwrap().direct_path.unwrap();
        assert!(server.expire_media(&old_path));
        let target = dir.join("old.pdf");
        match client.download(&m.message, &target).await {
            Err(MediaError::Status { status: 410, .. }) => {}
            other => panic!("the expired file must be a 410 first, got {other:?}"),
        }
        let length = client
            .download_message(&m, &target)
            .await
            .unwrap_or_else(|e| panic!("the re-upload did not help: {e}"));
        assert_eq!(length, file.len() as u64);
        assert_eq!(std::fs::read(&target).unwrap(), file);
        assert_eq!(
            server.media_retries_answered(0),
            Some(1),
            "phone 0 answered once"
        );
        assert_eq!(server.media_retries_answered(1), Some(0));

        // A phone that does not answer: a typed timeout, no file.
        server.answer_media_retries(false);
        sent.caption = Some("no answer".into());
        server
            .send_media(1, &own, MediaKind::Image, &content(3_000, 2), &sent)
            .unwrap();
        let m = media_message(&mut events, "no answer").await;
        let path = MediaRef::of(&m.message).unwrap().direct_path.unwrap();
        assert!(server.expire_media(&path));
        let nothing = dir.join("nothing.jpg");
        match client.download_message(&m, &nothing).await {
            Err(MediaError::Expired {
                status: 410,
                retry: RetryError::Timeout(2),
            }) => {}
            other => panic!("no answer must end in a typed timeout, got {other:?}"),
        }
        assert!(!nothing.exists());
        client.shutdown().await.unwrap();
    });
    server.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}
