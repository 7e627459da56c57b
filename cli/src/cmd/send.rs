//! `tether send TO [TEXT]` and `tether read CHAT ID…`: through the running instance's control
//! socket when one serves the store, else by connecting with the store itself for the one
//! message. `send` exits 0 only once the server acknowledged the message.
//!
//! ```text
//!  <store>.sock answers? ─yes─▶ {"cmd":"send",…} ─▶ answer after the server ack ─▶ print the id
//!          │ no
//!          ▼
//!  open the store (linked?) ─▶ connect ─▶ send (durable at once) ─▶ Sent ─▶ shut down ─▶ id
//!                                              └─ SendFailed / Stopped / timeout ─▶ exit 1
//!                                                 (after a timeout the message is kept and
//!                                                  goes out with the next `tether run`)
//! ```

use std::io::Read as _;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};
use std::path::PathBuf;

use tether_control::protocol::{Read, SendContact, SendLocation, SendMedia, SendText};
use tether_control::{AskError, ControlClient, Request};
use tether_core::connection::{Command, Event};
use tether_core::driver::MessagingError;
use tether_core::media::{MediaKind, cards};
use tether_core::messaging::ids::MessageId;
use tether_core::messaging::recipient::{RecipientError, parse_recipient};

use crate::cmd::run::ConnArgs;
use crate::output::{Printer, result, who};
use crate::rt::{self, ProxySetting};
use crate::session::{Session, Step};
use crate::store::{self, SharedStore};
use crate::{Failure, StoreArgs, config, paths};

/// The longest text `send` reads from stdin (WhatsApp's own limit is lower).
const MAX_TEXT: u64 = 64 * 1024;

#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    conn: ConnArgs,
    /// The recipient: a phone number with country code (+15551234567), a user JID, a LID or a
    /// group JID
    #[arg(value_name = "TO")]
    to: String,
    /// The text [default: read from stdin]
    #[arg(value_name = "TEXT")]
    text: Option<String>,
    /// Reply to (quote) the message with this id
    #[arg(long, value_name = "ID")]
    reply_to: Option<String>,
    /// Mention this user (repeatable; write @NUMBER in the text too, as the apps show it)
    #[arg(long, value_name = "USER")]
    mention: Vec<String>,
    /// Send this image (JPEG, PNG or WebP) instead of a text; TEXT, if given, is its caption
    #[arg(long, value_name = "FILE", conflicts_with_all = ["video", "voice", "document", "sticker"])]
    image: Option<PathBuf>,
    /// Send this video (MP4); TEXT, if given, is its caption
    #[arg(long, value_name = "FILE", conflicts_with_all = ["voice", "document", "sticker"])]
    video: Option<PathBuf>,
    /// Send this Ogg/Opus file as a voice note
    #[arg(long, value_name = "FILE.ogg", conflicts_with_all = ["document", "sticker"])]
    voice: Option<PathBuf>,
    /// Send this file as a document (its file name shown); TEXT, if given, is its caption
    #[arg(long, value_name = "FILE", conflicts_with = "sticker")]
    document: Option<PathBuf>,
    /// Send this WebP image as a sticker (animated when the file is)
    #[arg(long, value_name = "FILE.webp")]
    sticker: Option<PathBuf>,
    /// Send a location pin at LAT,LON (decimal degrees, e.g. 52.520008,13.404954)
    #[arg(
        long,
        value_name = "LAT,LON",
        allow_hyphen_values = true,
        conflicts_with_all = ["text", "image", "video", "voice", "document", "sticker", "contact"]
    )]
    location: Option<String>,
    /// Send this vCard file as a contact card (shown by its FN, or --name); a file holding
    /// several cards sends them all in one message
    #[arg(
        long,
        value_name = "FILE.vcf",
        conflicts_with_all = ["text", "image", "video", "voice", "document", "sticker"]
    )]
    contact: Option<PathBuf>,
    /// The place's name (--location) or the name a contact card shows (--contact)
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// The place's address (--location)
    #[arg(long, value_name = "ADDRESS", requires = "location")]
    address: Option<String>,
    /// The caption of an image, video or document (instead of TEXT)
    #[arg(long, value_name = "TEXT", conflicts_with = "text")]
    caption: Option<String>,
    /// Print one JSON object: {id, to, timestamp_ms, via}
    #[arg(long)]
    json: bool,
    /// How long to wait for the server's acknowledgement (seconds)
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    timeout: u64,
}

