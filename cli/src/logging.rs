//! Output streams for production: logs on stderr (RFC 3339 UTC timestamps, `--log-format
//! text|json`, colours only on a terminal: `--color auto|always|never`, `NO_COLOR`), filtered
//! by `TETHER_LOG` (or `RUST_LOG`; an invalid filter is reported, not silently replaced), and
//! stdout lines that end the process quietly when the reader went away (`tether doctor | head
//! -1`) instead of panicking.
//!
//! The default filter shows warnings and errors only; commands that print every lifecycle
//! event on stdout also silence the core's own log of the same events, so nothing appears
//! twice.

use std::io::{IsTerminal as _, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// When log lines use ANSI colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum Color {
    /// Only when stderr is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// The shape of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum LogFormat {
    /// One human line per record: time, level, target, message.
    #[default]
    Text,
    /// One JSON object per record (`timestamp`, `level`, `target`, `fields`).
    Json,
}

/// Installs the stderr subscriber. `default` is the filter when neither `TETHER_LOG` nor
/// `RUST_LOG` is set; an invalid one is reported on stderr and `default` used instead.
pub(crate) fn init(default: &str, color: Color, format: LogFormat) {
    let (name, given) = match (std::env::var("TETHER_LOG"), std::env::var("RUST_LOG")) {
        (Ok(v), _) => ("TETHER_LOG", Some(v)),
        (Err(_), Ok(v)) => ("RUST_LOG", Some(v)),
        _ => ("", None),
    };
    let filter = match given.as_deref().map(EnvFilter::try_new) {
        Some(Ok(filter)) => filter,
        Some(Err(e)) => {
            warn_line(&format!(
                "{name}={:?} is not a valid log filter ({e}); using {default:?}. Write it like \
                 `TETHER_LOG=tether=debug` or `TETHER_LOG=warn,tether_core=debug`",
                given.unwrap_or_default()
            ));
            EnvFilter::new(default)
        }
        None => EnvFilter::new(default),
    };
    let ansi = use_color(color, std::io::stderr().is_terminal());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_timer(Rfc3339)
        .with_ansi(ansi)
        .with_target(true);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Whether to colour: `always`, `never`, or (auto) a terminal without `NO_COLOR`.
pub(crate) fn use_color(color: Color, terminal: bool) -> bool {
    match color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

/// `tether: warning: …` on stderr.
pub(crate) fn warn_line(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "tether: warning: {message}");
}

/// Writes one line to stdout. When the reader has gone (a closed pipe), the process ends
/// quietly with the shell's code for it (141) instead of panicking.
pub(crate) fn stdout_line(line: &str) {
    let _ = try_stdout_line(line);
}

/// [`stdout_line`] that reports whether the line was written and flushed (what confirming a
/// printed message waits for). A closed pipe still ends the process (141): nothing printed
/// after it is confirmed.
pub(crate) fn try_stdout_line(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let written = writeln!(out, "{line}").and_then(|()| out.flush());
    if let Err(e) = &written
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(141);
    }
    written
}

/// Now as Unix milliseconds (the one time unit of the JSON output).
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `2026-11-24T16:19:41.123Z` for Unix milliseconds (UTC, proleptic Gregorian).
pub(crate) fn rfc3339_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let (year, month, day) = civil(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// Year, month, day of a day count since 1970-01-01.
pub(crate) fn civil(days: u64) -> (i64, i64, i64) {
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// RFC 3339 UTC timestamps with milliseconds on log lines.
struct Rfc3339;

impl FormatTime for Rfc3339 {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        write!(w, "{}", rfc3339_ms(unix_ms()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339_ms(1_795_537_205_007), "2026-11-24T16:20:05.007Z");
    }

    #[test]
    fn colour_only_on_a_terminal_unless_forced() {
        assert!(use_color(Color::Always, false));
        assert!(!use_color(Color::Never, true));
        assert!(!use_color(Color::Auto, false));
    }
}
