// The key and hash behind the token dictionaries' perfect-hash reverse index. This is not a
// module: it is `include!`d by the build script (which searches for the seed and displacements)
// and by `token.rs` (which looks strings up), so both sides compute exactly the same values.

/// Strings up to this many bytes have an exact key: their bytes, zero-padded, plus the length
/// in the top byte. Distinct strings of this size never share a key, so a key match is a hit.
const EXACT_KEY_MAX: usize = 15;

/// The 128-bit key of a non-empty string.
///
/// Up to [`EXACT_KEY_MAX`] bytes the key is exact: the bytes in the low 15 bytes, the length in
/// the top byte. Longer strings get a signature (their 8-byte words folded with xor-multiply,
/// the length in the top byte); a signature match must be confirmed by comparing the strings.
#[inline(always)]
fn token_key(b: &[u8]) -> u128 {
    let len = b.len();
    let word = |w: &[u8]| u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
    let (lo, hi) = match len {
        0 => (0, 0),
        1..=3 => {
            let lo = u64::from(b[0])
                | (u64::from(b[len / 2]) << (8 * (len / 2)))
                | (u64::from(b[len - 1]) << (8 * (len - 1)));
            (lo, 0)
        }
        4..=7 => {
            let head = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let tail = u32::from_le_bytes([b[len - 4], b[len - 3], b[len - 2], b[len - 1]]);
            (u64::from(head) | (u64::from(tail) << (8 * (len - 4))), 0)
        }
        8 => (word(b), 0),
        9..=EXACT_KEY_MAX => (word(b), word(&b[len - 8..]) >> (8 * (16 - len))),
        _ => {
            // Every byte counts (tokens that share their first and last 8 bytes exist): fold
            // the 8-byte words, the last one overlapping the previous one.
            let mut sig = 0u64;
            let mut words = b.chunks_exact(8);
            for w in &mut words {
                sig = (sig ^ word(w)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            }
            if !words.remainder().is_empty() {
                sig = (sig ^ word(&b[len - 8..])).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            }
            (sig, 0)
        }
    };
    (u128::from(hi | ((len as u64) << 56)) << 64) | u128::from(lo)
}

/// Mixes a key with the index seed; the top bits pick the bucket, the next bits the base slot.
#[inline(always)]
fn token_hash(key: u128, seed: u64) -> u64 {
    let (lo, hi) = (key as u64, (key >> 64) as u64);
    ((lo ^ seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ hi).wrapping_mul(0xff51_afd7_ed55_8ccd)
}
