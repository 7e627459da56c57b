//! `tether logout`: connect, tell the server to remove this companion (`Command::Logout`), and
//! quarantine the credentials (kept aside, never deleted).

use std::time::{Duration, Instant};

use clap::Args;
use tether_core::connection::{Command, Event};

use crate::cmd::run::ConnArgs;
use crate::output::Printer;
use crate::rt;
use crate::session::{Session, Step};
use crate::store::{self, SharedStore};
use crate::{Failure, StoreArgs, config};

#[derive(Debug, Args)]
pub(crate) struct LogoutArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    #[command(flatten)]
    pub(crate) conn: ConnArgs,
    /// Seconds to wait for the server
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub(crate) timeout: u64,
    /// One JSON object per event on stdout
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run(args: LogoutArgs) -> Result<(), Failure> {
    let settings = config::load(&args.store)?;
    let (config, options) = args.conn.resolve(&settings)?;
    let path = settings.store(&args.store);
    let opened = store::open_existing(&path)?;
    let linked = opened
        .load_credentials()
        .map_err(|e| Failure::runtime(format!("cannot read the session: {e}")))?
        .is_some_and(|(c, _)| c.device.is_some());
    if !linked {
        return Err(Failure::runtime(format!(
            "{} holds no linked session; nothing to log out",
            path.display()
        )));
    }
    let shared = SharedStore::new(opened);
    let printer = Printer {
        json: args.json,
        qr: false,
    };
    let timeout = Duration::from_secs(args.timeout);
    rt::block_on(async move {
        let mut session = Session::start(config, shared, options, printer, Duration::from_millis(250)).await?;
        session
            .client
            .connect()
            .map_err(|e| Failure::runtime(format!("cannot connect: {e}")))?;
        let deadline = Instant::now() + timeout;
        let mut sent = false;
        loop {
            match session.next().await {
                Step::Event(Event::Connected { .. }) if !sent => {
                    sent = true;
                    if let Err(e) = session.client.command(Command::Logout) {
                        let _ = session.shutdown().await;
                        return Err(Failure::runtime(format!("the logout was refused: {e}")));
                    }
                }
                Step::Event(Event::Stopped { reason }) => {
                    let _ = session.shutdown().await;
                    return if sent {
                        printer.info("Logged out: the server removed this linked device; its credentials are quarantined (kept aside) in the store.");
                        Ok(())
                    } else if reason.invalidates_session() {
                        printer.info("The server already considers this device logged out; its credentials are quarantined (kept aside) in the store.");
                        Ok(())
                    } else {
                        Err(Failure::runtime(format!(
                            "could not log in to log out ({reason}); to set the session aside without the server, use `tether relink`"
                        )))
                    };
                }
                Step::Stop(_) | Step::Ended => {
                    let _ = session.shutdown().await;
                    return Err(Failure::runtime("interrupted before the logout finished"));
                }
                Step::Event(_) | Step::Tick => {}
            }
            if Instant::now() > deadline {
                let _ = session.shutdown().await;
                return Err(Failure::runtime(format!(
                    "the server did not confirm the logout within {}s; check the network with `tether doctor`, \
                     or set the session aside locally with `tether relink`",
                    timeout.as_secs()
                )));
            }
        }
    })
    .map_err(|e| Failure::runtime(format!("cannot start the {} runtime: {e}", rt::NAME)))?
}
