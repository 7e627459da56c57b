//! Fuzzing entry points (private feature `__fuzzing`).
//!
//! Each cargo-fuzz target in `fuzz/` is a one-line call into this module, and
//! `core/tests/fuzz_corpus.rs` replays the committed corpus through the same functions under a
//! plain `cargo test`, so every input the fuzzer ever kept is re-checked on stable Rust.
//! Every function panics only when a property is violated, never on malformed input.

// A failed property must abort the fuzz run, so `expect` is the point here.
#![allow(clippy::expect_used)]

use bytes::Bytes;

use crate::binary::{self, Node, TokenDict};
use crate::frame::{self, FrameDecoder};

/// Frame decoder: the input is cut into chunks at fuzzer-chosen points and fed to a decoder.
///
/// Layout: `[mode, chunk sizes…(count = data[1] % 16), stream…]`. Bit 0 of `mode` selects a
/// server-side decoder (intro first), bit 1 a small maximum frame length. Properties: no panic;
/// the payloads returned, re-framed (with the intro, if one was read), reproduce exactly the
/// prefix of the stream the decoder consumed.
pub fn frame(data: &[u8]) {
    let (Some(&mode), Some(&count)) = (data.first(), data.get(1)) else {
        return;
    };
    let count = usize::from(count % 16);
    let Some(sizes) = data.get(2..2 + count) else {
        return;
    };
    let stream = data.get(2 + count..).unwrap_or_default();
    let max = if mode & 2 != 0 {
        64
    } else {
        frame::MAX_FRAME_LEN
    };
    let mut decoder = if mode & 1 != 0 {
        FrameDecoder::expecting_intro(max)
    } else {
        FrameDecoder::new(max)
    };
    let mut frames = Vec::new();
    let mut rest = stream;
    let mut i = 0;
    while !rest.is_empty() {
        let size = sizes
            .get(i % count.max(1))
            .map_or(rest.len(), |&s| usize::from(s).max(1));
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        decoder.push(chunk);
        rest = tail;
        i += 1;
        loop {
            match decoder.next_frame() {
                Ok(Some(payload)) => frames.push(payload),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    let mut reencoded = Vec::new();
    if let Some(intro) = decoder.intro() {
        frame::write_intro(
            &mut reencoded,
            intro.routing_info.as_deref(),
            intro.dict_version,
        )
        .expect("routing info read from a 3-byte length fits one");
    }
    for payload in &frames {
        frame::write_frame(&mut reencoded, payload).expect("decoded payloads fit a frame");
    }
    assert_eq!(
        reencoded.len(),
        decoder.consumed(),
        "consumed count disagrees with frames"
    );
    assert_eq!(
        &reencoded[..],
        &stream[..decoder.consumed()],
        "frames do not re-encode"
    );
}

/// Binary node codec: decode → encode → decode must give the same node, the text form must
/// parse back to it, and the plaintext wrapper (flags byte, zlib) must never panic.
pub fn binary_node(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let dict = if selector & 1 == 0 {
        TokenDict::v3()
    } else {
        TokenDict::v2()
    };
    let input = Bytes::copy_from_slice(body);
    let _ = binary::decode_plaintext_with_limit(input.clone(), dict, 1 << 20);
    let Ok(node) = binary::decode(&input, dict) else {
        return;
    };
    check_node_round_trip(&node, dict);
}

/// Checks the round-trip properties of one decoded node.
fn check_node_round_trip(node: &Node, dict: &TokenDict) {
    let mut encoded = Vec::new();
    binary::encode(node, dict, &mut encoded).expect("a decoded node encodes");
    let again =
        binary::decode(&Bytes::from(encoded.clone()), dict).expect("re-encoded node decodes");
    let mut encoded_again = Vec::new();
    binary::encode(&again, dict, &mut encoded_again).expect("a decoded node encodes");
    assert_eq!(
        encoded, encoded_again,
        "encoding is not a fixed point after one round"
    );
    let text = node.display_full().to_string();
    let parsed = Node::parse_text(&text).expect("display_full output parses");
    assert_eq!(&parsed, node, "the text form is not lossless:\n{text}");
}

/// Noise handshake: server messages from the fuzzer into the client handshake, past a null
/// cipher that does not authenticate, so the parser and state machine behind the AEAD are
/// reachable. Never panics on any input.
pub fn noise_handshake(data: &[u8]) {
    crate::noise::fuzzing::fuzz_client_handshake(data);
}

/// Handshake protobuf parsing (`HandshakeMessage` and everything inside it).
pub fn handshake_message(data: &[u8]) {
    crate::noise::fuzzing::fuzz_handshake_message(data);
}

/// Connection state machine: an arbitrary sequence of inputs (transport events for current and
/// stale transports, bytes, store answers, version answers, commands, time jumps) never panics
/// and never leaves more than one transport open. `start` is the virtual clock's origin (the
/// caller reads it once: the core never reads a clock).
pub fn connection(data: &[u8], start: std::time::Instant) {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use crate::connection::{
        Action, Command, Config, Connection, Output, TransportEvent, TransportId,
    };
    use crate::creds::{PersistSeq, StoreError, StoreResult};

    let mut now = start;
    let config = Config {
        pre_key_initial_batch: 3,
        pre_key_batch: 2,
        ..Config::default()
    };
    let mut conn = Connection::new(config, None, now, 1_800_000_000, [7; 32]);
    let mut open: BTreeSet<TransportId> = BTreeSet::new();
    let mut persists: Vec<PersistSeq> = Vec::new();
    let mut bytes = data.iter().copied();
    let drain = |conn: &mut Connection,
                 open: &mut BTreeSet<TransportId>,
                 persists: &mut Vec<PersistSeq>| {
        loop {
            match conn.poll_output() {
                Output::Action(Action::OpenTransport { id, .. }) => {
                    open.insert(id);
                }
                Output::Action(Action::CloseTransport { id }) => {
                    open.remove(&id);
                }
                Output::Action(Action::PersistCredentials { seq, .. })
                | Output::Action(Action::QuarantineCredentials { seq, .. }) => persists.push(seq),
                Output::Timeout(_) => break,
                _ => {}
            }
            assert!(open.len() <= 1, "more than one transport open: {open:?}");
        }
    };
    drain(&mut conn, &mut open, &mut persists);
    while let Some(op) = bytes.next() {
        let arg = bytes.next().unwrap_or(0);
        let current = conn.transport();
        let target = match (arg & 1, current) {
            (0, Some(id)) => id,
            (_, Some(id)) => TransportId(id.0.wrapping_sub(1)),
            (_, None) => TransportId(u64::from(arg)),
        };
        match op % 9 {
            0 => conn.handle_transport(target, TransportEvent::Opened, now),
            1 => conn.handle_transport(
                target,
                TransportEvent::Closed {
                    detail: String::new(),
                },
                now,
            ),
            2 => conn.handle_transport(
                target,
                TransportEvent::Failed {
                    failure: crate::reason::TransportFailure::Io {
                        detail: String::new(),
                    },
                },
                now,
            ),
            3 => {
                let len = usize::from(arg);
                let chunk: Vec<u8> = bytes.by_ref().take(len).collect();
                conn.handle_bytes(target, &chunk, now);
            }
            4 => {
                now += Duration::from_millis(u64::from(arg) * 997);
                conn.handle_timeout(now);
            }
            5 => {
                if !persists.is_empty() {
                    let seq = persists.remove(usize::from(arg) % persists.len());
                    let result = if arg & 0x80 == 0 {
                        StoreResult::Persisted(seq)
                    } else {
                        StoreResult::Failed {
                            seq,
                            error: StoreError::new("fuzz"),
                        }
                    };
                    conn.handle_store(result, now);
                }
            }
            6 => {
                let command = match arg % 5 {
                    0 => Command::Connect,
                    1 => Command::Shutdown,
                    2 => Command::Logout,
                    3 => Command::RequestPairingCode {
                        phone: "15551234567".into(),
                    },
                    _ => Command::SendNode(Node::new("presence")),
                };
                let _ = conn.handle_command(command, now);
            }
            7 => {
                let version = if arg & 1 == 0 {
                    Ok(crate::payload::DEFAULT_VERSION)
                } else {
                    Err(crate::connection::VersionError("fuzz".into()))
                };
                conn.handle_version(version, now);
            }
            _ => {
                if let Some(deadline) = conn.poll_timeout() {
                    now = now.max(deadline);
                    conn.handle_timeout(now);
                }
            }
        }
        drain(&mut conn, &mut open, &mut persists);
    }
}

/// Media parsers (`media.md`): the input's first byte picks one, the rest feeds it.
///
/// - `0`: the HTTP response reader. Layout `[0, split, max, stream…]`. Properties: no panic;
///   fed whole or cut every `split + 1` bytes it gives the same head, body and verdict; the
///   body never exceeds the limit.
/// - `1`: encryption and verified decryption. Layout `[1, chunk, flip_hi, flip_lo, mask,
///   plaintext…]`. Properties: the plaintext round-trips in chunks of `chunk + 1`; with
///   `mask != 0` the byte at `flip % len` XOR `mask` is always refused, never handed out.
/// - `2`: the upload answer (JSON), the stored upload record, and the `media_conn` and
///   media-retry nodes decoded from the same bytes. Property: no panic.
///
/// `start` is the virtual clock's origin for `media_conn` lifetimes (the core reads no clock).
pub fn media(data: &[u8], start: std::time::Instant) {
    match data.split_first() {
        Some((0, rest)) => media_http(rest),
        Some((1, rest)) => media_cipher(rest),
        Some((_, rest)) => media_answers(rest, start),
        None => {}
    }
}

fn media_http(data: &[u8]) {
    use crate::media::http::{HttpError, ResponseReader};
    let (Some(&split), Some(&max)) = (data.first(), data.get(1)) else {
        return;
    };
    let stream = data.get(2..).unwrap_or_default();
    let max_body = u64::from(max) * 4;
    let run = |step: usize| -> (Result<bool, HttpError>, Vec<u8>, Option<u16>) {
        let mut reader = ResponseReader::new(max_body);
        let mut body = Vec::new();
        let mut verdict = Ok(false);
        for chunk in stream.chunks(step) {
            verdict = reader.feed(chunk, &mut body);
            if !matches!(verdict, Ok(false)) {
                break;
            }
        }
        if verdict == Ok(false) {
            verdict = reader.eof().map(|()| true);
        }
        assert!(body.len() as u64 <= max_body, "the body passed its limit");
        (verdict, body, reader.head().map(|h| h.status))
    };
    let whole = run(stream.len().max(1));
    let split = run(usize::from(split) + 1);
    // The verdict and the head never depend on the cuts; the body is compared when the
    // response was accepted (a refused one may have handed out a prefix before the refusal).
    assert_eq!(
        whole.0, split.0,
        "the verdict depends on how the bytes were cut"
    );
    assert_eq!(
        whole.2, split.2,
        "the head depends on how the bytes were cut"
    );
    if whole.0.is_ok() {
        assert_eq!(
            whole.1, split.1,
            "the body depends on how the bytes were cut"
        );
    }
}

fn media_cipher(data: &[u8]) {
    use crate::media::cipher::{self, Expected, MediaDecryptor};
    use crate::media::{MediaKey, MediaKind};
    let (Some(&chunk), Some(&hi), Some(&lo), Some(&mask)) =
        (data.first(), data.get(1), data.get(2), data.get(3))
    else {
        return;
    };
    let plaintext = data.get(4..).unwrap_or_default();
    let keys = MediaKey::from_bytes([7; 32]).expand(MediaKind::Document);
    let (mut blob, digests) = cipher::encrypt(&keys, plaintext);
    let expected = Expected {
        file_enc_sha256: digests.file_enc_sha256,
        file_sha256: digests.file_sha256,
        file_length: Some(digests.file_length),
    };
    let flip = usize::from(u16::from_be_bytes([hi, lo])) % blob.len();
    if mask != 0 {
        blob[flip] ^= mask;
    }
    let mut decryptor = MediaDecryptor::new(&keys, expected);
    let mut out = Vec::new();
    let mut verdict = Ok(0);
    for part in blob.chunks(usize::from(chunk) + 1) {
        if let Err(e) = decryptor.update(part, &mut out) {
            verdict = Err(e);
            break;
        }
    }
    if verdict.is_ok() {
        verdict = decryptor.finish(&mut out);
    }
    if mask == 0 {
        assert_eq!(
            verdict,
            Ok(plaintext.len() as u64),
            "a clean blob was refused"
        );
        assert_eq!(out, plaintext, "the round trip changed the file");
    } else {
        assert!(
            verdict.is_err(),
            "a corrupted blob was accepted (byte {flip})"
        );
    }
}

fn media_answers(data: &[u8], start: std::time::Instant) {
    use crate::media::{MediaConn, MediaKey, retry, upload};
    let _ = upload::parse_answer("fuzz", 200, data);
    let _ = upload::Upload::decode(data);
    let Ok(node) = binary::decode(&Bytes::copy_from_slice(data), TokenDict::v3()) else {
        return;
    };
    let _ = MediaConn::parse(&node, start);
    let key = MediaKey::from_bytes([7; 32]);
    let _ = retry::read_target(&node);
    let _ = retry::read_retry_notification(&node, &key);
    let _ = retry::open_retry_receipt(&node, &key);
}
