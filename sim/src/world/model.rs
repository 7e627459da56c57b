//! The invariants a [`World`](super::World) adds to the [`Stepper`](crate::Stepper)'s, checked
//! on every new trace record:
//!
//! - every `Disconnected` carries a reason with a log line, and every `Stopped` repeats the
//!   reason of the `Disconnected` just before it;
//! - a new transport opens only after a `Disconnected` explained why the last one ended;
//! - the retry counter follows an independent model of `DESIGN.md` §4 (it resets only after
//!   the connection stayed up `stableAfter`; 515s are free twice in a row; a 429 advances the
//!   backoff step by 6), and every counted retry's delay lies within
//!   `ReconnectConfig::delay_bounds` of the modelled step;
//! - a reason that does not stop never comes without a reconnect instant, and a terminal one
//!   never promises a reconnect (except a ban's end);
//! - the connection stops only when the fault plan holds a fault that may stop it.

use std::time::{Duration, Instant};

use tether_core::backoff::{FREE_RESTARTS_IN_A_ROW, RATE_LIMIT_EXTRA_STEPS, ReconnectConfig};
use tether_core::connection::{Action, Event};
use tether_core::reason::DisconnectReason;

use crate::trace::Traced;

/// The §4 model and the bookkeeping behind the checks.
#[derive(Debug)]
pub(super) struct Model {
    config: ReconnectConfig,
    may_stop: bool,
    attempt: u32,
    step: u32,
    connected_since: Option<Duration>,
    restarts_in_row: u32,
    /// A transport was opened and no `Disconnected` has explained its end yet.
    open_unexplained: bool,
    last_disconnect: Option<DisconnectReason>,
    /// A 405 was answered with a version refresh and no login has succeeded since: a second
    /// 405 now is terminal (DESIGN §4: retry once with the fetched version), whatever the plan.
    outdated_retry_pending: bool,
    /// The reason of the `Stopped`, if one came.
    pub(super) stopped: Option<DisconnectReason>,
    /// Counted retries checked against the bounds.
    pub(super) retries_checked: u32,
}

impl Model {
    pub(super) fn new(config: ReconnectConfig, may_stop: bool) -> Self {
        Self {
            config,
            may_stop,
            attempt: 0,
            step: 0,
            connected_since: None,
            restarts_in_row: 0,
            open_unexplained: false,
            last_disconnect: None,
            outdated_retry_pending: false,
            stopped: None,
            retries_checked: 0,
        }
    }

    /// The client process crashed: the new one starts with a fresh retry counter and no open
    /// transport.
    pub(super) fn on_crash(&mut self) {
        self.attempt = 0;
        self.step = 0;
        self.connected_since = None;
        self.restarts_in_row = 0;
        self.open_unexplained = false;
        self.last_disconnect = None;
        self.outdated_retry_pending = false;
    }

