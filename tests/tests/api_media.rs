//! Media end to end through the Rust API, on both runtimes with the same scenario: a client
//! links against a TLS `SimServer` (its media host serves HTTPS with the test CA, trusted
//! through `Options::trust`), uploads and sends a document, an image and an animated sticker
//! to a contact's simulated phone, which downloads byte-identical files from the media host,
//! and sends a location and a contact card the phone gets field for field (off-globe
//! coordinates and a non-vCard refused, nothing queued); the phone sends
//! a document back and the client downloads it, verified, to a path; a corrupted blob is
//! refused with a typed integrity error and leaves no file; an expired one is a 410, and
//! `download_message` gets it again through the media-retry flow (on both runtimes; the
//! failures, NOT_FOUND and a typed timeout, on tokio). Images and documents also go from bytes
//! and from the runtime's own async readers (a PNG with its generated thumbnail size; a reader
//! over the media limit refused).
//! Bounded waits only; nothing asserts a speed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use prost::Message as _;
use tether_core::binary::Jid;
use tether_core::connection::{Config, Event};
use tether_core::driver::{Options, TlsTrust};
use tether_core::media::cards::{CardError, SendCardError};
use tether_core::media::{MediaError, MediaKind, MediaOptions, MediaRef, RetryError};
use tether_core::messaging::types::IncomingMessage;
use tether_core::proto::message::Message;
use tether_core::proxy::ProxySetting;
use tether_sim::MemStore;
use tether_sim::net::{SimServer, SimServerConfig, TestCa};
use tether_tests::qr_link::link_by_qr;

const LIMIT: Duration = Duration::from_secs(60);

/// A scratch directory for this test run.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tether-api-media-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `len` bytes of a fixed pattern (not a multiple of the AES block).
fn content(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt) ^ ((i >> 8) as u8))
        .collect()
}

