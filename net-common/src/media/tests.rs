#![allow(clippy::unwrap_used)]
use std::io::Cursor;
use std::time::Instant;

use tether_core::media::{MediaHost, MediaRef, cipher};

use super::*;

/// What a fake host's connections were sent, one entry per dial.
type Sent = Arc<Mutex<Vec<Vec<u8>>>>;

/// A media host in memory: records what each connection writes and answers `200` with a
/// path; `on_dial` runs at each dial (for an upload: between its two passes).
struct FakeHost<F> {
    sent: Sent,
    on_dial: F,
}

struct FakeStream {
    sent: Sent,
    index: usize,
    answer: Cursor<Vec<u8>>,
}

impl AsyncRead for FakeStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.answer.read(buf))
    }
}

impl AsyncWrite for FakeStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.sent.lock().unwrap()[self.index].extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl<F: Fn() + Sync> MediaDial for FakeHost<F> {
    type Stream = FakeStream;

    fn dial(&self, _: &Endpoint) -> impl Future<Output = Result<FakeStream, DialError>> + Send {
        (self.on_dial)();
        let mut sent = self.sent.lock().unwrap();
        sent.push(Vec::new());
        let body = br#"{"url":"https://host.test/m/1","direct_path":"/m/1"}"#;
        let mut answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        answer.extend_from_slice(body);
        let stream = FakeStream {
            sent: Arc::clone(&self.sent),
            index: sent.len() - 1,
            answer: Cursor::new(answer),
        };
        async move { Ok(stream) }
    }

    fn sleep(&self, _: Duration) -> impl Future<Output = ()> + Send {
        futures_util::future::pending()
    }
}

fn conn() -> MediaConn {
    let host = MediaHost {
        hostname: "host.test".into(),
        fallback: false,
        max_content_length: None,
    };
    MediaConn::new("token", Duration::from_secs(60), vec![host], Instant::now())
}

/// Runs `fut` on this thread (nothing here waits on I/O).
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// The body of the request a connection was sent (after the head).
fn body(sent: &[u8]) -> &[u8] {
    let at = sent.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    &sent[at + 4..]
}

fn upload(
    host: &FakeHost<impl Fn() + Sync>,
    path: &Path,
    key: &MediaKey,
    budget: u64,
) -> Result<Upload, MediaError> {
    let limits = UploadLimits {
        limit: 1 << 20,
        budget,
    };
    block_on(upload_file(
        host,
        &conn(),
        MediaKind::Document,
        path,
        key.clone(),
        limits,
        0,
    ))
}

#[test]
fn both_upload_paths_send_the_blob_and_digests_of_one_encryption() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("file.bin");
    let plain: Vec<u8> = (0..200_003u32).map(|i| (i * 31 + 7) as u8).collect();
    std::fs::write(&path, &plain).unwrap();
    let key = MediaKey::from_bytes([8; 32]);
    let (blob, digests) = cipher::encrypt(&key.expand(MediaKind::Document), &plain);
    // Within the budget (one pass into memory), and streamed (two passes).
    for budget in [u64::MAX, 200_003, 200_002, 0] {
        let host = FakeHost {
            sent: Sent::default(),
            on_dial: || {},
        };
        let done = upload(&host, &path, &key, budget).unwrap();
        assert_eq!(done.digests, digests, "budget {budget}");
        assert_eq!(done.direct_path, "/m/1");
        let sent = host.sent.lock().unwrap();
        assert_eq!(sent.len(), 1, "one connection, budget {budget}");
        assert_eq!(body(&sent[0]), blob, "budget {budget}");
    }
}

/// A media host in memory that answers every GET with `blob`.
struct BlobHost(Vec<u8>);

impl MediaDial for BlobHost {
    type Stream = FakeStream;

    fn dial(&self, _: &Endpoint) -> impl Future<Output = Result<FakeStream, DialError>> + Send {
        let mut answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
            self.0.len()
        )
        .into_bytes();
        answer.extend_from_slice(&self.0);
        let stream = FakeStream {
            sent: Arc::new(Mutex::new(vec![Vec::new()])),
            index: 0,
            answer: Cursor::new(answer),
        };
        async move { Ok(stream) }
    }

    fn sleep(&self, _: Duration) -> impl Future<Output = ()> + Send {
        futures_util::future::pending()
    }
}

