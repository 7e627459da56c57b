//! The reconnect policy of DESIGN §4 in virtual time: delay bounds, the stable-period reset,
//! the 515, 429, certificate/handshake, 405 and ban rules, `maxRetries`, and determinism.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tether_core::backoff::{Decision, ReconnectConfig, ReconnectConfigError, ReconnectPolicy};
use tether_core::binary::Node;
use tether_core::cert::CertError;
use tether_core::noise::{HandshakeError, HandshakeField};
use tether_core::reason::{DisconnectReason, LogoutReason, LostCause};

/// The one real instant of a test; everything else is this plus virtual durations.
#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn lost() -> DisconnectReason {
    DisconnectReason::ConnectionLost {
        cause: LostCause::DeadSocket,
    }
}

fn restart() -> DisconnectReason {
    DisconnectReason::RestartRequired {
        raw: Some(Node::new("stream:error").attr("code", "515")),
    }
}

fn cert_invalid() -> DisconnectReason {
    DisconnectReason::CertificateInvalid {
        why: CertError::BadLeafSignature,
    }
}

fn handshake_failed() -> DisconnectReason {
    DisconnectReason::HandshakeFailed {
        why: HandshakeError::DecryptFailed(HandshakeField::ServerStatic),
    }
}

fn reconnect_at(decision: Decision) -> Instant {
    match decision {
        Decision::ReconnectAt { at, .. } => at,
        other => panic!("expected ReconnectAt, got {other:?}"),
    }
}

/// The §4 formula, written out independently of the implementation, in milliseconds.
fn formula_bounds_ms(config: &ReconnectConfig, n: u32) -> (f64, f64) {
    let base = config.base_delay.as_secs_f64() * 1e3;
    let max = config.max_delay.as_secs_f64() * 1e3;
    let nominal = (base * config.backoff_factor.powi(n as i32 - 1)).min(max);
    (
        nominal * (1.0 - config.jitter),
        (nominal * (1.0 + config.jitter)).min(max),
    )
}

fn assert_within_formula(config: &ReconnectConfig, n: u32, delay: Duration) {
    let (lo, hi) = formula_bounds_ms(config, n);
    let got = delay.as_secs_f64() * 1e3;
    // One microsecond of slack for float rounding between the two computations.
    assert!(
        got >= lo - 1e-3 && got <= hi + 1e-3,
        "step {n}: {got} ms not in [{lo}, {hi}]"
    );
}

#[test]
fn defaults_match_design() {
    let config = ReconnectConfig::default();
    assert_eq!(config.max_retries, None);
    assert_eq!(config.base_delay, ms(1_000));
    assert_eq!(config.max_delay, ms(60_000));
    assert_eq!(config.backoff_factor, 2.0);
    assert_eq!(config.jitter, 0.2);
    assert_eq!(config.stable_after, ms(30_000));
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn validate_rejects_nonsense() {
    let bad_factor = ReconnectConfig {
        backoff_factor: 0.5,
        ..ReconnectConfig::default()
    };
    assert_eq!(
        bad_factor.validate(),
        Err(ReconnectConfigError::Factor(0.5))
    );
    let bad_jitter = ReconnectConfig {
        jitter: 1.5,
        ..ReconnectConfig::default()
    };
    assert_eq!(
        bad_jitter.validate(),
        Err(ReconnectConfigError::Jitter(1.5))
    );
    let nan_jitter = ReconnectConfig {
        jitter: f64::NAN,
        ..ReconnectConfig::default()
    };
    assert!(nan_jitter.validate().is_err());
    let base_above_max = ReconnectConfig {
        base_delay: ms(2_000),
        max_delay: ms(1_000),
        ..ReconnectConfig::default()
    };
    assert!(matches!(
        base_above_max.validate(),
        Err(ReconnectConfigError::BaseAboveMax { .. })
    ));
}

#[test]
fn nominal_delays_follow_the_formula() {
    let config = ReconnectConfig::default();
    let expected = [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000];
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(
            config.nominal_delay(i as u32 + 1),
            ms(*want),
            "step {}",
            i + 1
        );
    }
    assert_eq!(config.nominal_delay(0), ms(1_000));
    assert_eq!(config.nominal_delay(u32::MAX), ms(60_000));
}

