//! One line off a socket, bounded in length and in time: a peer that sends 400 MiB without a
//! newline costs at most the bound, and one that sends a byte a second cannot hold the reader
//! past its deadline (a per-read timeout alone would let it).

use std::fmt;
use std::io::{ErrorKind, Read as _};
use std::os::unix::net::UnixStream;
use std::time::Instant;

/// Why no line was read.
#[derive(Debug)]
pub(crate) enum LineError {
    /// More than the bound arrived before a newline.
    TooLong(usize),
    /// The deadline passed first.
    TimedOut,
    /// The peer closed the connection before sending anything.
    Closed,
    /// Not UTF-8.
    NotText,
    /// The socket failed.
    Io(std::io::Error),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong(cap) => write!(f, "the line is longer than {cap} bytes"),
            Self::TimedOut => f.write_str("the line did not arrive in time"),
            Self::Closed => f.write_str("the connection closed before a line arrived"),
            Self::NotText => f.write_str("the line is not UTF-8 text"),
            Self::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Reads one `\n`-terminated line (without the `\n`) of at most `cap` bytes before `deadline`.
/// A peer that closes after a partial line delivers that line.
pub(crate) fn read_line(
    stream: &UnixStream,
    cap: usize,
    deadline: Instant,
) -> Result<String, LineError> {
    let mut line = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(LineError::TimedOut);
        }
        stream.set_read_timeout(Some(left)).map_err(LineError::Io)?;
        let n = match (&*stream).read(&mut chunk) {
            Ok(0) if line.is_empty() => return Err(LineError::Closed),
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(LineError::TimedOut);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(LineError::Io(e)),
        };
        let got = &chunk[..n];
        let end = got.iter().position(|&b| b == b'\n');
        line.extend_from_slice(&got[..end.unwrap_or(n)]);
        if line.len() > cap {
            return Err(LineError::TooLong(cap));
        }
        if end.is_some() {
            break;
        }
    }
    String::from_utf8(line).map_err(|_| LineError::NotText)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write as _;
    use std::time::Duration;

    use super::*;

    #[test]
    fn bounds_the_length_and_the_time() {
        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"status\nignored").unwrap();
        let soon = Instant::now() + Duration::from_secs(5);
        assert_eq!(read_line(&a, 16, soon).unwrap(), "status");

        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(&[b'x'; 100]).unwrap();
        assert!(matches!(
            read_line(&a, 64, soon),
            Err(LineError::TooLong(64))
        ));

        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"sta").unwrap();
        let passed = Instant::now() + Duration::from_millis(50);
        assert!(matches!(
            read_line(&a, 64, passed),
            Err(LineError::TimedOut)
        ));

        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        assert!(matches!(read_line(&a, 64, soon), Err(LineError::Closed)));
    }
}
