//! Whether a WebP file is animated, sans-IO: the caller passes the file's first
//! [`HEAD_BYTES`] and nothing else is read (a sticker's `isAnimated`).
//!
//! ```text
//! "RIFF" size(4) "WEBP" ─▶ first chunk "VP8X" size(4) ─▶ flags byte: bit 1 = animation
//! anything else (simple "VP8 " / "VP8L" files, not WebP at all) ─▶ not animated
//! ```

/// How much of the file's start [`webp_animated`] needs.
pub const HEAD_BYTES: usize = 21;

/// The VP8X flags bit that says the file holds an animation (`ANIM`/`ANMF` chunks).
const ANIMATION_FLAG: u8 = 0x02;

/// `true` when `head` (the file's first bytes) starts an extended WebP file whose flags say
/// it is animated; `false` for a still WebP, a short or foreign file.
pub fn webp_animated(head: &[u8]) -> bool {
    head.get(..4) == Some(b"RIFF")
        && head.get(8..12) == Some(b"WEBP")
        && head.get(12..16) == Some(b"VP8X")
        && head
            .get(20)
            .is_some_and(|flags| flags & ANIMATION_FLAG != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extended(flags: u8) -> Vec<u8> {
        let mut file = b"RIFF\x24\0\0\0WEBPVP8X\x0a\0\0\0".to_vec();
        file.push(flags);
        file.extend_from_slice(&[0; 9]);
        file
    }

    #[test]
    fn only_an_extended_webp_with_the_animation_flag_is_animated() {
        assert!(webp_animated(&extended(0x02)));
        assert!(webp_animated(&extended(0x12)));
        assert!(!webp_animated(&extended(0x10)), "alpha only");
        assert!(!webp_animated(b"RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0\x02"));
        assert!(!webp_animated(b"RIFF\x24\0\0\0AVI VP8X\x0a\0\0\0\x02"));
        assert!(
            !webp_animated(&extended(0x02)[..HEAD_BYTES - 1]),
            "cut short"
        );
        assert!(!webp_animated(&[]));
    }

    proptest::proptest! {
        #[test]
        fn only_the_head_is_read(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
        ) {
            let head = &bytes[..bytes.len().min(HEAD_BYTES)];
            proptest::prop_assert_eq!(webp_animated(&bytes), webp_animated(head));
        }
    }
}