impl SendArgs {
    /// The media file to send and its kind (`image`, `video`, `voice`, `document`,
    /// `sticker`), if any.
    fn media(&self) -> Option<(&'static str, &std::path::Path)> {
        [
            ("image", &self.image),
            ("video", &self.video),
            ("voice", &self.voice),
            ("document", &self.document),
            ("sticker", &self.sticker),
        ]
        .into_iter()
        .find_map(|(kind, file)| file.as_deref().map(|f| (kind, f)))
    }
}

#[derive(Debug, Args)]
pub(crate) struct ReadArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    conn: ConnArgs,
    /// The chat (a phone number, user JID, LID or group JID)
    #[arg(value_name = "CHAT")]
    chat: String,
    /// The ids of the messages read
    #[arg(value_name = "ID", required = true)]
    ids: Vec<String>,
    /// Who sent them, in a group
    #[arg(long, value_name = "USER")]
    sender: Option<String>,
    /// Print one JSON object
    #[arg(long)]
    json: bool,
    /// How long to wait for the connection when no instance runs (seconds)
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    timeout: u64,
}

pub(crate) const SEND_HELP: &str = "\
Examples:
  tether send +15551234567 'on my way'
  echo 'build failed' | tether send 15551234567@s.whatsapp.net
  tether send +15551234567 'yes!' --reply-to 3EB0C0FFEE1234567890AB --json
  tether send +15551234567 --image photo.jpg --caption 'the view'
  tether send +15551234567 --document report.pdf
  tether send +15551234567 --voice note.ogg
  tether send +15551234567 --sticker party.webp
  tether send +15551234567 --location 52.520008,13.404954 --name 'Brandenburg Gate'
  tether send +15551234567 --contact ada.vcf
  tether send +15551234567 --contact team.vcf --name 'The team'   (several cards, one message)

With `tether run` running on the store, the message goes through its control socket; otherwise
`send` connects with the store itself (nothing else may hold it). It exits 0 once the server has
acknowledged the message and prints its id; 1 if the server refused it or did not answer in
time (the message is then kept in the store and goes out with the next `tether run`); 2 for a
recipient or text it cannot send.";

fn recipient(text: &str, what: &str) -> Result<tether_core::binary::Jid, Failure> {
    parse_recipient(text).map_err(|e: RecipientError| Failure::input(format!("{what}: {e}")))
}

pub(crate) fn send(args: SendArgs) -> Result<(), Failure> {
    let card = args.location.is_some() || args.contact.is_some();
    if args.name.is_some() && !card {
        return Err(Failure::input(
            "--name goes with --location (the place's name) or --contact (the name shown)",
        ));
    }
    if let Some((kind, file)) = args.media() {
        return send_media(&args, kind, file);
    }
    if card && (args.reply_to.is_some() || !args.mention.is_empty()) {
        return Err(Failure::input(
            "--reply-to and --mention go with text messages, not with a location or contact",
        ));
    }
    let to = recipient(&args.to, "TO")?;
    if let Some(place) = &args.location {
        let (latitude, longitude) = coordinates(place)?;
        let request = Request::SendLocation(SendLocation {
            to: to.to_string(),
            latitude,
            longitude,
            name: args.name.clone(),
            address: args.address.clone(),
            wait: true,
        });
        let message = cards::location_message(
            latitude,
            longitude,
            args.name.as_deref(),
            args.address.as_deref(),
        )
        .map_err(|e| Failure::input(format!("--location: {e}")))?;
        return send_message(&args, &request, to, message, &format!("location {place}"));
    }
    if let Some(file) = &args.contact {
        let vcard = read_vcard(file)?;
        let message = cards::contact_message(args.name.as_deref(), &vcard)
            .map_err(|e| Failure::input(format!("--contact {}: {e}", file.display())))?;
        let request = Request::SendContact(SendContact {
            to: to.to_string(),
            vcard,
            display_name: args.name.clone(),
            wait: true,
        });
        let what = format!("contact card {}", file.display());
        return send_message(&args, &request, to, message, &what);
    }
    let text = match &args.text {
        Some(t) => t.clone(),
        None => {
            let mut t = String::new();
            std::io::stdin()
                .take(MAX_TEXT + 1)
                .read_to_string(&mut t)
                .map_err(|e| Failure::input(format!("cannot read the text from stdin: {e}")))?;
            if t.len() as u64 > MAX_TEXT {
                return Err(Failure::input(format!(
                    "the text on stdin is over {MAX_TEXT} bytes; send something shorter"
                )));
            }
            t.trim_end_matches('\n').to_owned()
        }
    };
    if text.trim().is_empty() {
        return Err(Failure::input(
            "nothing to send: give the text as the second argument or on stdin",
        ));
    }
    for m in &args.mention {
        recipient(m, "--mention")?;
    }
    let send_text = SendText {
        to: to.to_string(),
        text,
        reply_to: args.reply_to.clone(),
        mentions: args.mention.clone(),
        wait: true,
    };
    let (to, message) = tether_control::server::compose_send(&send_text, None)
        .map_err(|e| Failure::input(e.to_string()))?;
    send_message(&args, &Request::Send(send_text), to, message, "")
}

