//! The Rust messaging API end to end, on both runtimes with the same scenario: a client links
//! against `SimServer`, a contact's simulated phone (real Signal keys) writes to the account,
//! and the application receives it as a typed `Event::Message`, replies (quoting it), reacts,
//! marks it read, shows typing, sets its presence and confirms it; `send` resolves on the
//! server's acknowledgement, and with a typed error for a number that is not on WhatsApp. Then
//! groups: the group's metadata and the list of joined groups (typed refusals for a group the
//! account is not in and for a JID that is no group), a member's message with the group as
//! chat, and a message to the group that the member's phone gets.
//! Bounded waits only; nothing asserts a speed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use tether_core::binary::Jid;
use tether_core::connection::{Config, Event};
use tether_core::driver::{MessagingError, Options};
use tether_core::messaging::chatstate::ChatState;
use tether_core::messaging::recipient::RecipientError;
use tether_core::messaging::types::{IncomingMessage, SendError};
use tether_core::proxy::ProxySetting;
use tether_runtime_tokio::GroupQueryError;
use tether_sim::MemStore;
use tether_sim::net::{SimServer, SimServerConfig};
use tether_tests::qr_link::link_by_qr;

const LIMIT: Duration = Duration::from_secs(60);

fn setup() -> (SimServer, Config, Options) {
    let server = SimServer::start(SimServerConfig::default()).unwrap();
    let mut config = Config::for_server(server.ws_url(), server.root_public());
    config.reconnect.base_delay = Duration::from_millis(100);
    let mut options = Options::default();
    options.proxy = ProxySetting::Off;
    options.seed = Some([7; 32]);
    (server, config, options)
}

/// Waits until `f` holds for the phone's received messages.
fn phone_got(server: &SimServer, phone: usize, what: &str, f: impl Fn(&str) -> bool) {
    let end = Instant::now() + LIMIT;
    loop {
        let got = server.received(phone).unwrap();
        if got.iter().any(|r| r.text.as_deref().is_some_and(&f)) {
            return;
        }
        assert!(
            Instant::now() < end,
            "phone {phone} never received {what}: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The scenario, written once for both adapters' `Client` (same method names and types).
macro_rules! scenario {
    ($client:expr, $events:expr, $server:expr) => {{
        let client = $client;
        let mut events = $events;
        let server: &SimServer = $server;
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
        // Sends before linking are refused with a typed error; a bad recipient too.
        assert!(matches!(
            client.send_text("+15551234567", "too early"),
            Err(MessagingError::Client(_))
        ));
        assert!(matches!(
            client.send_text("alice", "x"),
            Err(MessagingError::Recipient(
                RecipientError::NotAPhoneNumber { .. }
            ))
        ));
        client.connect().unwrap();
        // The contact's phone can only encrypt for the companion once its pre-keys are up.
        link_by_qr(server, &mut events, LIMIT).await;
        let phones = server.phones();
        let own: Jid = format!("{}@s.whatsapp.net", phones[0].phone_number)
            .parse()
            .unwrap();
        server.send_text(1, &own, "hello tether").unwrap();
        let msg: Box<IncomingMessage> = loop {
            if let Event::Message(m) = next!(&mut events) {
                if m.text() == Some("hello tether") {
                    break m;
                }
            }
        };
        assert!(!msg.from_me);
        // Reply (quoting), react, typing, read, presence; each send resolves on the ack.
        let pending = client.reply(&msg, "echo: hello tether").unwrap();
        let id = pending.id().clone();
        let sent = pending.await.unwrap();
        assert_eq!(sent.id, id);
        assert!(sent.t > 0);
        phone_got(server, 1, "the echo", |t| t == "echo: hello tether");
        client.react(&*msg, "👍").unwrap().await.unwrap();
        client.typing(&msg.chat, ChatState::Composing).unwrap();
        client.typing(&msg.chat, ChatState::Paused).unwrap();
        client.mark_read(&msg).unwrap();
        client.set_presence(true).unwrap();
        client.confirm(&[msg.inbox]).unwrap();
        // By phone number, with a typed failure for a number nobody has.
        let contact = format!("+{}", phones[1].phone_number);
        client
            .send_text(contact.as_str(), "by number")
            .unwrap()
            .await
            .unwrap();
        phone_got(server, 1, "the text sent by number", |t| t == "by number");
        match client.send_text("+19995550123", "nobody").unwrap().await {
            Err(MessagingError::Failed {
                reason: SendError::NoDevices(_),
                ..
            }) => {}
            other => panic!("expected NoDevices, got {other:?}"),
        }
        // Groups: phone 1 makes one with the account; the application queries it, lists its
        // groups, gets a member's message with the group as chat, and writes to the group.
        let group = server
            .create_group(1, "Team", std::slice::from_ref(&own), tether_sim::Namespace::Lid)
            .unwrap();
        let info = client.group_info(&group).unwrap().await.unwrap();
        assert_eq!(info.jid, group);
        assert_eq!(info.subject, "Team");
        assert_eq!(info.participants.len(), 2, "{info:?}");
        assert_eq!(
            info.participants.iter().filter(|p| p.is_super_admin).count(),
            1,
            "{info:?}"
        );
        let joined = client.joined_groups().unwrap().await.unwrap();
        assert!(joined.iter().any(|g| g.jid == group), "{joined:?}");
        let nowhere: Jid = "120363999999999999@g.us".parse().unwrap();
        assert!(matches!(
            client.group_info(&nowhere).unwrap().await,
            Err(GroupQueryError::Refused { group, .. }) if group == nowhere
        ));
        assert!(matches!(
            client.group_info("+15551234567"),
            Err(GroupQueryError::NotAGroup(_))
        ));
        server.send_text(1, &group, "hello group").unwrap();
        let in_group: Box<IncomingMessage> = loop {
            if let Event::Message(m) = next!(&mut events) {
                if m.text() == Some("hello group") {
                    break m;
                }
            }
        };
        assert_eq!(in_group.chat, group);
        let users = [
            Some(in_group.sender.user_str().to_owned()),
            in_group.sender_alt.as_ref().map(|j| j.user_str().to_owned()),
        ];
        assert!(
            users.contains(&Some(phones[1].phone_number.clone()))
                || users.contains(&Some(phones[1].lid_user.clone())),
            "the sender is phone 1: {in_group:?}"
        );
        client.confirm(&[in_group.inbox]).unwrap();
        client.send_text(&group, "hi group").unwrap().await.unwrap();
        phone_got(server, 1, "the group message", |t| t == "hi group");
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
fn the_messaging_api_on_tokio() {
    let (server, config, options) = setup();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, events) = tether_runtime_tokio::start(config, MemStore::default(), options)
            .await
            .unwrap();
        use events_next_tokio as events_next;
        scenario!(client, events, &server);
    });
    server.shutdown();
}

#[test]
fn the_messaging_api_on_smol() {
    let (server, config, options) = setup();
    smol::block_on(async {
        let (client, events, driver) =
            tether_runtime_smol::start(config, MemStore::default(), options)
                .await
                .unwrap();
        smol::spawn(driver).detach();
        use events_next_smol as events_next;
        scenario!(client, events, &server);
    });
    server.shutdown();
}
