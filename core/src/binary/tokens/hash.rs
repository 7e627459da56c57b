// The hash behind the token dictionaries' perfect-hash reverse index. This is not a module: it is
// `include!`d by the build script (which searches for the seed and displacements) and by
// `token.rs` (which looks strings up), so both sides hash identically.

/// A fast, well-mixed 64-bit hash of `bytes` under `seed`: 8-byte little-endian words folded
/// with multiply-rotate rounds, then a murmur3-style finaliser so that both the high bits (bucket)
/// and the low bits (slot) are usable.
#[inline]
fn token_hash(bytes: &[u8], seed: u64) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = seed ^ (bytes.len() as u64).wrapping_mul(K);
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(31);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        let mut w = [0u8; 8];
        w[..tail.len()].copy_from_slice(tail);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(31);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}