    /// Checks one trace record that happened at `at` (since `base`).
    pub(super) fn on_record(
        &mut self,
        base: Instant,
        at: Duration,
        what: &Traced,
    ) -> Result<(), String> {
        match what {
            Traced::Action(Action::OpenTransport { id, .. }) => {
                if self.open_unexplained {
                    return Err(format!(
                        "transport {id} opened while the previous one's end has no Disconnected reason"
                    ));
                }
                self.open_unexplained = true;
                Ok(())
            }
            Traced::Event(Event::Connected { .. }) => {
                self.connected_since = Some(at);
                self.restarts_in_row = 0;
                self.outdated_retry_pending = false;
                Ok(())
            }
            Traced::Event(Event::Disconnected {
                reason,
                reconnect_at,
                attempt,
                ..
            }) => {
                self.open_unexplained = false;
                self.last_disconnect = Some(reason.clone());
                let delay = reconnect_at.map(|r| r.saturating_duration_since(base + at));
                let checked = self.on_disconnected(at, reason, delay, *attempt);
                if matches!(reason, DisconnectReason::ClientOutdated { .. }) && delay.is_some() {
                    self.outdated_retry_pending = true;
                }
                checked
            }
            Traced::Event(Event::Stopped { reason }) => {
                if self.last_disconnect.as_ref() != Some(reason) {
                    return Err(format!(
                        "Stopped({reason:?}) without a Disconnected with that reason before it"
                    ));
                }
                // Two 405s with no login in between end the connection even when the plan
                // drew each as a single 405 (found by seed 82004 of the long sweep).
                let second_outdated = self.outdated_retry_pending
                    && matches!(reason, DisconnectReason::ClientOutdated { .. });
                if !self.may_stop && !second_outdated {
                    return Err(format!(
                        "stopped ({}) although the plan holds no fault that may stop it",
                        reason.closed_line()
                    ));
                }
                self.stopped = Some(reason.clone());
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn on_disconnected(
        &mut self,
        at: Duration,
        reason: &DisconnectReason,
        delay: Option<Duration>,
        attempt: u32,
    ) -> Result<(), String> {
        if reason.closed_line().trim().is_empty() {
            return Err(format!("Disconnected with an empty reason: {reason:?}"));
        }
        // The counter resets once the connection stayed up `stableAfter`.
        if self
            .connected_since
            .is_some_and(|since| at.saturating_sub(since) >= self.config.stable_after)
        {
            self.attempt = 0;
            self.step = 0;
        }
        self.connected_since = None;
        let Some(delay) = delay else {
            // No reconnect: the reason must be one that may stop.
            let may_end = reason.is_terminal()
                || matches!(
                    reason,
                    DisconnectReason::ClientOutdated { .. }
                        | DisconnectReason::CertificateInvalid { .. }
                        | DisconnectReason::HandshakeFailed { .. }
                );
            if !may_end {
                return Err(format!(
                    "a transient reason ({}) came without a reconnect",
                    reason.closed_line()
                ));
            }
            return Ok(());
        };
        match reason {
            DisconnectReason::TemporaryBan { .. } => return Ok(()),
            r if r.is_terminal() && !matches!(r, DisconnectReason::LoggedOut { .. }) => {
                return Err(format!(
                    "a terminal reason ({}) promised a reconnect in {delay:?}",
                    r.closed_line()
                ));
            }
            _ => {}
        }
        let free = match reason {
            DisconnectReason::RestartRequired { .. } => {
                self.restarts_in_row = self.restarts_in_row.saturating_add(1);
                self.restarts_in_row <= FREE_RESTARTS_IN_A_ROW
            }
            // 405 refresh, or a pairing the server never confirmed: relink at once, uncounted.
            DisconnectReason::ClientOutdated { .. } | DisconnectReason::LoggedOut { .. } => true,
            _ => false,
        };
        if free {
            if attempt != 0 || delay != Duration::ZERO {
                return Err(format!(
                    "an uncounted reconnect ({}) came as attempt {attempt} after {delay:?}",
                    reason.closed_line()
                ));
            }
            return Ok(());
        }
        self.attempt = self.attempt.saturating_add(1);
        let steps = if matches!(reason, DisconnectReason::RateLimited { .. }) {
            1 + RATE_LIMIT_EXTRA_STEPS
        } else {
            1
        };
        self.step = self.step.saturating_add(steps);
        if attempt != self.attempt {
            return Err(format!(
                "retry counter is {attempt}, the DESIGN §4 model says {} \
                 (it resets only after the connection stayed up {:?})",
                self.attempt, self.config.stable_after
            ));
        }
        let (low, high) = self.config.delay_bounds(self.step);
        if delay < low || delay > high {
            return Err(format!(
                "retry {attempt} (step {}): delay {delay:?} outside [{low:?}, {high:?}]",
                self.step
            ));
        }
        self.retries_checked += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::{Duration, Instant};

    use tether_core::binary::Jid;
    use tether_core::connection::Event;
    use tether_core::reason::{DisconnectReason, LostCause};

    use super::Model;
    use crate::trace::Traced;

    fn lost(base: Instant, at: Duration, delay: Duration, attempt: u32) -> Traced {
        Traced::Event(Event::Disconnected {
            reason: DisconnectReason::ConnectionLost {
                cause: LostCause::DeadSocket,
            },
            reconnect_at: Some(base + at + delay),
            attempt,
            max_attempts: None,
        })
    }

    fn connected() -> Traced {
        let jid: Jid = "15551234567:1@s.whatsapp.net".parse().unwrap();
        Traced::Event(Event::Connected { jid })
    }

    /// Feeds `Connected` at 0 s, a drop at 5 s (attempt 1), `Connected` at 7 s and a drop at
    /// 10 s reporting `second_attempt`, with delays inside the §4 bounds.
    fn feed(second_attempt: u32) -> Result<(), String> {
        let base = Instant::now();
        let mut model = Model::new(tether_core::backoff::ReconnectConfig::default(), false);
        let s = Duration::from_secs;
        model.on_record(base, s(0), &connected())?;
        model.on_record(base, s(5), &lost(base, s(5), s(1), 1))?;
        model.on_record(base, s(7), &connected())?;
        let delay = if second_attempt == 2 { s(2) } else { s(1) };
        model.on_record(base, s(10), &lost(base, s(10), delay, second_attempt))
    }

    #[test]
    fn counter_kept_across_a_short_connection_passes() {
        assert_eq!(feed(2), Ok(()));
    }

    #[test]
    fn counter_reset_before_the_stable_period_is_caught() {
        let error = feed(1).unwrap_err();
        assert!(error.contains("retry counter is 1"), "{error}");
    }
}