#[test]
fn every_delay_is_within_bounds_for_steps_1_to_30_across_seeds() {
    let field_report = ReconnectConfig {
        max_retries: Some(20),
        base_delay: ms(3_000),
        max_delay: ms(60_000),
        backoff_factor: 1.5,
        ..ReconnectConfig::default()
    };
    for config in [ReconnectConfig::default(), field_report] {
        for seed in 0..=255u8 {
            let mut rng = rng(seed);
            for n in 1..=30 {
                let delay = config.delay(n, &mut rng);
                assert_within_formula(&config, n, delay);
                let (lo, hi) = config.delay_bounds(n);
                assert!(
                    delay >= lo && delay <= hi,
                    "step {n}: {delay:?} not in {lo:?}..{hi:?}"
                );
                assert!(delay <= config.max_delay);
            }
        }
    }
}

#[test]
fn jitter_actually_spreads_delays() {
    let config = ReconnectConfig::default();
    let delays: Vec<Duration> = (0..=255u8).map(|s| config.delay(1, &mut rng(s))).collect();
    assert!(delays.iter().any(|d| *d < ms(900)), "no low draws");
    assert!(delays.iter().any(|d| *d > ms(1_100)), "no high draws");
    // Capped steps spread below the cap only.
    let capped: Vec<Duration> = (0..=255u8).map(|s| config.delay(20, &mut rng(s))).collect();
    assert!(capped.iter().all(|d| *d <= ms(60_000)));
    assert!(capped.iter().any(|d| *d < ms(50_000)));
}

#[test]
fn policy_delays_stay_within_bounds_for_30_retries() {
    let config = ReconnectConfig::default();
    for seed in 0..32u8 {
        let mut policy = ReconnectPolicy::new(config.clone());
        let mut rng = rng(seed);
        let mut now = base();
        for n in 1..=30 {
            let decision = policy.on_disconnected(now, &lost(), &mut rng);
            let Decision::ReconnectAt { at, attempt } = decision else {
                panic!("expected a reconnect, got {decision:?}");
            };
            assert_eq!(attempt, n);
            assert_eq!(policy.attempt(), n);
            assert_eq!(policy.step(), n);
            assert_within_formula(&config, n, at - now);
            now = at;
        }
    }
}

#[test]
fn nonsense_config_never_panics_and_never_exceeds_max() {
    let config = ReconnectConfig {
        backoff_factor: f64::NAN,
        jitter: 7.0,
        base_delay: ms(5_000),
        max_delay: ms(1_000),
        ..ReconnectConfig::default()
    };
    let mut rng = rng(1);
    for n in [0, 1, 2, 1_000, u32::MAX] {
        assert!(config.delay(n, &mut rng) <= ms(1_000));
    }
    let zero = ReconnectConfig {
        base_delay: Duration::ZERO,
        backoff_factor: f64::INFINITY,
        ..ReconnectConfig::default()
    };
    assert_eq!(zero.delay(40, &mut rng), Duration::ZERO);
}

#[test]
fn backoff_counter_resets_only_after_stable_period() {
    let mut policy = ReconnectPolicy::new(ReconnectConfig::default());
    let mut rng = rng(3);
    let t0 = base();
    for _ in 0..3 {
        policy.on_disconnected(t0, &lost(), &mut rng);
    }
    assert_eq!(policy.attempt(), 3);

    // Up for 29.999 s: not stable, the next failure is retry 4.
    policy.on_connected(t0);
    assert_eq!(policy.poll_timeout(), Some(t0 + ms(30_000)));
    policy.handle_timeout(t0 + ms(29_999));
    assert_eq!(policy.attempt(), 3, "spurious timeout must not reset");
    policy.on_disconnected(t0 + ms(29_999), &lost(), &mut rng);
    assert_eq!(policy.attempt(), 4);

    // Up for exactly 30 s: the failure after it is retry 1 again.
    let t1 = t0 + ms(40_000);
    policy.on_connected(t1);
    let at = reconnect_at(policy.on_disconnected(t1 + ms(30_000), &lost(), &mut rng));
    assert_eq!(policy.attempt(), 1);
    assert!(at - (t1 + ms(30_000)) <= ms(1_200));
}

