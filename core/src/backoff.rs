//! The reconnect policy of DESIGN §4: exponential backoff with seeded jitter, a retry counter
//! that resets only after a stable connection, and the per-reason rules (515, 429, certificate
//! and handshake failures, 405, bans, terminal reasons).
//!
//! For retry step n = 1, 2, …
//!
//! ```text
//! d(n) = min(maxDelay, baseDelay · factor^(n−1)) · U[1 − jitter, 1 + jitter], clamped to maxDelay
//! ```
//!
//! The policy is told when a connection is established ([`ReconnectPolicy::on_connected`], at
//! `<success>`) and when one ends ([`ReconnectPolicy::on_disconnected`]), and answers with a
//! [`Decision`]:
//!
//! ```text
//!                on_connected(now)                      stayed up ≥ stableAfter
//!   Waiting ───────────────────────► Up(since) ─────────────────────────────► Up, attempt = 0
//!      ▲                               │                  (poll_timeout / handle_timeout,
//!      │                               │ on_disconnected   or noticed at the next disconnect)
//!      │  ReconnectAt{at, attempt}     ▼
//!      └───────────────────────── decide(reason) ──► Stop{reason, reconnect_at}
//!      └── RefreshVersion (405, once) ◄─┘
//!
//! decide(reason):
//!   terminal reason (440, logout, ban, connect failure, …) → Stop  (ban: reconnect_at = expiry)
//!   515 RestartRequired      → ReconnectAt{now, attempt: 0}; the 3rd+ 515 without a <success>
//!                              in between is a counted retry
//!   405 ClientOutdated       → RefreshVersion the first time since the last <success>, then Stop
//!   CertificateInvalid /
//!   HandshakeFailed          → counted retry; the 5th in a row → Stop
//!   429 RateLimited          → counted retry whose backoff step advances by 1 + 5
//!   anything else            → counted retry
//!   counted retry: attempt == maxRetries already → Stop(RetriesExhausted)
//!                  else attempt += 1, step += steps → ReconnectAt{now + d(step), attempt}
//! ```
//!
//! `attempt` counts retries (what `maxRetries` limits and the `(attempt 3/10)` log shows);
//! `step` is the backoff exponent, which runs ahead of `attempt` after a 429 so the delays stay
//! long. Both reset together after a stable period.

use std::time::{Duration, Instant};

use rand_core::Rng;
use thiserror::Error;

use crate::jitter::{clamp_fraction, nanos_to_duration, uniform};
use crate::reason::DisconnectReason;

/// How many certificate or handshake failures in a row make the policy stop.
pub const MAX_HANDSHAKE_FAILURES_IN_A_ROW: u32 = 5;
/// How many 515 restarts in a row (without a `<success>`) are free; later ones count.
pub const FREE_RESTARTS_IN_A_ROW: u32 = 2;
/// How many backoff steps further along a 429 puts the next delay.
pub const RATE_LIMIT_EXTRA_STEPS: u32 = 5;

/// The `reconnect` configuration (the field report's keys plus `jitter` and `stableAfterMs`).
#[derive(Clone, Debug, PartialEq)]
pub struct ReconnectConfig {
    /// `maxRetries`: counted retries allowed in a row; `None` (JSON `null`) is unlimited.
    pub max_retries: Option<u32>,
    /// `baseDelay`: the first retry's nominal delay.
    pub base_delay: Duration,
    /// `maxDelay`: no delay exceeds this, jitter included.
    pub max_delay: Duration,
    /// `backoffFactor`: growth per step (≥ 1).
    pub backoff_factor: f64,
    /// `jitter`: the relative spread of each delay, in `[0, 1]`.
    pub jitter: f64,
    /// `stableAfterMs`: how long a connection must stay up before the counter resets.
    pub stable_after: Duration,
}

impl Default for ReconnectConfig {
    /// DESIGN §4: base 1 000 ms, factor 2, max 60 000 ms, unlimited retries, jitter 0.2,
    /// stable after 30 000 ms.
    fn default() -> Self {
        Self {
            max_retries: None,
            base_delay: Duration::from_millis(1_000),
            max_delay: Duration::from_millis(60_000),
            backoff_factor: 2.0,
            jitter: 0.2,
            stable_after: Duration::from_millis(30_000),
        }
    }
}

/// A `reconnect` configuration value that makes no sense.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum ReconnectConfigError {
    /// `backoffFactor` is below 1 or not a number.
    #[error("reconnect.backoffFactor must be a number >= 1, got {0}")]
    Factor(f64),
    /// `jitter` is outside `[0, 1]` or not a number.
    #[error("reconnect.jitter must be between 0 and 1, got {0}")]
    Jitter(f64),
    /// `baseDelay` exceeds `maxDelay`.
    #[error("reconnect.baseDelay ({base:?}) exceeds reconnect.maxDelay ({max:?})")]
    BaseAboveMax {
        /// The base delay.
        base: Duration,
        /// The maximum delay.
        max: Duration,
    },
}