/// Sends `message` to `to`: as `request` through the running instance's socket, or with an
/// own connection; prints the result (`what` names a message that is not a text).
fn send_message(
    args: &SendArgs,
    request: &Request,
    to: tether_core::binary::Jid,
    message: tether_core::proto::message::Message,
    what: &str,
) -> Result<(), Failure> {
    let settings = config::load(&args.store)?;
    let path = settings.store(&args.store);
    let timeout = Duration::from_secs(args.timeout);
    let to_text = to.to_string();
    let answer = match through_socket(&path, request, timeout)? {
        Some(answer) => answer,
        None => connect_and(&args.store, &args.conn, timeout, move |session| {
            let pending = session
                .client
                .send(to, message)
                .map_err(|e| Failure::runtime(format!("cannot send: {e}")))?;
            Ok(Action::Await(pending))
        })?,
    };
    let id = answer["id"].as_str().unwrap_or("?").to_owned();
    let what = if what.is_empty() {
        String::new()
    } else {
        format!(" ({what})")
    };
    result(
        args.json,
        json!({
            "id": id,
            "to": to_text,
            "timestamp_ms": answer["timestamp_ms"],
            "via": answer["via"],
        }),
        &[format!(
            "Sent {id}{what} to {} (acknowledged by the server).",
            who(&to_text)
        )],
    );
    Ok(())
}

/// `LAT,LON` in decimal degrees.
fn coordinates(text: &str) -> Result<(f64, f64), Failure> {
    let parsed = text.split_once(',').and_then(|(lat, lon)| {
        Some((
            lat.trim().parse::<f64>().ok()?,
            lon.trim().parse::<f64>().ok()?,
        ))
    });
    parsed.ok_or_else(|| {
        Failure::input(format!(
            "--location {text:?}: give LAT,LON in decimal degrees, e.g. 52.520008,13.404954"
        ))
    })
}

/// The vCard text of `file` (bounded: a file larger than the most cards one message carries
/// is refused unread; each card's own bound is checked when the message is built).
fn read_vcard(file: &std::path::Path) -> Result<String, Failure> {
    let limit = cards::MAX_CARDS_TEXT as u64;
    let mut text = String::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(limit + 1).read_to_string(&mut text))
        .map_err(|e| {
            Failure::input(format!(
                "cannot read the vCard {}: {e}; give a .vcf text file",
                file.display()
            ))
        })?;
    if text.len() as u64 > limit {
        return Err(Failure::input(format!(
            "the vCard file {} is larger than {limit} bytes, the most one message carries; \
             drop photos or notes, or split it into several files",
            file.display()
        )));
    }
    Ok(text)
}

/// `tether send TO --image F | --video F | --voice F | --document F | --sticker F [--caption
/// T]`: uploaded
/// (by the running instance when one serves the store, else by this command), then sent.
fn send_media(args: &SendArgs, kind: &'static str, file: &std::path::Path) -> Result<(), Failure> {
    let to = recipient(&args.to, "TO")?;
    let caption = args.caption.clone().or_else(|| args.text.clone());
    if let ("voice" | "sticker", Some(_)) = (kind, &caption) {
        return Err(Failure::input(format!(
            "a {} has no caption: drop the text",
            if kind == "voice" { "voice note" } else { kind }
        )));
    }
    if args.reply_to.is_some() || !args.mention.is_empty() {
        return Err(Failure::input(
            "--reply-to and --mention go with text messages, not with media",
        ));
    }
    let path = std::path::absolute(file)
        .map_err(|e| Failure::input(format!("cannot use {}: {e}", file.display())))?;
    if !path.is_file() {
        return Err(Failure::input(format!(
            "{} is not a readable file; give the path of the {kind} to send",
            file.display()
        )));
    }
    if let Some(problem) = tether_control::server::sticker_problem(media_kind(kind), &path) {
        return Err(Failure::input(problem));
    }
    let settings = config::load(&args.store)?;
    let store_path = settings.store(&args.store);
    let request = Request::SendMedia(SendMedia {
        to: to.to_string(),
        kind: kind.to_owned(),
        path: path.clone(),
        caption: caption.clone(),
        file_name: None,
        mimetype: None,
        gif: false,
        wait: true,
    });
    let timeout = Duration::from_secs(args.timeout);
    let answer = match through_socket(&store_path, &request, timeout)? {
        Some(answer) => answer,
        None => {
            let kind = media_kind(kind);
            connect_and(&args.store, &args.conn, timeout, move |_| {
                Ok(Action::Media {
                    to,
                    kind,
                    path,
                    caption,
                })
            })?
        }
    };
    let id = answer["id"].as_str().unwrap_or("?").to_owned();
    let to_text = args.to.clone();
    result(
        args.json,
        json!({
            "id": id,
            "to": to_text,
            "timestamp_ms": answer["timestamp_ms"],
            "via": answer["via"],
        }),
        &[format!(
            "Sent {id} ({kind} {}) to {} (acknowledged by the server).",
            file.display(),
            who(&to_text)
        )],
    );
    Ok(())
}

