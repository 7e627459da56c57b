//! A `tokio::io::AsyncRead` as the futures-io reader a [`MediaSource`] streams from.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tether_net_common::media_source::MediaSource;
use tokio::io::{AsyncRead, ReadBuf};

/// A media source reading `reader` (a `tokio::fs::File`, a socket, a child's stdout, …) to
/// its end, streamed to a spool file and never held whole; the same call exists on smol for
/// futures-io readers.
pub fn media_reader(reader: impl AsyncRead + Send + 'static) -> MediaSource {
    MediaSource::reader(Compat(Box::pin(reader)))
}

/// tokio's `AsyncRead` seen as futures-io's.
struct Compat(Pin<Box<dyn AsyncRead + Send>>);

impl futures_util::io::AsyncRead for Compat {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut read = ReadBuf::new(buf);
        match self.0.as_mut().poll_read(cx, &mut read) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(read.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}