/// A `width`×`height` PNG.
fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([x as u8, y as u8, (x ^ y) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn setup(dir: &std::path::Path) -> (SimServer, Config, Options) {
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
    options.seed = Some([9; 32]);
    options.media_limit = 1024 * 1024;
    // Both upload paths: the image, sticker and PNG below fit and are encrypted once into
    // memory; the 200 kB and 300 kB documents do not and stream in two passes.
    options.media_memory_budget = 100_000;
    options.trust = TlsTrust::builtin_only().with_ca_file(ca_file);
    (server, config, options)
}

/// Waits until phone `phone` received a media message with this caption or file name.
fn phone_media(server: &SimServer, phone: usize, what: &str) -> MediaRef {
    let end = Instant::now() + LIMIT;
    loop {
        let got = server.received(phone).unwrap();
        let found = got
            .iter()
            .filter_map(|r| r.media.as_deref())
            .find(|m| m.caption.as_deref() == Some(what) || m.file_name.as_deref() == Some(what));
        if let Some(media) = found {
            return media.clone();
        }
        assert!(
            Instant::now() < end,
            "phone {phone} never received {what}: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until phone `phone` received a sticker.
fn phone_sticker(server: &SimServer, phone: usize) -> MediaRef {
    let end = Instant::now() + LIMIT;
    loop {
        let got = server.received(phone).unwrap();
        let found = got
            .iter()
            .filter_map(|r| r.media.as_deref())
            .find(|m| m.kind == Some(MediaKind::Sticker));
        if let Some(media) = found {
            return media.clone();
        }
        assert!(
            Instant::now() < end,
            "phone {phone} never received a sticker: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until phone `phone` received message `id`; returns its whole content.
fn phone_message(server: &SimServer, phone: usize, id: &str) -> Message {
    let end = Instant::now() + LIMIT;
    loop {
        let got = server.received(phone).unwrap();
        if let Some(r) = got.iter().find(|r| r.id == id) {
            return Message::decode(r.content.as_ref()).unwrap();
        }
        assert!(
            Instant::now() < end,
            "phone {phone} never received {id}: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

macro_rules! scenario {
    ($client:expr, $events:expr, $server:expr, $dir:expr, $reader:expr) => {{
        let client = $client;
        let mut events = $events;
        let server: &SimServer = $server;
        let dir: &std::path::Path = $dir;
        macro_rules! next {
            ($e:expr) => {{
                let e: Option<Event> =
                    futures_lite::future::or(async { Some(events_next($e).await) }, async {
                        async_io::Timer::after(LIMIT).await;
                        None
                    })
                    .await;
                e.expect("no event within the limit")
            }};
        }
        macro_rules! media_message {
            ($caption:expr) => {{
                let m: Box<IncomingMessage> = loop {
                    if let Event::Message(m) = next!(&mut events) {
                        let media = MediaRef::of(&m.message);
                        if media
                            .as_ref()
                            .is_some_and(|r| r.caption.as_deref() == Some($caption))
                        {
                            break m;
                        }
                    }
                };
                m
            }};
        }
        assert!(server.media_host().is_some(), "the TLS sim serves media");
        client.connect().unwrap();
        link_by_qr(server, &mut events, LIMIT).await;
        let phones = server.phones();
        let own: Jid = format!("{}@s.whatsapp.net", phones[0].phone_number)
            .parse()
            .unwrap();
        let contact = format!("+{}", phones[1].phone_number);

        // Tether → phone: a document (several chunks) and an image, uploaded over HTTPS.
        let document = content(200_003, 1);
        let doc_path = dir.join("report.pdf");
        std::fs::write(&doc_path, &document).unwrap();
        client
            .send_document(contact.as_str(), &doc_path, None)
            .await
            .unwrap()
            .await
            .unwrap();
        let got = phone_media(server, 1, "report.pdf");
        assert_eq!(got.kind, Some(MediaKind::Document));
        assert_eq!(got.mimetype.as_deref(), Some("application/pdf"));
        assert_eq!(got.file_length, Some(document.len() as u64));
        assert_eq!(
            server.fetch_media(&got).unwrap(),
            document,
            "the phone's download differs"
        );
        let image = content(4_321, 2);
        let image_path = dir.join("photo.jpg");
        std::fs::write(&image_path, &image).unwrap();
        client
            .send_image(contact.as_str(), &image_path, Some("a photo"))
            .await
            .unwrap()
            .await
            .unwrap();
        let got = phone_media(server, 1, "a photo");
        assert_eq!(got.kind, Some(MediaKind::Image));
        assert_eq!(server.fetch_media(&got).unwrap(), image);
        // A sticker: an animated WebP, so `send_sticker` marks it animated.
        let mut sticker = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\x12".to_vec();
        sticker.extend(content(3_001, 6));
        let sticker_path = dir.join("wave.webp");
        std::fs::write(&sticker_path, &sticker).unwrap();
        client
            .send_sticker(contact.as_str(), &sticker_path)
            .await
            .unwrap()
            .await
            .unwrap();
        let got = phone_sticker(server, 1);
        assert_eq!(got.mimetype.as_deref(), Some("image/webp"));
        assert!(got.animated, "{got:?}");
        assert_eq!(server.fetch_media(&got).unwrap(), sticker);
        assert_eq!(server.media_uploads(), 3, "one upload per file, over HTTPS");

        // A location and a contact card (no upload): the phone gets the exact fields.
        let sent = client
            .send_location(contact.as_str(), 52.520008, 13.404954, Some("Brandenburg Gate"), Some("Pariser Platz"))
            .unwrap()
            .await
            .unwrap();
        let got = phone_message(server, 1, sent.id.as_str());
        let place = got.location_message.as_deref().expect("a location");
        assert_eq!(place.degrees_latitude, Some(52.520008));
        assert_eq!(place.degrees_longitude, Some(13.404954));
        assert_eq!(place.name.as_deref(), Some("Brandenburg Gate"));
        assert_eq!(place.address.as_deref(), Some("Pariser Platz"));
        let vcard = "BEGIN:VCARD\nVERSION:3.0\nFN:Ada Lovelace\nTEL;type=CELL;waid=4915112345678:+4915112345678\nEND:VCARD";
        let sent = client
            .send_contact(contact.as_str(), None, vcard)
            .unwrap()
            .await
            .unwrap();
        let got = phone_message(server, 1, sent.id.as_str());
        let card = got.contact_message.as_deref().expect("a contact card");
        assert_eq!(card.display_name.as_deref(), Some("Ada Lovelace"), "the vCard's FN");
        assert_eq!(card.vcard.as_deref(), Some(vcard));
        // Two cards in one text: one contacts message, each card under its FN.
        let alan = "BEGIN:VCARD\nVERSION:3.0\nFN:Alan Turing\nEND:VCARD";
        let sent = client
            .send_contact(contact.as_str(), None, &format!("{vcard}\n\n{alan}\n"))
            .unwrap()
            .await
            .unwrap();
        let got = phone_message(server, 1, sent.id.as_str());
        let list = got.contacts_array_message.as_deref().expect("a contacts list");
        assert_eq!(list.display_name.as_deref(), Some("2 contacts"));
        let cards: Vec<_> = list
            .contacts
            .iter()
            .map(|c| (c.display_name.as_deref(), c.vcard.as_deref()))
            .collect();
        assert_eq!(cards, [(Some("Ada Lovelace"), Some(vcard)), (Some("Alan Turing"), Some(alan))]);
        match client.send_contact(contact.as_str(), None, &format!("{vcard}\nBEGIN:VCARD\nTEL:+1\nEND:VCARD")) {
            Err(SendCardError::Card(CardError::UnnamedCard { position: 2, count: 2 })) => {}
            other => panic!("a card of a list with no FN must be refused, got {other:?}"),
        }
        match client.send_location(contact.as_str(), 0.0, 181.0, None, None) {
            Err(SendCardError::Card(CardError::Coordinates { .. })) => {}
            other => panic!("a longitude off the globe must be refused, got {other:?}"),
        }
        match client.send_contact(contact.as_str(), Some("Ada"), "TEL:+4915112345678") {
            Err(SendCardError::Card(CardError::NotVcard)) => {}
            other => panic!("a card that is not a vCard must be refused, got {other:?}"),
        }
        assert_eq!(server.media_uploads(), 3, "locations and cards upload nothing");

        // From bytes: a PNG, sent with its JPEG thumbnail and size (the `thumbnails` feature),
        // its mimetype read from its first bytes.
        let png = png(320, 240);
        client
            .send_image(contact.as_str(), png.clone(), Some("a png from bytes"))
            .await
            .unwrap()
            .await
            .unwrap();
        let got = phone_media(server, 1, "a png from bytes");
        assert_eq!(got.mimetype.as_deref(), Some("image/png"));
        assert_eq!((got.width, got.height), (Some(320), Some(240)));
        assert_eq!(server.fetch_media(&got).unwrap(), png);
        // From a reader (the runtime's own AsyncRead), named: streamed to a spool file, then
        // uploaded like a path; the document shows the name.
        let streamed = content(300_007, 7);
        let source = ($reader)(streamed.clone()).named("streamed.txt");
        client
            .send_document(contact.as_str(), source, Some("from a reader"))
            .await
            .unwrap()
            .await
            .unwrap();
        let got = phone_media(server, 1, "streamed.txt");
        assert_eq!(got.mimetype.as_deref(), Some("text/plain"));
        assert_eq!(got.file_length, Some(streamed.len() as u64));
        assert_eq!(server.fetch_media(&got).unwrap(), streamed);
        // Over the media limit (1 MiB here), a reader is refused as it is read.
        let big = ($reader)(vec![0u8; 2 * 1024 * 1024]);
        match client.send_document(contact.as_str(), big, None).await {
            Err(tether_runtime_tokio::SendMediaError::Media(MediaError::TooLarge { .. })) => {}
            other => panic!("a reader over the media limit must be refused, got {other:?}"),
        }
        assert_eq!(server.media_uploads(), 5, "nothing uploaded for the refused reader");

        // Phone → Tether: the media lands with the message; the download is verified.
        let back = content(150_001, 3);
        let mut options = MediaOptions::default();
        options.caption = Some("from the phone".into());
        options.file_name = Some("notes.txt".into());
        server
            .send_media(1, &own, MediaKind::Document, &back, &options)
            .unwrap();
        let m = media_message!("from the phone");
        let target = dir.join("notes.txt");
        let length = client.download(&m.message, &target).await.unwrap();
        assert_eq!(length, back.len() as u64);
        assert_eq!(std::fs::read(&target).unwrap(), back);
        assert_eq!(client.download_bytes(&m.message).await.unwrap(), back);

        // A corrupted blob is refused with a typed error and leaves no file behind.
        options.caption = Some("corrupted".into());
        server
            .send_media(1, &own, MediaKind::Image, &content(5_000, 4), &options)
            .unwrap();
        let m = media_message!("corrupted");
        let path = MediaRef::of(&m.message).unwrap().direct_path.unwrap();
        assert!(server.corrupt_media(&path));
        let refused = dir.join("corrupted.jpg");
        match client.download(&m.message, &refused).await {
            Err(MediaError::Integrity(_)) => {}
            other => panic!("a corrupted blob must be refused as corrupted, got {other:?}"),
        }
        assert!(!refused.exists());
        assert!(!dir.join("corrupted.jpg.part").exists());

        // An expired blob: the host's 410, typed (the media-retry remedy's cue), and
        // `download_message` has the phone upload it again.
        options.caption = Some("expired".into());
        let expired = content(700, 5);
        server
            .send_media(1, &own, MediaKind::Image, &expired, &options)
            .unwrap();
        let m = media_message!("expired");
        let path = MediaRef::of(&m.message).unwrap().direct_path.unwrap();
        assert!(server.expire_media(&path));
        match client.download_bytes(&m.message).await {
            Err(e) if e.is_reference_rejected() => {}
            other => panic!("an expired blob must be a 403/404/410, got {other:?}"),
        }
        let again = dir.join("expired.jpg");
        client.download_message(&m, &again).await.unwrap();
        assert_eq!(std::fs::read(&again).unwrap(), expired);
        assert_eq!(server.media_retries_answered(0), Some(1));
        client.shutdown().await.unwrap();
    }};
}

async fn events_next_tokio(events: &mut tether_runtime_tokio::Events) -> Event {
    events.next().await.expect("the driver ended")
}

async fn events_next_smol(events: &mut tether_runtime_smol::Events) -> Event {
    events.next().await.expect("the driver ended")
}

#[test]
fn media_round_trips_on_tokio() {
    let dir = scratch("tokio");
    let (server, config, options) = setup(&dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let scratch_dir = dir.clone();
    rt.block_on(async {
        let (client, events) = tether_runtime_tokio::start(config, MemStore::default(), options)
            .await
            .unwrap();
        use events_next_tokio as events_next;
        scenario!(client, events, &server, &scratch_dir, |data: Vec<u8>| {
            tether_runtime_tokio::media_reader(std::io::Cursor::new(data))
        });
    });
    server.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn media_round_trips_on_smol() {
    let dir = scratch("smol");
    let (server, config, options) = setup(&dir);
    let scratch_dir = dir.clone();
    smol::block_on(async {
        let (client, events, driver) =
            tether_runtime_smol::start(config, MemStore::default(), options)
                .await
                .unwrap();
        smol::spawn(driver).detach();
        use events_next_smol as events_next;
        scenario!(client, events, &server, &scratch_dir, |data: Vec<u8>| {
            tether_runtime_smol::media_reader(futures_lite::io::Cursor::new(data))
        });
    });
    server.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}

/// A `MemStore` two clients in a row can use (the second after the first "crashed").
#[derive(Clone, Default)]
struct SharedStore(std::sync::Arc<std::sync::Mutex<MemStore>>);

impl SharedStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemStore> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl tether_core::creds::CredentialStore for SharedStore {
    fn load(
        &mut self,
    ) -> Result<
        Option<(
            tether_core::creds::Credentials,
            tether_core::creds::PersistSeq,
        )>,
        tether_core::creds::StoreError,
    > {
        self.lock().load()
    }
    fn apply(
        &mut self,
        seq: tether_core::creds::PersistSeq,
        delta: &tether_core::creds::CredentialsDelta,
    ) -> Result<(), tether_core::creds::StoreError> {
        self.lock().apply(seq, delta)
    }
    fn quarantine(
        &mut self,
        seq: tether_core::creds::PersistSeq,
        why: &str,
    ) -> Result<(), tether_core::creds::StoreError> {
        self.lock().quarantine(seq, why)
    }
    fn read(
        &mut self,
        reads: &[tether_core::records::RecordRead],
    ) -> Result<Vec<tether_core::records::RecordData>, tether_core::creds::StoreError> {
        self.lock().read(reads)
    }
}

/// The next event within the limit.
async fn next_event(events: &mut tether_runtime_tokio::Events) -> Event {
    tokio::time::timeout(LIMIT, events.next())
        .await
        .expect("no event within the limit")
        .expect("the driver ended")
}

/// Connects `client`, links it through phone 0's QR scan and waits for its pre-keys.
async fn linked(
    client: &tether_runtime_tokio::Client,
    events: &mut tether_runtime_tokio::Events,
    server: &SimServer,
) {
    client.connect().unwrap();
    link_by_qr(server, events, LIMIT).await;
}

/// Durability (upload, then the outbox row, then the stanza): the file is uploaded while the
/// connection is down, the client "crashes" before the message could go out, and the next
/// client on the same store sends it from the outbox without uploading again.
#[test]
fn a_crash_after_the_upload_resends_without_uploading_twice() {
    let dir = scratch("crash");
    let (server, config, options) = setup(&dir);
    let store = SharedStore::default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, mut events) =
            tether_runtime_tokio::start(config.clone(), store.clone(), options.clone())
                .await
                .unwrap();
        linked(&client, &mut events, &server).await;
        let contact = format!("+{}", server.phones()[1].phone_number);
        // The token and hosts are cached; then the server goes away.
        client.media_conn(false).await.unwrap();
        server.with_server(|s| s.refuse_next_connects(10_000));
        server.inject(tether_sim::Fault::AbruptClose);
        while !matches!(next_event(&mut events).await, Event::Disconnected { .. }) {}
        let document = content(70_000, 6);
        let path = dir.join("offline.pdf");
        std::fs::write(&path, &document).unwrap();
        let pending = client
            .send_document(contact.as_str(), &path, None)
            .await
            .unwrap();
        let id = pending.id().clone();
        assert_eq!(server.media_uploads(), 1);
        drop(pending);
        client.shutdown().await.unwrap();
        drop(events);

        // The next client on the same store: the outbox sends it; nothing is uploaded again.
        server.with_server(|s| s.clear_connect_faults());
        let (client, mut events) = tether_runtime_tokio::start(config, store.clone(), options)
            .await
            .unwrap();
        client.connect().unwrap();
        loop {
            if let Event::Sent { id: sent, .. } = next_event(&mut events).await
                && sent == id
            {
                break;
            }
        }
        let got = phone_media(&server, 1, "offline.pdf");
        assert_eq!(server.fetch_media(&got).unwrap(), document);
        assert_eq!(
            server.media_uploads(),
            1,
            "the resend must not upload again"
        );
        client.shutdown().await.unwrap();
    });
    server.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}

/// Waits for the message carrying media with this caption.
async fn message_with_caption(
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

/// The media-retry ("re-upload") flow (`media.md` §4.4): a contact's phone sends media to the
/// account, the file expires on the media host, and `download_message` asks the account's
/// phone for a re-upload (an encrypted `server-error` receipt), gets the new path in the
/// `mediaretry` notification and downloads the identical file from there; the same for media
/// the account's phone sent itself (Tether has its copy). A file gone from the host ends in a
/// typed NOT_FOUND; with the phone not answering, the download ends in a typed
/// `MediaError::Expired { retry: Timeout }` after `Options::media_retry_timeout`: it never
/// hangs.
#[test]
fn an_expired_file_is_reuploaded_by_the_phone_and_no_answer_is_a_typed_timeout() {
    let dir = scratch("retry");
    let (server, config, mut options) = setup(&dir);
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
        linked(&client, &mut events, &server).await;
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
        let m = message_with_caption(&mut events, "expires").await;
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

        // Media the own phone sent (Tether has the copy, `from_me`): the phone answers too.
        let contact: Jid = format!("{}@s.whatsapp.net", server.phones()[1].phone_number)
            .parse()
            .unwrap();
        let own_file = content(9_999, 3);
        sent.caption = Some("sent by the phone".into());
        server
            .send_media(0, &contact, MediaKind::Image, &own_file, &sent)
            .unwrap();
        let m = message_with_caption(&mut events, "sent by the phone").await;
        assert!(m.from_me, "{m:?}");
        let path = MediaRef::of(&m.message).unwrap().direct_path.unwrap();
        assert!(server.expire_media(&path));
        let copy = dir.join("copy.jpg");
        client.download_message(&m, &copy).await.unwrap();
        assert_eq!(std::fs::read(&copy).unwrap(), own_file);
        assert_eq!(server.media_retries_answered(0), Some(2));

        // A file the phone cannot upload again (gone from the host): NOT_FOUND, typed.
        sent.caption = Some("purged".into());
        server
            .send_media(1, &own, MediaKind::Document, &content(5_000, 4), &sent)
            .unwrap();
        let m = message_with_caption(&mut events, "purged").await;
        let path = MediaRef::of(&m.message).unwrap().direct_path.unwrap();
        assert!(server.purge_media(&path));
        match client.download_message(&m, dir.join("purged.pdf")).await {
            Err(MediaError::Expired {
                status: 404,
                retry: RetryError::NotFound,
            }) => {}
            other => panic!("a purged file must end in NOT_FOUND, got {other:?}"),
        }
        assert_eq!(server.media_retries_answered(0), Some(3));

        // A phone that does not answer: a typed timeout, no file.
        server.answer_media_retries(false);
        sent.caption = Some("no answer".into());
        server
            .send_media(1, &own, MediaKind::Image, &content(3_000, 2), &sent)
            .unwrap();
        let m = message_with_caption(&mut events, "no answer").await;
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
