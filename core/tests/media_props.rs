//! Property tests of the media parsers and the cipher (`media.md`): the HTTP response reader
//! gives the same verdict however the bytes are cut and never passes its body limit; any
//! plaintext round-trips in any chunking and any flipped byte of the upload is refused;
//! arbitrary JSON, records and nodes never make the answer, record or notification readers
//! panic. The checks themselves are `tether_core::fuzzing::media` (the fuzz target's), fed
//! here with structured inputs; proptest's failure output names the minimal input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use tether_core::fuzzing;

#[allow(clippy::disallowed_methods)] // the test, not the core, owns the clock origin
fn start() -> std::time::Instant {
    std::time::Instant::now()
}

/// A response that is mostly well-formed HTTP with arbitrary pieces.
fn response() -> impl Strategy<Value = Vec<u8>> {
    let status = prop_oneof![
        Just(100u16),
        Just(200),
        Just(204),
        Just(302),
        Just(404),
        100u16..600
    ];
    let body = proptest::collection::vec(any::<u8>(), 0..300);
    let framing = 0u8..4;
    let junk = proptest::collection::vec(any::<u8>(), 0..40);
    (status, body, framing, junk, any::<bool>()).prop_map(|(status, body, framing, junk, cut)| {
        let mut out = format!("HTTP/1.1 {status} X\r\n").into_bytes();
        match framing {
            0 => {
                out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes())
            }
            1 => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for piece in body.chunks(37) {
                    out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                    out.extend_from_slice(piece);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
            2 => out.extend_from_slice(b"\r\n"),
            _ => out.extend_from_slice(&junk),
        }
        if framing != 1 {
            out.extend_from_slice(&body);
        }
        if cut {
            let keep = out.len() * 2 / 3;
            out.truncate(keep);
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn responses_read_the_same_at_any_cut(split in any::<u8>(), max in any::<u8>(), raw in response()) {
        let mut input = vec![0, split, max];
        input.extend_from_slice(&raw);
        fuzzing::media(&input, start());
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_reader(split in any::<u8>(), raw in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut input = vec![0, split, 255];
        input.extend_from_slice(&raw);
        fuzzing::media(&input, start());
    }

    #[test]
    fn files_round_trip_and_any_flip_is_refused(
        chunk in any::<u8>(),
        flip in any::<u16>(),
        mask in any::<u8>(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..2000),
    ) {
        let mut input = vec![1, chunk];
        input.extend_from_slice(&flip.to_be_bytes());
        input.push(mask);
        input.extend_from_slice(&plaintext);
        fuzzing::media(&input, start());
    }

    #[test]
    fn answers_records_and_nodes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut input = vec![2];
        input.extend_from_slice(&raw);
        fuzzing::media(&input, start());
    }
}