#[test]
fn stable_timer_resets_the_counter_while_connected() {
    let mut policy = ReconnectPolicy::new(ReconnectConfig::default());
    let mut rng = rng(4);
    let t0 = base();
    policy.on_disconnected(t0, &lost(), &mut rng);
    policy.on_disconnected(t0, &lost(), &mut rng);
    let up = t0 + ms(5_000);
    policy.on_connected(up);
    let deadline = policy.poll_timeout().unwrap();
    assert_eq!(deadline, up + ms(30_000));
    policy.handle_timeout(deadline);
    assert_eq!((policy.attempt(), policy.step()), (0, 0));
    assert_eq!(policy.poll_timeout(), None, "nothing left to reset");
}

#[test]
fn no_stable_timer_without_a_connection_or_a_counter() {
    let mut policy = ReconnectPolicy::new(ReconnectConfig::default());
    assert_eq!(policy.poll_timeout(), None);
    policy.on_connected(base());
    assert_eq!(policy.poll_timeout(), None);
    assert!(policy.is_connected());
}

#[test]
fn stream_515_reconnects_at_once_without_counting() {
    let mut policy = ReconnectPolicy::new(ReconnectConfig::default());
    let mut rng = rng(5);
    let now = base();
    assert_eq!(
        policy.on_disconnected(now, &restart(), &mut rng),
        Decision::ReconnectAt {
            at: now,
            attempt: 0
        }
    );
    assert_eq!(policy.attempt(), 0);
    assert_eq!(
        policy.on_disconnected(now, &restart(), &mut rng),
        Decision::ReconnectAt {
            at: now,
            attempt: 0
        }
    );
    assert_eq!(policy.attempt(), 0);
}

#[test]
fn third_515_in_a_row_without_success_counts_as_a_retry() {
    let mut policy = ReconnectPolicy::new(ReconnectConfig::default());
    let mut rng = rng(6);
    let now = base();
    policy.on_disconnected(now, &restart(), &mut rng);
    policy.on_disconnected(now, &restart(), &mut rng);
    let at = reconnect_at(policy.on_disconnected(now, &restart(), &mut rng));
    assert_eq!(policy.attempt(), 1);
    assert!(
        at - now >= ms(800),
        "a counted retry waits the backoff delay"
    );
    // A fourth one is counted too.
    policy.on_disconnected(at, &restart(), &mut rng);
    assert_eq!(policy.attempt(), 2);
}

#[test]
fn success_ends_a_515_streak() {
    let mut policy = ReconnectPolicy::new(ReconnectConfig::default());
    let mut rng = rng(7);
    let now = base();
    policy.on_disconnected(now, &restart(), &mut rng);
    policy.on_disconnected(now, &restart(), &mut rng);
    policy.on_connected(now);
    assert_eq!(
        policy.on_disconnected(now, &restart(), &mut rng),
        Decision::ReconnectAt {
            at: now,
            attempt: 0
        }
    );
    assert_eq!(
        policy.on_disconnected(now, &restart(), &mut rng),
        Decision::ReconnectAt {
            at: now,
            attempt: 0
        }
    );
    assert_eq!(policy.attempt(), 0);
}

#[test]
fn rate_limited_is_five_steps_further_along() {
    let config = ReconnectConfig::default();
    let mut policy = ReconnectPolicy::new(config.clone());
    let mut rng = rng(8);
    let now = base();
    let limited = DisconnectReason::RateLimited { raw: None };
    let at = reconnect_at(policy.on_disconnected(now, &limited, &mut rng));
    assert_eq!(policy.attempt(), 1, "one retry for maxRetries");
    assert_eq!(policy.step(), 6, "but backoff step 1 + 5");
    assert_within_formula(&config, 6, at - now);
    assert!(at - now >= ms(25_600));
    // The next failure continues from the elevated step.
    let next = reconnect_at(policy.on_disconnected(at, &lost(), &mut rng));
    assert_eq!((policy.attempt(), policy.step()), (2, 7));
    assert_within_formula(&config, 7, next - at);
}

