//! Reproducible jitter: uniform draws from a caller-supplied generator.
//!
//! The core never asks the operating system for randomness. Callers hand in a generator (in the
//! connection, the ChaCha20 sub-stream reserved for jitter), and these helpers turn its raw
//! `u64` output into uniform values with our own arithmetic instead of `rand`'s range
//! sampling, whose algorithm may change between releases. The same seed therefore gives the
//! same delays on every version and platform.
//!
//! ```text
//! next_u64() ──► top 53 bits ──► u ∈ [0, 1) ──► lo + (hi − lo)·u ──► clamped to [lo, hi]
//! ```

use std::time::Duration;

use rand_core::Rng;

/// A uniform draw from `[lo, hi]` (either order), using one `next_u64` of `rng`.
///
/// The top 53 bits of the draw become a fraction in `[0, 1)` with an exact binary value, which
/// is then scaled into the range. The result is clamped into the range, so float rounding can
/// never place it outside. Non-finite bounds give `lo` (or `0.0` when `lo` is not finite
/// either); the generator is still advanced, so later draws do not shift.
pub fn uniform<R: Rng + ?Sized>(rng: &mut R, lo: f64, hi: f64) -> f64 {
    let bits = rng.next_u64() >> 11;
    let unit = bits as f64 * (1.0 / (1u64 << 53) as f64);
    if !lo.is_finite() || !hi.is_finite() {
        return if lo.is_finite() { lo } else { 0.0 };
    }
    let (min, max) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    (min + (max - min) * unit).clamp(min, max)
}

/// `base` scaled by a uniform factor from `[1 − fraction, 1 + fraction]`.
///
/// `fraction` is clamped into `[0, 1]` (NaN counts as `0`), so the result is never negative. It
/// saturates at [`Duration::MAX`] and keeps nanosecond resolution. One generator draw is used
/// even when `fraction` is `0`, so enabling jitter does not shift later draws.
pub fn jittered<R: Rng + ?Sized>(base: Duration, fraction: f64, rng: &mut R) -> Duration {
    let fraction = clamp_fraction(fraction);
    let factor = uniform(rng, 1.0 - fraction, 1.0 + fraction);
    scale(base, factor)
}

/// Clamps a jitter fraction into `[0, 1]`; NaN becomes `0`.
pub(crate) fn clamp_fraction(fraction: f64) -> f64 {
    if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    }
}

/// `base · factor` in nanoseconds, saturating; a negative or NaN factor gives zero.
pub(crate) fn scale(base: Duration, factor: f64) -> Duration {
    nanos_to_duration(base.as_nanos() as f64 * factor)
}

/// Converts a nanosecond count held in an `f64` to a `Duration`, saturating at both ends.
pub(crate) fn nanos_to_duration(nanos: f64) -> Duration {
    if nanos.is_nan() || nanos <= 0.0 {
        return Duration::ZERO;
    }
    const NANOS_PER_SEC: f64 = 1e9;
    let secs = (nanos / NANOS_PER_SEC).floor();
    if secs >= u64::MAX as f64 {
        return Duration::MAX;
    }
    // Float-to-int casts saturate; `secs` is below `u64::MAX` and the remainder below 1e9.
    let sub = (nanos - secs * NANOS_PER_SEC).clamp(0.0, NANOS_PER_SEC - 1.0);
    Duration::new(secs as u64, sub as u32)
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    #[test]
    fn uniform_stays_in_range_in_either_order() {
        let mut rng = ChaCha20Rng::from_seed([7; 32]);
        for _ in 0..2_000 {
            let a = uniform(&mut rng, 0.8, 1.2);
            assert!((0.8..=1.2).contains(&a), "{a}");
            let b = uniform(&mut rng, 5.0, -5.0);
            assert!((-5.0..=5.0).contains(&b), "{b}");
        }
    }

    #[test]
    fn uniform_covers_both_halves_of_the_range() {
        let mut rng = ChaCha20Rng::from_seed([1; 32]);
        let draws: Vec<f64> = (0..1_000).map(|_| uniform(&mut rng, 0.0, 1.0)).collect();
        assert!(draws.iter().any(|&x| x < 0.1));
        assert!(draws.iter().any(|&x| x > 0.9));
    }

    #[test]
    fn uniform_is_reproducible_per_seed() {
        let mut a = ChaCha20Rng::from_seed([3; 32]);
        let mut b = ChaCha20Rng::from_seed([3; 32]);
        for _ in 0..100 {
            assert_eq!(
                uniform(&mut a, 0.0, 10.0).to_bits(),
                uniform(&mut b, 0.0, 10.0).to_bits()
            );
        }
    }

    #[test]
    fn uniform_with_non_finite_bounds_does_not_panic_and_still_draws() {
        let mut a = ChaCha20Rng::from_seed([9; 32]);
        let mut b = ChaCha20Rng::from_seed([9; 32]);
        assert_eq!(uniform(&mut a, f64::NAN, 1.0), 0.0);
        assert_eq!(uniform(&mut a, 2.0, f64::INFINITY), 2.0);
        b.next_u64();
        b.next_u64();
        assert_eq!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn jittered_respects_fraction_bounds() {
        let mut rng = ChaCha20Rng::from_seed([2; 32]);
        let base = Duration::from_millis(25_000);
        for _ in 0..2_000 {
            let d = jittered(base, 0.2, &mut rng);
            assert!(d >= Duration::from_millis(20_000) && d <= Duration::from_millis(30_000));
        }
        assert_eq!(jittered(base, 0.0, &mut rng), base);
        assert_eq!(jittered(base, f64::NAN, &mut rng), base);
    }

    #[test]
    fn nanos_to_duration_saturates() {
        assert_eq!(nanos_to_duration(-1.0), Duration::ZERO);
        assert_eq!(nanos_to_duration(f64::NAN), Duration::ZERO);
        assert_eq!(nanos_to_duration(f64::INFINITY), Duration::MAX);
        assert_eq!(nanos_to_duration(1.5e9), Duration::from_millis(1_500));
    }
}