impl ReconnectConfig {
    /// Checks the values a configuration loader should refuse. The policy itself never fails:
    /// it treats a factor below 1 as 1 and clamps jitter into `[0, 1]`.
    pub fn validate(&self) -> Result<(), ReconnectConfigError> {
        if self.backoff_factor.is_nan() || self.backoff_factor < 1.0 {
            return Err(ReconnectConfigError::Factor(self.backoff_factor));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(ReconnectConfigError::Jitter(self.jitter));
        }
        if self.base_delay > self.max_delay {
            return Err(ReconnectConfigError::BaseAboveMax {
                base: self.base_delay,
                max: self.max_delay,
            });
        }
        Ok(())
    }

    /// The delay before jitter for backoff step `step` (1-based; 0 counts as 1):
    /// `min(maxDelay, baseDelay · factor^(step−1))`.
    pub fn nominal_delay(&self, step: u32) -> Duration {
        nanos_to_duration(self.nominal_nanos(step))
    }

    /// The closed range every jittered delay of step `step` falls in:
    /// `[nominal · (1 − jitter), min(maxDelay, nominal · (1 + jitter))]`.
    pub fn delay_bounds(&self, step: u32) -> (Duration, Duration) {
        let nominal = self.nominal_nanos(step);
        let jitter = clamp_fraction(self.jitter);
        let max = self.max_delay.as_nanos() as f64;
        (
            nanos_to_duration(nominal * (1.0 - jitter)),
            nanos_to_duration((nominal * (1.0 + jitter)).min(max)),
        )
    }

    /// One jittered delay for backoff step `step`, using one draw of `rng`.
    pub fn delay<R: Rng + ?Sized>(&self, step: u32, rng: &mut R) -> Duration {
        let jitter = clamp_fraction(self.jitter);
        let factor = uniform(rng, 1.0 - jitter, 1.0 + jitter);
        let max = self.max_delay.as_nanos() as f64;
        nanos_to_duration((self.nominal_nanos(step) * factor).min(max))
    }

    fn nominal_nanos(&self, step: u32) -> f64 {
        let base = self.base_delay.as_nanos() as f64;
        let max = self.max_delay.as_nanos() as f64;
        if base == 0.0 {
            return 0.0;
        }
        let factor = if self.backoff_factor >= 1.0 {
            self.backoff_factor
        } else {
            1.0 // also NaN
        };
        let exponent = i32::try_from(step.saturating_sub(1)).unwrap_or(i32::MAX);
        (base * factor.powi(exponent)).min(max)
    }
}

/// What to do after a disconnect.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Open the next transport at `at` (`now` for a free 515 restart).
    ReconnectAt {
        /// When to open the next transport.
        at: Instant,
        /// The retry number for the `Disconnected` event and the `(attempt 3/10)` log; 0 when
        /// this reconnect is not counted (a free 515 restart).
        attempt: u32,
    },
    /// 405: fetch the current client version (`FetchVersion`), then reconnect at once with it
    /// (or the compiled default if the fetch fails). Not counted as a retry.
    RefreshVersion,
    /// Do not reconnect.
    Stop {
        /// The terminal reason (`RetriesExhausted` when `maxRetries` ran out).
        reason: DisconnectReason,
        /// When the application may try again: the end of a temporary ban, else `None`.
        reconnect_at: Option<Instant>,
    },
}

/// Reconnect state for one account: counters, the stable-period clock and the per-reason rules.
#[derive(Clone, Debug)]
pub struct ReconnectPolicy {
    config: ReconnectConfig,
    attempt: u32,
    step: u32,
    connected_since: Option<Instant>,
    restarts_without_success: u32,
    handshake_failures_in_a_row: u32,
    version_refreshed: bool,
}