#[test]
fn five_cert_failures_in_a_row_are_terminal() {
    let mut policy = ReconnectPolicy::new(ReconnectConfig::default());
    let mut rng = rng(9);
    let now = base();
    let reasons = [
        cert_invalid(),
        handshake_failed(),
        cert_invalid(),
        handshake_failed(),
    ];
    for reason in &reasons {
        reconnect_at(policy.on_disconnected(now, reason, &mut rng));
    }
    assert_eq!(policy.attempt(), 4);
    assert_eq!(
        policy.on_disconnected(now, &cert_invalid(), &mut rng),
        Decision::Stop {
            reason: cert_invalid(),
            reconnect_at: None
        }
    );
}

#[test]
fn another_reason_breaks_a_cert_failure_streak() {
    let mut policy = ReconnectPolicy::new(ReconnectConfig::default());
    let mut rng = rng(10);
    let now = base();
    for _ in 0..4 {
        reconnect_at(policy.on_disconnected(now, &handshake_failed(), &mut rng));
    }
    reconnect_at(policy.on_disconnected(now, &lost(), &mut rng));
    for _ in 0..4 {
        reconnect_at(policy.on_disconnected(now, &handshake_failed(), &mut rng));
    }
    assert!(matches!(
        policy.on_disconnected(now, &handshake_failed(), &mut rng),
        Decision::Stop { .. }
    ));
}

#[test]
fn client_outdated_refreshes_the_version_once_then_stops() {
    let mut policy = ReconnectPolicy::new(ReconnectConfig::default());
    let mut rng = rng(11);
    let now = base();
    let outdated = DisconnectReason::ClientOutdated { raw: None };
    assert_eq!(
        policy.on_disconnected(now, &outdated, &mut rng),
        Decision::RefreshVersion
    );
    assert_eq!(policy.attempt(), 0);
    assert_eq!(
        policy.on_disconnected(now, &outdated, &mut rng),
        Decision::Stop {
            reason: outdated.clone(),
            reconnect_at: None
        }
    );
    // After a success the refresh is available again.
    let mut policy = ReconnectPolicy::new(ReconnectConfig::default());
    policy.on_disconnected(now, &outdated, &mut rng);
    policy.on_connected(now);
    assert_eq!(
        policy.on_disconnected(now, &outdated, &mut rng),
        Decision::RefreshVersion
    );
}

#[test]
fn temporary_ban_stops_with_reconnect_at_expiry() {
    let mut policy = ReconnectPolicy::new(ReconnectConfig::default());
    let mut rng = rng(12);
    let now = base();
    let ban = DisconnectReason::TemporaryBan {
        until: Some(1_790_003_600),
        expire: Some(Duration::from_secs(3_600)),
        code: Some(101),
        raw: None,
    };
    assert_eq!(
        policy.on_disconnected(now, &ban, &mut rng),
        Decision::Stop {
            reason: ban,
            reconnect_at: Some(now + Duration::from_secs(3_600))
        }
    );
    let open_ended = DisconnectReason::TemporaryBan {
        until: None,
        expire: None,
        code: None,
        raw: None,
    };
    assert!(matches!(
        policy.on_disconnected(now, &open_ended, &mut rng),
        Decision::Stop {
            reconnect_at: None,
            ..
        }
    ));
}

