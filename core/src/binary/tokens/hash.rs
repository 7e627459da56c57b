// The key and hash behind the token dictionaries' perfect-hash reverse index. This is not a
// module: it is `include!`d by the build script (which searches for the seed and displacements)
// and by `token.rs` (which looks strings up), so both sides compute exactly the same values.

/// Strings up to this many bytes have an exact key: their bytes, zero-padded, plus the length
/// in the top byte. Distinct strings of this size never share a key, so a key match is a hit.
const EXACT_KEY_MAX: usize = 7;

/// The 64-bit key of a non-empty string.
///
/// Up to [`EXACT_KEY_MAX`] bytes the key is exact. Longer strings get a signature (their length
/// and 8-byte words folded with xor-multiply); a signature match must be confirmed by comparing the
/// strings.
#[inline(always)]
fn token_key(b: &[u8]) -> u64 {
    let len = b.len();
    if len <= EXACT_KEY_MAX {
        let low = match len {
            0 => 0,
            1..=3 => {
                u64::from(b[0]) | (u64::from(b[len / 2]) << (8 * (len / 2))) | (u64::from(b[len - 1]) << (8 * (len - 1)))
            }
            _ => {
                let head = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                let tail = u32::from_le_bytes([b[len - 4], b[len - 3], b[len - 2], b[len - 1]]);
                u64::from(head) | (u64::from(tail) << (8 * (len - 4)))
            }
        };
        low | ((len as u64) << 56)
    } else {
        // Every byte counts (tokens that share their first and last 8 bytes exist): fold the
        // 8-byte words with xor-multiply, the last word overlapping the previous one.
        let word = |w: &[u8]| u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let mut sig = (len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut words = b.chunks_exact(8);
        for w in &mut words {
            sig = (sig ^ word(w)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
        if !words.remainder().is_empty() {
            sig = (sig ^ word(&b[len - 8..])).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
        sig
    }
}

/// Mixes a key with the index seed; the top bits pick the bucket, the next bits the base slot.
#[inline(always)]
fn token_hash(key: u64, seed: u64) -> u64 {
    (key ^ seed).wrapping_mul(0xff51_afd7_ed55_8ccd)
}