impl ReconnectPolicy {
    /// A fresh policy (no retries made yet).
    pub fn new(config: ReconnectConfig) -> Self {
        Self {
            config,
            attempt: 0,
            step: 0,
            connected_since: None,
            restarts_without_success: 0,
            handshake_failures_in_a_row: 0,
            version_refreshed: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ReconnectConfig {
        &self.config
    }

    /// Counted retries since the last reset. Free 515 restarts leave it unchanged; the
    /// `attempt` of [`Decision::ReconnectAt`] says whether a given reconnect counted.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The configured `maxRetries` (the `max_attempts` of `Disconnected`).
    pub fn max_attempts(&self) -> Option<u32> {
        self.config.max_retries
    }

    /// The backoff step the last counted retry used (≥ `attempt`; ahead of it after a 429).
    pub fn step(&self) -> u32 {
        self.step
    }

    /// Whether a connection is up (between `on_connected` and `on_disconnected`).
    pub fn is_connected(&self) -> bool {
        self.connected_since.is_some()
    }

    /// A connection is established (`<success>` received). Ends a 515 or 405 streak; the retry
    /// counter resets only once the connection has stayed up `stable_after`.
    pub fn on_connected(&mut self, now: Instant) {
        self.connected_since = Some(now);
        self.restarts_without_success = 0;
        self.handshake_failures_in_a_row = 0;
        self.version_refreshed = false;
    }

    /// When the current connection will have been up `stable_after` while there is a counter
    /// to reset (the `StableConnection` timer); `None` otherwise.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let since = self.connected_since?;
        if self.attempt == 0 && self.step == 0 {
            return None;
        }
        since.checked_add(self.config.stable_after)
    }

    /// Resets the counters if the connection has been up `stable_after` at `now`; otherwise a
    /// no-op (spurious calls are safe).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_stable_at(now) {
            self.attempt = 0;
            self.step = 0;
        }
    }

    /// Forgets every counter and streak (for a fresh `Connect` after a stop).
    pub fn reset(&mut self) {
        *self = Self::new(self.config.clone());
    }

    /// A connection (or an attempt to make one) ended with `reason` at `now`: what next.
    /// `rng` is the jitter sub-stream; exactly one value is drawn per counted retry.
    pub fn on_disconnected<R: Rng + ?Sized>(
        &mut self,
        now: Instant,
        reason: &DisconnectReason,
        rng: &mut R,
    ) -> Decision {
        self.handle_timeout(now);
        self.connected_since = None;

        let handshake_failure = matches!(
            reason,
            DisconnectReason::CertificateInvalid { .. } | DisconnectReason::HandshakeFailed { .. }
        );
        self.handshake_failures_in_a_row = if handshake_failure {
            self.handshake_failures_in_a_row.saturating_add(1)
        } else {
            0
        };

        use DisconnectReason as R;
        match reason {
            R::RestartRequired { .. } => {
                self.restarts_without_success = self.restarts_without_success.saturating_add(1);
                if self.restarts_without_success <= FREE_RESTARTS_IN_A_ROW {
                    Decision::ReconnectAt {
                        at: now,
                        attempt: 0,
                    }
                } else {
                    self.counted_retry(now, reason, 1, rng)
                }
            }
            R::ClientOutdated { .. } => {
                if self.version_refreshed {
                    stop(reason, None)
                } else {
                    self.version_refreshed = true;
                    Decision::RefreshVersion
                }
            }
            R::CertificateInvalid { .. } | R::HandshakeFailed { .. } => {
                if self.handshake_failures_in_a_row >= MAX_HANDSHAKE_FAILURES_IN_A_ROW {
                    stop(reason, None)
                } else {
                    self.counted_retry(now, reason, 1, rng)
                }
            }
            R::RateLimited { .. } => {
                self.counted_retry(now, reason, 1 + RATE_LIMIT_EXTRA_STEPS, rng)
            }
            R::ConnectionLost { .. }
            | R::ServiceUnavailable { .. }
            | R::ServerError { .. }
            | R::StreamError { .. }
            | R::CertificateExpired { .. }
            | R::CertificateNotYetValid { .. }
            | R::ProtocolError { .. } => self.counted_retry(now, reason, 1, rng),
            R::TemporaryBan { expire, .. } => {
                stop(reason, expire.and_then(|expire| now.checked_add(expire)))
            }
            R::Replaced { .. }
            | R::LoggedOut { .. }
            | R::ConnectFailure { .. }
            | R::MultideviceMismatch { .. }
            | R::QrCodesExhausted
            | R::StoreFailure { .. }
            | R::RetriesExhausted { .. }
            | R::LocalShutdown => stop(reason, None),
        }
    }

    fn counted_retry<R: Rng + ?Sized>(
        &mut self,
        now: Instant,
        reason: &DisconnectReason,
        steps: u32,
        rng: &mut R,
    ) -> Decision {
        if self
            .config
            .max_retries
            .is_some_and(|max| self.attempt >= max)
        {
            let exhausted = DisconnectReason::RetriesExhausted {
                attempts: self.attempt,
                last: Box::new(reason.clone()),
            };
            return stop(&exhausted, None);
        }
        self.attempt = self.attempt.saturating_add(1);
        self.step = self.step.saturating_add(steps);
        let delay = self.config.delay(self.step, rng);
        // An instant this far out cannot be represented; waiting the maximum is the same intent.
        let at = now
            .checked_add(delay)
            .or_else(|| now.checked_add(self.config.max_delay))
            .unwrap_or(now);
        Decision::ReconnectAt {
            at,
            attempt: self.attempt,
        }
    }

    fn is_stable_at(&self, now: Instant) -> bool {
        self.connected_since
            .is_some_and(|since| now.saturating_duration_since(since) >= self.config.stable_after)
    }
}

fn stop(reason: &DisconnectReason, reconnect_at: Option<Instant>) -> Decision {
    Decision::Stop {
        reason: reason.clone(),
        reconnect_at,
    }
}