#[test]
fn policy_stops_at_once_on_exactly_the_terminal_reasons() {
    let reasons = [
        restart(),
        lost(),
        DisconnectReason::ServiceUnavailable { raw: None },
        DisconnectReason::ServerError { raw: None },
        DisconnectReason::RateLimited { raw: None },
        DisconnectReason::StreamError {
            code: None,
            raw: None,
        },
        DisconnectReason::Replaced { raw: None },
        DisconnectReason::LoggedOut {
            reason: LogoutReason::Failure(401),
            raw: None,
        },
        DisconnectReason::TemporaryBan {
            until: None,
            expire: None,
            code: None,
            raw: None,
        },
        DisconnectReason::ConnectFailure {
            reason: Some(400),
            raw: None,
        },
        DisconnectReason::MultideviceMismatch { raw: None },
        DisconnectReason::QrCodesExhausted,
        DisconnectReason::CertificateExpired {
            now: 2,
            not_after: 1,
        },
        DisconnectReason::CertificateNotYetValid {
            now: 1,
            not_before: 2,
        },
        cert_invalid(),
        handshake_failed(),
        DisconnectReason::StoreFailure {
            detail: "full".into(),
        },
        DisconnectReason::RetriesExhausted {
            attempts: 1,
            last: Box::new(lost()),
        },
        DisconnectReason::LocalShutdown,
    ];
    let mut rng = rng(13);
    for reason in reasons {
        let mut policy = ReconnectPolicy::new(ReconnectConfig::default());
        let decision = policy.on_disconnected(base(), &reason, &mut rng);
        let stopped = matches!(decision, Decision::Stop { .. });
        assert_eq!(stopped, reason.is_terminal(), "{reason:?} → {decision:?}");
        if let Decision::Stop { reason: why, .. } = decision {
            assert_eq!(why, reason);
        }
    }
}

#[test]
fn max_retries_exhausted_stops() {
    let config = ReconnectConfig {
        max_retries: Some(3),
        ..ReconnectConfig::default()
    };
    let mut policy = ReconnectPolicy::new(config);
    assert_eq!(policy.max_attempts(), Some(3));
    let mut rng = rng(14);
    let mut now = base();
    for n in 1..=3 {
        now = reconnect_at(policy.on_disconnected(now, &lost(), &mut rng));
        assert_eq!(policy.attempt(), n);
    }
    assert_eq!(
        policy.on_disconnected(now, &lost(), &mut rng),
        Decision::Stop {
            reason: DisconnectReason::RetriesExhausted {
                attempts: 3,
                last: Box::new(lost()),
            },
            reconnect_at: None
        }
    );
}

#[test]
fn zero_max_retries_stops_at_the_first_counted_failure_but_not_on_515() {
    let config = ReconnectConfig {
        max_retries: Some(0),
        ..ReconnectConfig::default()
    };
    let mut policy = ReconnectPolicy::new(config);
    let mut rng = rng(15);
    let now = base();
    assert_eq!(
        policy.on_disconnected(now, &restart(), &mut rng),
        Decision::ReconnectAt {
            at: now,
            attempt: 0
        }
    );
    assert!(matches!(
        policy.on_disconnected(now, &lost(), &mut rng),
        Decision::Stop {
            reason: DisconnectReason::RetriesExhausted { attempts: 0, .. },
            ..
        }
    ));
}

#[test]
fn reset_forgets_counters_and_streaks() {
    let mut policy = ReconnectPolicy::new(ReconnectConfig::default());
    let mut rng = rng(16);
    let now = base();
    policy.on_disconnected(now, &lost(), &mut rng);
    policy.on_disconnected(now, &restart(), &mut rng);
    policy.on_disconnected(now, &restart(), &mut rng);
    policy.reset();
    assert_eq!(policy.attempt(), 0);
    assert_eq!(
        policy.on_disconnected(now, &restart(), &mut rng),
        Decision::ReconnectAt {
            at: now,
            attempt: 0
        }
    );
}

#[test]
fn same_seed_gives_the_same_decisions() {
    let run = |seed: u8| {
        let mut policy = ReconnectPolicy::new(ReconnectConfig::default());
        let mut rng = rng(seed);
        let start = base();
        let mut now = start;
        let mut delays = Vec::new();
        for i in 0..20 {
            let reason = if i % 4 == 3 {
                DisconnectReason::RateLimited { raw: None }
            } else {
                lost()
            };
            let at = reconnect_at(policy.on_disconnected(now, &reason, &mut rng));
            delays.push(at - now);
            now = at;
        }
        delays
    };
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43));
}