#[test]
fn downloads_verify_with_the_digests_inline_or_on_their_thread() {
    let dir = tempfile::tempdir().unwrap();
    // Below and above the size from which the ciphertext's digests get a thread.
    for size in [
        70_001usize,
        3 * crate::media_verify::THREAD_FROM as usize + 5,
    ] {
        let plain: Vec<u8> = (0..size).map(|i| (i * 11 % 249) as u8).collect();
        let key = MediaKey::from_bytes([4; 32]);
        let (blob, digests) = cipher::encrypt(&key.expand(MediaKind::Document), &plain);
        let upload = Upload {
            kind: MediaKind::Document,
            media_key: key,
            digests,
            url: None,
            direct_path: "/m/1".into(),
            uploaded_at: 1,
        };
        let message = tether_core::media::media_message(&upload, &Default::default(), 1);
        let media = MediaRef::of(&message).unwrap();
        let hosts = ["host.test:443".to_owned()];
        let got = block_on(download_bytes(
            &BlobHost(blob.clone()),
            &media,
            &hosts,
            1 << 30,
        ));
        assert!(got.unwrap() == plain, "size {size}");
        // One flipped byte anywhere: refused, and no file is left at the path.
        for at in [5, blob.len() / 2, blob.len() - 1] {
            let mut corrupted = blob.clone();
            corrupted[at] ^= 1;
            let path = dir.path().join("file.bin");
            let got = block_on(download_to_path(
                &BlobHost(corrupted),
                &media,
                &hosts,
                1 << 30,
                &path,
            ));
            assert!(
                matches!(got, Err(MediaError::Integrity(_))),
                "size {size}, byte {at}: {got:?}"
            );
            assert!(!path.exists() && !dir.path().join("file.bin.part").exists());
        }
    }
}

#[test]
fn an_encrypted_upload_sends_the_same_blob_again_without_reading_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("file.bin");
    let plain = vec![3u8; 40_000];
    std::fs::write(&path, &plain).unwrap();
    let key = MediaKey::from_bytes([8; 32]);
    let limits = UploadLimits {
        limit: 1 << 20,
        budget: 1 << 20,
    };
    let encrypted =
        Encrypted::new(MediaKind::Image, Plain::File(&path), key.clone(), limits).unwrap();
    // The file changes after the encryption: a second send must not read it again.
    std::fs::write(&path, vec![4u8; 40_000]).unwrap();
    // Sent twice, as after a 401/403 with a refreshed media_conn.
    let host = FakeHost {
        sent: Sent::default(),
        on_dial: || {},
    };
    let (blob, _) = cipher::encrypt(&key.expand(MediaKind::Image), &plain);
    block_on(encrypted.send(&host, &conn(), 0)).unwrap();
    block_on(encrypted.send(&host, &conn(), 0)).unwrap();
    let sent = host.sent.lock().unwrap();
    assert_eq!(sent.len(), 2);
    assert!(body(&sent[0]) == blob.as_slice() && body(&sent[1]) == blob.as_slice());
}

#[test]
fn a_file_that_grew_past_its_measured_size_is_not_read_into_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("file.bin");
    std::fs::write(&path, vec![5u8; 10_001]).unwrap();
    let keys = MediaKey::from_bytes([9; 32]).expand(MediaKind::Document);
    // Measured at 10,000 bytes (the budget), 10,001 by the time it is read.
    match encrypt_plain(&Plain::File(&path), &keys, 10_000, 10_000) {
        Err(MediaError::Io { detail, .. }) => assert!(detail.contains("changed"), "{detail}"),
        Err(other) => panic!("a grown file must fail, got {other:?}"),
        Ok(_) => panic!("a grown file must fail"),
    }
    // As measured, it is encrypted whole.
    let (blob, digests) = encrypt_plain(&Plain::File(&path), &keys, 10_001, 10_001).unwrap();
    let expected = cipher::encrypt(&keys, &[5u8; 10_001]);
    assert!(matches!(blob, Blob::Whole(bytes) if bytes == expected.0));
    assert_eq!(digests, expected.1);
}

#[test]
fn a_file_changed_between_the_passes_fails_the_upload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("file.bin");
    let plain = vec![5u8; 150_000];
    let key = MediaKey::from_bytes([9; 32]);
    let (blob, _) = cipher::encrypt(&key.expand(MediaKind::Document), &plain);
    let change = || {
        let mut changed = plain.clone();
        changed[100_000] ^= 1;
        std::fs::write(&path, changed).unwrap();
    };
    // Streamed: the second pass reads the changed file, and the upload fails.
    std::fs::write(&path, &plain).unwrap();
    let host = FakeHost {
        sent: Sent::default(),
        on_dial: change,
    };
    match upload(&host, &path, &key, 0) {
        Err(MediaError::Io { detail, .. }) => assert!(detail.contains("changed"), "{detail}"),
        other => panic!("a changed file must fail the upload, got {other:?}"),
    }
    // Within the budget the file was read once, before the dial: what was read is sent.
    std::fs::write(&path, &plain).unwrap();
    let host = FakeHost {
        sent: Sent::default(),
        on_dial: change,
    };
    upload(&host, &path, &key, u64::MAX).unwrap();
    assert_eq!(body(&host.sent.lock().unwrap()[0]), blob);
}