/// The media kind of `send_media`'s `kind` word (one of the flags' names).
fn media_kind(kind: &str) -> MediaKind {
    tether_control::protocol::media_kind(kind).map_or(MediaKind::Document, |(kind, _)| kind)
}

pub(crate) fn read(args: ReadArgs) -> Result<(), Failure> {
    let chat = recipient(&args.chat, "CHAT")?;
    let sender = args
        .sender
        .as_deref()
        .map(|s| recipient(s, "--sender"))
        .transpose()?;
    let settings = config::load(&args.store)?;
    let path = settings.store(&args.store);
    let request = Request::Read(Read {
        chat: chat.to_string(),
        ids: args.ids.clone(),
        sender: sender.as_ref().map(ToString::to_string),
    });
    let timeout = Duration::from_secs(args.timeout);
    let answer = match through_socket(&path, &request, timeout)? {
        Some(a) => a,
        None => {
            let ids: Vec<MessageId> = args.ids.iter().map(|i| MessageId(i.clone())).collect();
            connect_and(&args.store, &args.conn, timeout, move |session| {
                let group = *chat.server() == tether_core::binary::Server::Group;
                session
                    .client
                    .command(Command::MarkRead {
                        chat,
                        participant: sender.filter(|_| group),
                        ids,
                    })
                    .map_err(|e| Failure::runtime(format!("cannot mark read: {e}")))?;
                Ok(Action::Done(json!({})))
            })?
        }
    };
    result(
        args.json,
        json!({"chat": args.chat, "ids": args.ids, "via": answer["via"]}),
        &[format!(
            "Marked {} message(s) in {} as read.",
            args.ids.len(),
            who(&args.chat)
        )],
    );
    Ok(())
}

/// The answer of the running instance, or `None` when no instance serves the store.
fn through_socket(
    store: &std::path::Path,
    request: &Request,
    timeout: Duration,
) -> Result<Option<Value>, Failure> {
    let sock = paths::socket_path(store);
    let mut client = match ControlClient::connect(&sock, Some(timeout)) {
        Ok(c) => c,
        Err(AskError::NoOwner) => return Ok(None),
        Err(e) => return Err(Failure::runtime(e.to_string())),
    };
    match client.request(request) {
        Ok(mut v) => {
            v["via"] = json!("socket");
            Ok(Some(v))
        }
        Err(AskError::Refused { error, code, .. }) => Err(match code.as_str() {
            "invalid_recipient" | "bad_request" => Failure::input(error),
            _ => Failure::runtime(error),
        }),
        Err(e) => Err(Failure::runtime(e.to_string())),
    }
}

/// What to do once connected.
enum Action {
    /// Wait for this message's server answer.
    Await(rt::PendingSend),
    /// Done: this is the answer.
    Done(Value),
    /// Upload this file, send it, then wait for the server's answer.
    Media {
        /// The recipient.
        to: tether_core::binary::Jid,
        /// What it is.
        kind: MediaKind,
        /// The file.
        path: PathBuf,
        /// Its caption.
        caption: Option<String>,
    },
}

