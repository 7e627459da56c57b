//! Stanza → `DisconnectReason`: every `<stream:error>` form of session.md §6.1, every
//! `<failure reason=…>` code of §6.2 and `<xmlstreamend/>`, mapped per DESIGN §4's "from"
//! column, including malformed attributes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tether_core::binary::{Jid, Node, Server};
use tether_core::reason::{DisconnectReason, LogoutReason, LostCause, ReasonCode};

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

// ---- every <stream:error> form of session.md §6.1 --------------------------------------------

#[test]
fn stream_515_is_restart_required() {
    let text = r#"<stream:error code="515"/>"#;
    assert_eq!(
        stream(text),
        DisconnectReason::RestartRequired {
            raw: Some(node(text))
        }
    );
}

#[test]
fn stream_conflict_replaced_is_replaced() {
    let text = r#"<stream:error><conflict type="replaced"/></stream:error>"#;
    assert_eq!(
        stream(text),
        DisconnectReason::Replaced {
            raw: Some(node(text))
        }
    );
}

#[test]
fn stream_401_with_device_removed_is_logged_out() {
    let reason =
        stream(r#"<stream:error code="401"><conflict type="device_removed"/></stream:error>"#);
    assert!(matches!(
        reason,
        DisconnectReason::LoggedOut {
            reason: LogoutReason::DeviceRemoved { code: Some(401) },
            raw: Some(_)
        }
    ));
    assert_eq!(reason.code(), ReasonCode::Server(401));
}

#[test]
fn stream_device_removed_without_code_is_logged_out_local_401() {
    let reason = stream(r#"<stream:error><conflict type="device_removed"/></stream:error>"#);
    assert!(matches!(
        reason,
        DisconnectReason::LoggedOut {
            reason: LogoutReason::DeviceRemoved { code: None },
            ..
        }
    ));
    assert_eq!(reason.code(), ReasonCode::Local(401));
}

#[test]
fn stream_other_conflict_is_logged_out() {
    let reason = stream(r#"<stream:error><conflict type="something_new"/></stream:error>"#);
    assert_eq!(
        reason,
        DisconnectReason::LoggedOut {
            reason: LogoutReason::Conflict {
                kind: "something_new".into(),
                code: None
            },
            raw: Some(node(
                r#"<stream:error><conflict type="something_new"/></stream:error>"#
            )),
        }
    );
    let untyped = stream(r#"<stream:error><conflict/></stream:error>"#);
    assert!(matches!(
        untyped,
        DisconnectReason::LoggedOut {
            reason: LogoutReason::Conflict { ref kind, code: None },
            ..
        } if kind.is_empty()
    ));
}

#[test]
fn stream_401_alone_is_logged_out() {
    let reason = stream(r#"<stream:error code="401"/>"#);
    assert!(matches!(
        reason,
        DisconnectReason::LoggedOut {
            reason: LogoutReason::StreamCode(401),
            ..
        }
    ));
    assert_eq!(reason.code(), ReasonCode::Server(401));
}

#[test]
fn stream_516_is_logged_out() {
    let reason = stream(r#"<stream:error code="516"/>"#);
    assert!(matches!(
        reason,
        DisconnectReason::LoggedOut {
            reason: LogoutReason::StreamCode(516),
            ..
        }
    ));
    assert_eq!(reason.code(), ReasonCode::Server(516));
    assert_eq!(reason.description(), "Logged out (device removed)");
}

#[test]
fn stream_409_is_replaced() {
    let reason = stream(r#"<stream:error code="409"/>"#);
    assert!(matches!(reason, DisconnectReason::Replaced { .. }));
    assert_eq!(reason.code(), ReasonCode::Server(440));
}

#[test]
fn stream_440_is_replaced() {
    assert!(matches!(
        stream(r#"<stream:error code="440"/>"#),
        DisconnectReason::Replaced { .. }
    ));
}

#[test]
fn stream_429_is_rate_limited() {
    assert!(matches!(
        stream(r#"<stream:error code="429"/>"#),
        DisconnectReason::RateLimited { .. }
    ));
}

#[test]
fn stream_503_is_service_unavailable() {
    assert!(matches!(
        stream(r#"<stream:error code="503"/>"#),
        DisconnectReason::ServiceUnavailable { .. }
    ));
}

#[test]
fn stream_ack_shaped_is_code_less_stream_error() {
    let text = r#"<stream:error><ack id="3EB0" class="receipt" type="read"/></stream:error>"#;
    assert_eq!(
        stream(text),
        DisconnectReason::StreamError {
            code: None,
            raw: Some(node(text))
        }
    );
}

#[test]
fn stream_xml_not_well_formed_is_code_less_stream_error() {
    assert!(matches!(
        stream(r#"<stream:error><xml-not-well-formed/></stream:error>"#),
        DisconnectReason::StreamError { code: None, .. }
    ));
}

#[test]
fn stream_empty_is_code_less_stream_error() {
    assert!(matches!(
        stream("<stream:error/>"),
        DisconnectReason::StreamError { code: None, .. }
    ));
}

#[test]
fn stream_unknown_code_is_stream_error_with_code() {
    for code in [500_u16, 413, 414, 599] {
        let reason = stream(&format!(r#"<stream:error code="{code}"/>"#));
        assert!(
            matches!(reason, DisconnectReason::StreamError { code: Some(c), .. } if c == code),
            "{reason:?}"
        );
    }
}

#[test]
fn stream_malformed_codes_are_treated_as_absent() {
    for code in [
        "",
        "abc",
        "-515",
        "+515",
        " 515",
        "515 ",
        "99999999999",
        "0x203",
    ] {
        let reason = stream(&format!(r#"<stream:error code="{}"/>"#, code));
        assert!(
            matches!(reason, DisconnectReason::StreamError { code: None, .. }),
            "{code:?}: {reason:?}"
        );
    }
    let jid_valued = Node::new("stream:error").jid_attr("code", Jid::server_jid(Server::WhatsApp));
    assert!(matches!(
        DisconnectReason::from_stream_error(&jid_valued),
        DisconnectReason::StreamError { code: None, .. }
    ));
}

#[test]
fn stream_conflict_takes_precedence_over_code() {
    assert!(matches!(
        stream(r#"<stream:error code="515"><conflict type="replaced"/></stream:error>"#),
        DisconnectReason::Replaced { .. }
    ));
}

#[test]
fn xmlstreamend_is_connection_closed() {
    let reason = DisconnectReason::from_stanza(&node("<xmlstreamend/>"), UNIX_NOW).unwrap();
    assert_eq!(
        reason,
        DisconnectReason::ConnectionLost {
            cause: LostCause::StreamEnd
        }
    );
    assert_eq!(reason.code(), ReasonCode::Local(428));
}

#[test]
fn from_stanza_dispatches_by_tag_and_ignores_others() {
    assert!(matches!(
        DisconnectReason::from_stanza(&node(r#"<stream:error code="515"/>"#), UNIX_NOW),
        Some(DisconnectReason::RestartRequired { .. })
    ));
    assert!(matches!(
        DisconnectReason::from_stanza(&node(r#"<failure reason="405"/>"#), UNIX_NOW),
        Some(DisconnectReason::ClientOutdated { .. })
    ));
    assert_eq!(
        DisconnectReason::from_stanza(&node("<success/>"), UNIX_NOW),
        None
    );
    assert_eq!(
        DisconnectReason::from_stanza(&node(r#"<iq type="get"/>"#), UNIX_NOW),
        None
    );
}

// ---- every <failure reason=…> of session.md §6.2 ---------------------------------------------

#[test]
fn failure_401_is_logged_out() {
    assert!(matches!(
        failure(r#"<failure reason="401"/>"#),
        DisconnectReason::LoggedOut {
            reason: LogoutReason::Failure(401),
            ..
        }
    ));
}

#[test]
fn failure_402_carries_ban_expiry() {
    let text = r#"<failure reason="402" code="103" expire="86400"/>"#;
    assert_eq!(
        failure(text),
        DisconnectReason::TemporaryBan {
            until: Some(UNIX_NOW + 86_400),
            expire: Some(Duration::from_secs(86_400)),
            code: Some(103),
            raw: Some(node(text)),
        }
    );
}

#[test]
fn failure_402_without_expiry_is_still_a_ban() {
    assert!(matches!(
        failure(r#"<failure reason="402"/>"#),
        DisconnectReason::TemporaryBan {
            until: None,
            expire: None,
            code: None,
            ..
        }
    ));
}

#[test]
fn failure_402_huge_expiry_saturates() {
    let reason = DisconnectReason::from_failure(
        &node(r#"<failure reason="402" expire="18446744073709551615"/>"#),
        UNIX_NOW,
    );
    assert!(matches!(
        reason,
        DisconnectReason::TemporaryBan {
            until: Some(u64::MAX),
            ..
        }
    ));
}

#[test]
fn failure_403_is_logged_out_locked() {
    let reason = failure(r#"<failure reason="403"/>"#);
    assert!(matches!(
        reason,
        DisconnectReason::LoggedOut {
            reason: LogoutReason::Failure(403),
            ..
        }
    ));
    assert_eq!(reason.code(), ReasonCode::Server(403));
    assert_eq!(reason.description(), "Logged out (account locked)");
}

#[test]
fn failure_405_is_client_outdated() {
    assert!(matches!(
        failure(r#"<failure reason="405"/>"#),
        DisconnectReason::ClientOutdated { .. }
    ));
}

#[test]
fn failure_406_is_logged_out_banned() {
    let reason = failure(r#"<failure reason="406"/>"#);
    assert!(matches!(
        reason,
        DisconnectReason::LoggedOut {
            reason: LogoutReason::Failure(406),
            ..
        }
    ));
    assert_eq!(reason.code(), ReasonCode::Server(406));
}

#[test]
fn failure_411_is_multidevice_mismatch() {
    assert!(matches!(
        failure(r#"<failure reason="411"/>"#),
        DisconnectReason::MultideviceMismatch { .. }
    ));
}

#[test]
fn failure_500_is_server_error() {
    assert!(matches!(
        failure(r#"<failure reason="500"/>"#),
        DisconnectReason::ServerError { .. }
    ));
}

#[test]
fn failure_503_is_service_unavailable() {
    assert!(matches!(
        failure(r#"<failure reason="503"/>"#),
        DisconnectReason::ServiceUnavailable { .. }
    ));
}

#[test]
fn failure_400_409_415_418_501_and_others_are_connect_failures() {
    for code in [400_u16, 409, 415, 418, 501, 413, 414, 599] {
        let reason = failure(&format!(r#"<failure reason="{code}"/>"#));
        assert!(
            matches!(reason, DisconnectReason::ConnectFailure { reason: Some(c), .. } if c == code),
            "{reason:?}"
        );
        assert_eq!(reason.code(), ReasonCode::Server(code));
        assert!(reason.is_terminal());
    }
}

#[test]
fn failure_without_reason_is_connect_failure_local_500() {
    for text in ["<failure/>", r#"<failure reason="x"/>"#] {
        let reason = failure(text);
        assert!(matches!(
            reason,
            DisconnectReason::ConnectFailure { reason: None, .. }
        ));
        assert_eq!(reason.code(), ReasonCode::Local(500));
    }
}

// ---- hostile attributes ---------------------------------------------------------------------

proptest::proptest! {
    #[test]
    fn stream_error_parsing_is_total(
        code in proptest::option::of(".{0,12}"),
        conflict in proptest::option::of(proptest::option::of(".{0,16}")),
    ) {
        let mut node = Node::new("stream:error");
        if let Some(code) = &code {
            node = node.attr("code", code.clone());
        }
        if let Some(kind) = conflict.clone() {
            let mut child = Node::new("conflict");
            if let Some(kind) = kind {
                child = child.attr("type", kind);
            }
            node = node.children(vec![child]);
        }
        let reason = DisconnectReason::from_stream_error(&node);
        proptest::prop_assert_eq!(reason.raw(), Some(&node));
        let _ = (reason.code(), reason.is_terminal(), reason.advice(), reason.closed_line());
        if conflict.is_none() && code.as_deref() == Some("515") {
            proptest::prop_assert!(
                matches!(reason, DisconnectReason::RestartRequired { .. }),
                "515 must restart"
            );
        }
    }

    #[test]
    fn failure_parsing_is_total(
        reason_attr in proptest::option::of("[0-9]{0,6}|.{0,8}"),
        expire in proptest::option::of("[0-9]{0,22}|.{0,8}"),
        unix_now in proptest::num::u64::ANY,
    ) {
        let mut node = Node::new("failure");
        if let Some(value) = &reason_attr {
            node = node.attr("reason", value.clone());
        }
        if let Some(value) = &expire {
            node = node.attr("expire", value.clone());
        }
        let reason = DisconnectReason::from_failure(&node, unix_now);
        proptest::prop_assert_eq!(reason.raw(), Some(&node));
        let _ = (reason.code(), reason.is_terminal(), reason.advice(), reason.closed_line());
        if let DisconnectReason::TemporaryBan { until: Some(until), .. } = reason {
            proptest::prop_assert!(until >= unix_now);
        }
    }
}
