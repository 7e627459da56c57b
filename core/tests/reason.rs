//! `DisconnectReason`: one test per row of DESIGN §4's reason table, codes, terminality,
//! advice, and the field report's log-line shapes. The stanza parsers are in `reason_stanzas.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tether_core::binary::Node;
use tether_core::cert::{CertError, CertRole};
use tether_core::frame::FrameError;
use tether_core::noise::{HandshakeError, HandshakeField};
use tether_core::reason::{
    DisconnectReason, LogoutReason, LostCause, ProtocolFault, ReasonCode, TransportFailure,
    reconnecting_line,
};

const UNIX_NOW: u64 = 1_790_000_000;

fn node(text: &str) -> Node {
    Node::parse_text(text).unwrap()
}

fn stream(text: &str) -> DisconnectReason {
    DisconnectReason::from_stream_error(&node(text))
}

fn failure(text: &str) -> DisconnectReason {
    DisconnectReason::from_failure(&node(text), UNIX_NOW)
}

fn lost(cause: LostCause) -> DisconnectReason {
    DisconnectReason::ConnectionLost { cause }
}

/// One value of every variant, for table-wide properties.
fn one_of_each() -> Vec<DisconnectReason> {
    vec![
        stream(r#"<stream:error code="515"/>"#),
        lost(LostCause::DeadSocket),
        lost(LostCause::TransportClosed {
            close_code: Some(1006),
        }),
        lost(LostCause::StreamEnd),
        lost(LostCause::TransportFailed {
            failure: TransportFailure::Refused {
                target: "127.0.0.1:9".into(),
            },
        }),
        lost(LostCause::ConnectTimeout),
        lost(LostCause::HandshakeTimeout),
        stream(r#"<stream:error code="503"/>"#),
        failure(r#"<failure reason="500"/>"#),
        stream(r#"<stream:error code="429"/>"#),
        stream(r#"<stream:error code="499"/>"#),
        stream(r#"<stream:error><conflict type="replaced"/></stream:error>"#),
        failure(r#"<failure reason="401"/>"#),
        failure(r#"<failure reason="402" code="101" expire="3600"/>"#),
        failure(r#"<failure reason="405"/>"#),
        failure(r#"<failure reason="400"/>"#),
        failure(r#"<failure reason="411"/>"#),
        DisconnectReason::QrCodesExhausted,
        DisconnectReason::CertificateExpired {
            now: 20,
            not_after: 10,
        },
        DisconnectReason::CertificateNotYetValid {
            now: 10,
            not_before: 20,
        },
        DisconnectReason::CertificateInvalid {
            why: CertError::BadLeafSignature,
        },
        DisconnectReason::HandshakeFailed {
            why: HandshakeError::DecryptFailed(HandshakeField::ServerStatic),
        },
        DisconnectReason::ProtocolError {
            fault: ProtocolFault::Frame(FrameError::FrameTooLarge { len: 9, max: 8 }),
        },
        DisconnectReason::StoreFailure {
            detail: "disk full".into(),
        },
        DisconnectReason::RetriesExhausted {
            attempts: 10,
            last: Box::new(lost(LostCause::DeadSocket)),
        },
        DisconnectReason::LocalShutdown,
    ]
}

// ---- one test per reason row ---------------------------------------------------------------

#[test]
fn restart_required_is_515_and_not_terminal() {
    let reason = stream(r#"<stream:error code="515"/>"#);
    assert!(matches!(reason, DisconnectReason::RestartRequired { .. }));
    assert_eq!(reason.code(), ReasonCode::Server(515));
    assert!(!reason.is_terminal());
    assert!(!reason.invalidates_session());
}

#[test]
fn connection_lost_timeouts_are_local_408() {
    for cause in [
        LostCause::DeadSocket,
        LostCause::FrameTimeout,
        LostCause::ConnectTimeout,
        LostCause::HandshakeTimeout,
    ] {
        let reason = lost(cause);
        assert_eq!(reason.code(), ReasonCode::Local(408), "{reason:?}");
        assert_eq!(reason.code().to_string(), "[408]");
        assert!(!reason.is_terminal());
    }
}

#[test]
fn connection_lost_closes_are_local_428() {
    for cause in [
        LostCause::TransportClosed { close_code: None },
        LostCause::StreamEnd,
        LostCause::TransportFailed {
            failure: TransportFailure::Io {
                detail: "reset".into(),
            },
        },
    ] {
        let reason = lost(cause);
        assert_eq!(reason.code(), ReasonCode::Local(428), "{reason:?}");
        assert!(!reason.is_terminal());
    }
}

#[test]
fn service_unavailable_is_503_and_retried() {
    let reason = stream(r#"<stream:error code="503"/>"#);
    assert!(matches!(
        reason,
        DisconnectReason::ServiceUnavailable { .. }
    ));
    assert_eq!(reason.code(), ReasonCode::Server(503));
    assert!(!reason.is_terminal());
}

#[test]
fn server_error_is_500_and_retried() {
    let reason = failure(r#"<failure reason="500"/>"#);
    assert!(matches!(reason, DisconnectReason::ServerError { .. }));
    assert_eq!(reason.code(), ReasonCode::Server(500));
    assert!(!reason.is_terminal());
}

#[test]
fn rate_limited_is_429_and_retried() {
    let reason = stream(r#"<stream:error code="429"/>"#);
    assert!(matches!(reason, DisconnectReason::RateLimited { .. }));
    assert_eq!(reason.code(), ReasonCode::Server(429));
    assert!(!reason.is_terminal());
}

#[test]
fn stream_error_is_never_a_bad_session() {
    let with_code = stream(r#"<stream:error code="499"/>"#);
    assert_eq!(with_code.code(), ReasonCode::Server(499));
    let without = stream(r#"<stream:error><ack id="1" class="message"/></stream:error>"#);
    assert_eq!(without.code(), ReasonCode::Local(500));
    for reason in [with_code, without] {
        assert!(!reason.is_terminal());
        assert!(!reason.invalidates_session());
        assert_eq!(reason.invalidated_line(), None);
    }
}

#[test]
fn replaced_is_terminal() {
    let reason = stream(r#"<stream:error><conflict type="replaced"/></stream:error>"#);
    assert!(matches!(reason, DisconnectReason::Replaced { .. }));
    assert_eq!(reason.code(), ReasonCode::Server(440));
    assert!(reason.is_terminal());
    assert!(!reason.invalidates_session(), "credentials stay valid");
    let advice = reason.advice();
    assert!(advice.contains("WhatsApp Web"), "{advice}");
    assert!(advice.contains("Stop the other one"), "{advice}");
    assert!(advice.contains("evict each other"), "{advice}");
}

#[test]
fn logged_out_is_terminal_and_invalidates_the_session() {
    let reason = failure(r#"<failure reason="401"/>"#);
    assert_eq!(
        reason,
        DisconnectReason::LoggedOut {
            reason: LogoutReason::Failure(401),
            raw: Some(node(r#"<failure reason="401"/>"#)),
        }
    );
    assert_eq!(reason.code(), ReasonCode::Server(401));
    assert!(reason.is_terminal());
    assert!(reason.invalidates_session());
    assert!(reason.advice().contains("quarantined"));
}

#[test]
fn temporary_ban_is_terminal_402() {
    let reason = failure(r#"<failure reason="402"/>"#);
    assert_eq!(reason.code(), ReasonCode::Server(402));
    assert!(reason.is_terminal());
    assert!(!reason.invalidates_session());
}

#[test]
fn client_outdated_is_405_and_left_to_the_version_refresh() {
    let reason = failure(r#"<failure reason="405" location="cln"/>"#);
    assert!(matches!(reason, DisconnectReason::ClientOutdated { .. }));
    assert_eq!(reason.code(), ReasonCode::Server(405));
    assert!(!reason.is_terminal(), "one version refresh comes first");
}

#[test]
fn connect_failure_is_terminal_with_its_code() {
    let reason = failure(r#"<failure reason="418"/>"#);
    assert!(matches!(
        reason,
        DisconnectReason::ConnectFailure {
            reason: Some(418),
            ..
        }
    ));
    assert_eq!(reason.code(), ReasonCode::Server(418));
    assert!(reason.is_terminal());
}

#[test]
fn multidevice_mismatch_is_terminal_411() {
    let reason = failure(r#"<failure reason="411"/>"#);
    assert!(matches!(
        reason,
        DisconnectReason::MultideviceMismatch { .. }
    ));
    assert_eq!(reason.code(), ReasonCode::Server(411));
    assert!(reason.is_terminal());
}

#[test]
fn qr_codes_exhausted_is_terminal_local_408_and_not_a_connection_loss() {
    let reason = DisconnectReason::QrCodesExhausted;
    assert_eq!(reason.code(), ReasonCode::Local(408));
    assert!(reason.is_terminal());
    assert_ne!(
        reason.description(),
        lost(LostCause::DeadSocket).description()
    );
    assert!(reason.advice().contains("not a connection problem"));
}

#[test]
fn certificate_validity_failures_point_at_the_clock() {
    for reason in [
        DisconnectReason::from_cert_error(CertError::Expired {
            role: CertRole::Leaf,
            now: 200,
            not_after: 100,
        }),
        DisconnectReason::from_cert_error(CertError::NotYetValid {
            role: CertRole::Intermediate,
            now: 100,
            not_before: 200,
        }),
    ] {
        assert!(matches!(
            reason,
            DisconnectReason::CertificateExpired {
                now: 200,
                not_after: 100
            } | DisconnectReason::CertificateNotYetValid {
                now: 100,
                not_before: 200
            }
        ));
        assert_eq!(reason.code(), ReasonCode::Unnumbered);
        assert!(!reason.is_terminal());
        assert!(reason.advice().contains("clock"));
    }
}

#[test]
fn certificate_invalid_and_handshake_failed_are_retried_with_interception_advice() {
    let invalid = DisconnectReason::from_cert_error(CertError::LeafKeyMismatch);
    assert_eq!(
        invalid,
        DisconnectReason::CertificateInvalid {
            why: CertError::LeafKeyMismatch
        }
    );
    let handshake = DisconnectReason::HandshakeFailed {
        why: HandshakeError::LowOrderKey(HandshakeField::ServerEphemeral),
    };
    for reason in [invalid, handshake] {
        assert_eq!(reason.code(), ReasonCode::Unnumbered);
        assert!(!reason.is_terminal(), "terminal only after 5 in a row");
        assert!(reason.advice().contains("intercept"));
    }
}

#[test]
fn protocol_error_is_local_500_and_retried() {
    let reason = DisconnectReason::ProtocolError {
        fault: ProtocolFault::Unexpected {
            expected: "success or failure",
            raw: Some(node("<iq/>")),
        },
    };
    assert_eq!(reason.code(), ReasonCode::Local(500));
    assert_eq!(reason.raw(), Some(&node("<iq/>")));
    assert!(!reason.is_terminal());
}

#[test]
fn store_failure_is_terminal_without_code() {
    let reason = DisconnectReason::StoreFailure {
        detail: "disk full".into(),
    };
    assert_eq!(reason.code(), ReasonCode::Unnumbered);
    assert!(reason.is_terminal());
}

#[test]
fn retries_exhausted_is_terminal_and_keeps_the_last_stanza() {
    let last = stream(r#"<stream:error code="503"/>"#);
    let reason = DisconnectReason::RetriesExhausted {
        attempts: 3,
        last: Box::new(last.clone()),
    };
    assert!(reason.is_terminal());
    assert_eq!(reason.code(), ReasonCode::Unnumbered);
    assert_eq!(reason.raw(), last.raw());
}

#[test]
fn local_shutdown_is_terminal_without_code() {
    let reason = DisconnectReason::LocalShutdown;
    assert!(reason.is_terminal());
    assert_eq!(reason.code(), ReasonCode::Unnumbered);
    assert_eq!(reason.to_string(), "Local shutdown");
}

// ---- table-wide properties and log lines ----------------------------------------------------

#[test]
fn only_logouts_invalidate_the_session() {
    for reason in one_of_each() {
        let logout = matches!(reason, DisconnectReason::LoggedOut { .. });
        assert_eq!(reason.invalidates_session(), logout, "{reason:?}");
        assert_eq!(reason.invalidated_line().is_some(), logout, "{reason:?}");
    }
}

#[test]
fn every_reason_has_description_and_advice() {
    for reason in one_of_each() {
        assert!(!reason.description().is_empty(), "{reason:?}");
        assert!(reason.advice().len() > 40, "{reason:?}");
        assert!(!reason.description().ends_with('.'), "{reason:?}");
    }
}

#[test]
fn terminal_reasons_match_design_table() {
    let terminal: Vec<&str> = one_of_each()
        .iter()
        .filter(|r| r.is_terminal())
        .map(DisconnectReason::description)
        .collect();
    assert_eq!(
        terminal,
        [
            "Connection replaced",
            "Logged out",
            "Temporarily banned",
            "Connection refused by server",
            "Multi-device mismatch",
            "QR codes exhausted",
            "Credential store failure",
            "Retries exhausted",
            "Local shutdown",
        ]
    );
}

#[test]
fn closed_line_keeps_the_field_report_shape() {
    assert_eq!(
        lost(LostCause::DeadSocket).closed_line(),
        "Connection closed. Reason: [408] (Connection timed out)"
    );
    assert_eq!(
        stream(r#"<stream:error code="515"/>"#).closed_line(),
        "Connection closed. Reason: 515 (Restart required)"
    );
    assert_eq!(
        stream(r#"<stream:error><conflict type="replaced"/></stream:error>"#).closed_line(),
        "Connection closed. Reason: 440 (Connection replaced)"
    );
    assert_eq!(
        stream(r#"<stream:error code="477"/>"#).closed_line(),
        "Connection closed. Reason: 477 (Stream error)"
    );
    assert_eq!(
        DisconnectReason::LocalShutdown.closed_line(),
        "Connection closed. Reason: Local shutdown"
    );
}

#[test]
fn server_codes_print_bare_and_local_codes_in_brackets() {
    assert_eq!(ReasonCode::Server(408).to_string(), "408");
    assert_eq!(ReasonCode::Local(408).to_string(), "[408]");
    assert_eq!(ReasonCode::Unnumbered.to_string(), "-");
    assert_eq!(ReasonCode::Local(428).number(), Some(428));
    assert!(ReasonCode::Local(428).is_local());
    assert!(!ReasonCode::Server(428).is_local());
    assert_eq!(ReasonCode::Unnumbered.number(), None);
}

#[test]
fn restart_required_is_not_session_invalidated() {
    let reason = stream(r#"<stream:error code="515"/>"#);
    assert_eq!(reason.invalidated_line(), None);
    assert!(reason.advice().contains("NOT invalidated"));
}

#[test]
fn invalidated_line_only_for_logged_out() {
    assert_eq!(
        failure(r#"<failure reason="401"/>"#).invalidated_line(),
        Some("Session invalidated. Please re-scan QR code.")
    );
    assert_eq!(
        failure(r#"<failure reason="402"/>"#).invalidated_line(),
        None
    );
}

#[test]
fn reconnecting_line_keeps_the_field_report_shape() {
    assert_eq!(
        reconnecting_line(Duration::from_secs(5), 3, Some(10)),
        "Reconnecting in 5s... (attempt 3/10)"
    );
    assert_eq!(
        reconnecting_line(Duration::from_millis(1_234), 3, None),
        "Reconnecting in 1.2s... (attempt 3)"
    );
    assert_eq!(
        reconnecting_line(Duration::from_millis(59_970), 12, None),
        "Reconnecting in 60s... (attempt 12)"
    );
    assert_eq!(
        reconnecting_line(Duration::ZERO, 0, Some(10)),
        "Reconnecting in 0s... (not counted as a retry)"
    );
}

#[test]
fn raw_stanza_is_kept() {
    let text = r#"<stream:error code="503"/>"#;
    assert_eq!(stream(text).raw(), Some(&node(text)));
    assert_eq!(lost(LostCause::DeadSocket).raw(), None);
}

#[test]
fn errors_convert_into_reasons() {
    use tether_core::noise::TransportError;
    let expired: DisconnectReason = CertError::Expired {
        role: CertRole::Leaf,
        now: 5,
        not_after: 4,
    }
    .into();
    assert_eq!(
        expired,
        DisconnectReason::CertificateExpired {
            now: 5,
            not_after: 4
        }
    );
    let handshake: DisconnectReason = HandshakeError::WrongState("x").into();
    assert!(matches!(
        handshake,
        DisconnectReason::HandshakeFailed { .. }
    ));
    let decrypt: DisconnectReason = ProtocolFault::from(TransportError::DecryptFailed).into();
    assert_eq!(decrypt.code(), ReasonCode::Local(500));
    let frame = ProtocolFault::from(FrameError::FrameTooLarge { len: 2, max: 1 });
    assert!(matches!(frame, ProtocolFault::Frame(_)));
}

/// A failed transport says which step failed: its own description and advice, and the
/// specifics in `detail` and in the closed line; a refused connect is never "closed".
#[test]
fn a_transport_failure_carries_its_typed_cause() {
    let refused = lost(LostCause::TransportFailed {
        failure: TransportFailure::Refused {
            target: "127.0.0.1:9".into(),
        },
    });
    assert_eq!(refused.description(), "Connection refused");
    assert_eq!(refused.code(), ReasonCode::Local(428));
    assert_eq!(
        refused.detail().as_deref(),
        Some("127.0.0.1:9 refused the connection")
    );
    assert_eq!(
        refused.closed_line(),
        "Connection closed. Reason: [428] (Connection refused): 127.0.0.1:9 refused the connection"
    );
    assert!(refused.advice().contains("Nothing accepted the connection"));
    assert_eq!(
        refused.transport_failure().map(TransportFailure::kind),
        Some("refused")
    );

    let status = lost(LostCause::TransportFailed {
        failure: TransportFailure::UpgradeStatus { status: 403 },
    });
    assert_eq!(status.description(), "WebSocket upgrade refused");
    assert!(status.detail().unwrap().contains("HTTP 403"));
    let tls = lost(LostCause::TransportFailed {
        failure: TransportFailure::Tls {
            host: "web.whatsapp.com".into(),
            detail: "invalid peer certificate: UnknownIssuer".into(),
        },
    });
    assert_eq!(tls.description(), "TLS handshake failed");
    assert!(tls.advice().contains("--ca-file"));
    // A reason without specifics keeps the field report's line as it was.
    assert_eq!(lost(LostCause::DeadSocket).detail(), None);
    let closed = lost(LostCause::TransportClosed {
        close_code: Some(1001),
    });
    assert_eq!(
        closed.detail().as_deref(),
        Some("WebSocket close code 1001")
    );
}