/// Opens the store, connects, runs `act` once logged in, and returns its answer.
fn connect_and(
    store_args: &StoreArgs,
    conn: &ConnArgs,
    timeout: Duration,
    act: impl FnOnce(&Session) -> Result<Action, Failure>,
) -> Result<Value, Failure> {
    let settings = config::load(store_args)?;
    let (config, mut options) = conn.resolve(&settings)?;
    let path = settings.store(store_args);
    if !path.exists() {
        return Err(Failure::runtime(format!(
            "no store at {} and no running instance: link one first with `tether run --store {}`",
            path.display(),
            path.display()
        )));
    }
    let opened = store::open(&path)?;
    let linked = opened
        .load_credentials()
        .map_err(|e| Failure::runtime(format!("cannot read {}: {e}", path.display())))?
        .is_some_and(|(c, _)| c.device.is_some());
    if !linked {
        return Err(Failure {
            message: format!(
                "{} holds no linked session; link it with `tether run --store {}` first",
                path.display(),
                path.display()
            ),
            code: crate::exit::NEEDS_LINK,
        });
    }
    if matches!(options.proxy, ProxySetting::FromEnv) && conn.proxy.is_none() {
        options.proxy = crate::cmd::run::proxy_setting(None, &settings);
    }
    let shared = SharedStore::new(opened);
    // Events are not printed: this command prints its one result.
    let quiet = Printer {
        json: false,
        qr: false,
    };
    rt::block_on(async move {
        let mut session =
            Session::start(config, shared, options, quiet, Duration::from_millis(250)).await?;
        session.silence();
        session
            .client
            .connect()
            .map_err(|e| Failure::runtime(format!("cannot connect: {e}")))?;
        let outcome = drive(&mut session, timeout, act).await;
        let _ = session.shutdown().await;
        outcome.map(|mut v| {
            v["via"] = json!("own connection");
            v
        })
    })
    .map_err(|e| Failure::runtime(format!("cannot start the {} runtime: {e}", rt::NAME)))?
}

async fn drive(
    session: &mut Session,
    timeout: Duration,
    act: impl FnOnce(&Session) -> Result<Action, Failure>,
) -> Result<Value, Failure> {
    let deadline = Instant::now() + timeout;
    let mut act = Some(act);
    let mut pending: Option<rt::PendingSend> = None;
    loop {
        if let Some(p) = pending.as_mut() {
            let waited = futures_lite::future::or(async { Some(p.await) }, async {
                // Keep the connection's events flowing while waiting (and notice a stop).
                match session.next().await {
                    Step::Event(Event::Stopped { reason }) => Some(Err(MessagingError::Client(
                        tether_core::driver::ClientError::DriverFailed(format!(
                            "the connection stopped: {reason}"
                        )),
                    ))),
                    Step::Stop(who) => Some(Err(MessagingError::Client(
                        tether_core::driver::ClientError::DriverFailed(format!(
                            "interrupted ({who})"
                        )),
                    ))),
                    _ => None,
                }
            })
            .await;
            match waited {
                Some(Ok(sent)) => {
                    return Ok(json!({
                        "id": sent.id.as_str(),
                        "timestamp_ms": sent.t.saturating_mul(1000),
                    }));
                }
                Some(Err(e)) => {
                    return Err(Failure::runtime(format!(
                        "{e}; the message is kept in the store and goes out with the next `tether run`"
                    )));
                }
                None => {}
            }
        } else {
            match session.next().await {
                Step::Event(Event::Connected { .. }) => {
                    if let Some(act) = act.take() {
                        match act(session)? {
                            Action::Await(p) => pending = Some(p),
                            Action::Done(v) => return Ok(v),
                            Action::Media {
                                to,
                                kind,
                                path,
                                caption,
                            } => {
                                let options = if kind == MediaKind::Audio {
                                    tether_net_common::media_client::voice_note_options(&path)
                                } else {
                                    tether_net_common::media_client::options_for(
                                        kind,
                                        &path,
                                        caption.as_deref(),
                                    )
                                };
                                let sent = session
                                    .client
                                    .send_media(to, kind, &path, &options)
                                    .await
                                    .map_err(|e| {
                                        Failure::runtime(format!(
                                            "cannot send {}: {e}",
                                            path.display()
                                        ))
                                    })?;
                                pending = Some(sent);
                            }
                        }
                    }
                }
                Step::Event(Event::Stopped { reason }) => {
                    return Err(Failure::runtime(format!(
                        "the connection stopped before it was ready: {reason}; see `tether status`"
                    )));
                }
                Step::Event(Event::QrCode { .. }) => {
                    return Err(Failure {
                        message: "the store's session is not linked any more (the server asked \
                                  for a new QR code); link it again with `tether run`"
                            .into(),
                        code: crate::exit::NEEDS_LINK,
                    });
                }
                Step::Stop(who) => return Err(Failure::runtime(format!("interrupted ({who})"))),
                Step::Ended => {
                    return Err(Failure::runtime("the connection driver ended unexpectedly"));
                }
                _ => {}
            }
        }
        if Instant::now() > deadline {
            return Err(Failure::runtime(format!(
                "no answer from the server within {}s; a message is kept in the store and goes \
                 out with the next `tether run`; check the connection with `tether doctor`",
                timeout.as_secs()
            )));
        }
    }
}
