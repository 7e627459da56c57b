//! Property tests of the frame codec: a stream of frames split at arbitrary points (even inside
//! a length prefix or the intro) decodes to exactly the payloads that were framed.

use bytes::Bytes;
use proptest::prelude::*;
use tether_core::frame::{self, FrameDecoder, FrameError};

fn payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::collection::vec(any::<u8>(), 0..64),
            1 => prop::collection::vec(any::<u8>(), 250..300),
        ],
        0..12,
    )
}

/// Feeds `stream` in chunks of the given sizes (cycled) and collects every payload.
fn decode_in_chunks(
    decoder: &mut FrameDecoder,
    stream: &[u8],
    cuts: &[usize],
) -> Result<Vec<Bytes>, FrameError> {
    let mut out = Vec::new();
    let mut rest = stream;
    let mut i = 0;
    while !rest.is_empty() {
        let size = cuts
            .get(i % cuts.len().max(1))
            .copied()
            .unwrap_or(rest.len())
            .clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(size);
        decoder.push(chunk);
        rest = tail;
        i += 1;
        while let Some(payload) = decoder.next_frame()? {
            out.push(payload);
        }
    }
    Ok(out)
}

proptest! {
    #[test]
    fn frames_split_anywhere_decode_to_the_same_payloads(
        payloads in payloads(),
        cuts in prop::collection::vec(1usize..40, 0..8),
    ) {
        let mut stream = Vec::new();
        for p in &payloads {
            frame::write_frame(&mut stream, p).unwrap();
        }
        let mut decoder = FrameDecoder::new(frame::MAX_FRAME_LEN);
        let decoded = decode_in_chunks(&mut decoder, &stream, &cuts).unwrap();
        let expected: Vec<Bytes> = payloads.into_iter().map(Bytes::from).collect();
        prop_assert_eq!(decoded, expected);
        prop_assert_eq!(decoder.buffered_len(), 0);
        prop_assert_eq!(decoder.consumed(), stream.len());
    }

    #[test]
    fn intro_and_frames_split_anywhere_are_read_by_a_server_decoder(
        routing in prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        version in 2u8..=3,
        payloads in payloads(),
        cuts in prop::collection::vec(1usize..16, 1..6),
    ) {
        let mut stream = Vec::new();
        frame::write_intro(&mut stream, routing.as_deref(), version).unwrap();
        for p in &payloads {
            frame::write_frame(&mut stream, p).unwrap();
        }
        let mut decoder = FrameDecoder::expecting_intro(frame::MAX_FRAME_LEN);
        let decoded = decode_in_chunks(&mut decoder, &stream, &cuts).unwrap();
        prop_assert_eq!(decoded.len(), payloads.len());
        // The intro is read as soon as its last byte arrives, frames or not.
        let intro = decoder.intro().cloned().expect("the intro was read");
        prop_assert_eq!(intro.dict_version, version);
        prop_assert_eq!(intro.routing_info.as_deref(), routing.as_deref());
    }

    #[test]
    fn a_frame_over_the_limit_is_refused_whatever_the_split(
        len in 65usize..200,
        cuts in prop::collection::vec(1usize..5, 1..4),
    ) {
        let mut stream = Vec::new();
        frame::write_frame(&mut stream, &vec![0u8; len]).unwrap();
        let mut decoder = FrameDecoder::new(64);
        let result = decode_in_chunks(&mut decoder, &stream, &cuts);
        prop_assert_eq!(result, Err(FrameError::FrameTooLarge { len, max: 64 }));
    }
}
