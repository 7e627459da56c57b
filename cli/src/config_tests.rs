//! Tests of the config file parser and of the merged configuration's checks.

use super::*;

#[test]
fn reads_the_field_report_shape() {
    let s = parse(
        r#"{"channels":{"whatsapp":{
          "sessionStore":{"type":"redb","path":"/tmp/x.redb"},
          "reconnect":{"maxRetries":20,"baseDelay":3000,"maxDelay":60000,"backoffFactor":1.5},
          "keepAlive":{"intervalMs":25000,"timeoutMs":60000}}}}"#,
    )
    .unwrap();
    assert_eq!(s.max_retries, Some(Some(20)));
    assert_eq!(s.base_delay, Some(Duration::from_millis(3000)));
    assert_eq!(s.backoff_factor, Some(1.5));
    assert_eq!(s.keep_alive_timeout, Some(Duration::from_secs(60)));
    assert_eq!(s.store_path, Some(PathBuf::from("/tmp/x.redb")));
    assert!(s.warnings.is_empty());
}

/// OpenClaw's openclaw.json as it really is: JSON5 with comments, trailing commas and unquoted
/// keys, and OpenClaw's own keys beside Tether's, which are recognised without a warning.
#[test]
fn reads_an_openclaw_json5_file_without_warnings() {
    let s = parse(
        r#"// OpenClaw gateway
        {
          agents: { defaults: { workspace: "~/.openclaw/workspace" } },
          channels: {
            whatsapp: {
              dmPolicy: "allowlist",
              allowFrom: ["+15555550123",],
              groupPolicy: 'open',
              mediaMaxMb: 50,
              accounts: { default: {}, },
              /* Tether's */
              reconnect: { maxRetries: 20, baseDelay: 3000, },
            },
          },
        }"#,
    )
    .unwrap();
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(s.openclaw.len(), 5);
    assert_eq!(s.max_retries, Some(Some(20)));
}

#[test]
fn wrong_type_names_the_key() {
    let e = parse(r#"{"channels":{"whatsapp":{"reconnect":{"baseDelay":"3s"}}}}"#).unwrap_err();
    assert!(e.contains("channels.whatsapp.reconnect.baseDelay"), "{e}");
    assert!(e.contains("\"3s\""), "{e}");
}

#[test]
fn unknown_keys_warn_with_the_closest_key() {
    let s = parse(r#"{channels:{whatsapp:{keepalive:{}, reconnect:{maxDelai:1}, frobnicate:1}}}"#)
        .unwrap();
    assert_eq!(s.warnings.len(), 3, "{:?}", s.warnings);
    let find = |k: &str| s.warnings.iter().find(|w| w.contains(k)).unwrap().clone();
    assert!(find("whatsapp.keepalive ").contains("did you mean keepAlive?"));
    assert!(find("reconnect.maxDelai").contains("did you mean maxDelay?"));
    assert!(find("frobnicate").contains("`tether config` lists"));
}

#[test]
fn urls_are_checked_when_the_file_loads() {
    for (json, key) in [
        (
            r#"{channels:{whatsapp:{server:"http://x/ws/chat"}}}"#,
            "server",
        ),
        (r#"{channels:{whatsapp:{server:"wss://"}}}"#, "server"),
        (r#"{channels:{whatsapp:{proxy:"ftp://p:1"}}}"#, "proxy"),
        (
            r#"{channels:{whatsapp:{versionUrl:"wss://x/sw.js"}}}"#,
            "versionUrl",
        ),
    ] {
        let e = parse(json).unwrap_err();
        assert!(e.contains(&format!("channels.whatsapp.{key}")), "{e}");
    }
    let s = parse(r#"{channels:{whatsapp:{server:"wss://h:1/ws/chat",proxy:"off"}}}"#).unwrap();
    assert_eq!(s.server.as_deref(), Some("wss://h:1/ws/chat"));
}

#[test]
fn sqlite_store_is_answered_with_import() {
    let e = parse(r#"{"channels":{"whatsapp":{"sessionStore":{"type":"sqlite"}}}}"#).unwrap_err();
    assert!(e.contains("tether import baileys"), "{e}");
}

#[test]
fn null_max_retries_is_unlimited() {
    let s = parse(r#"{"channels":{"whatsapp":{"reconnect":{"maxRetries":null}}}}"#).unwrap();
    assert_eq!(s.max_retries, Some(None));
}

/// The merged configuration is refused outside each key's floor and ceiling, naming the key:
/// `maxDelay: 0` (a reconnect storm) and 2^64−1 ms (never again) included.
#[test]
fn merged_values_outside_their_range_name_the_key() {
    let cases = [
        (
            r#"{channels:{whatsapp:{reconnect:{maxDelay:0}}}}"#,
            "reconnect.maxDelay",
        ),
        (
            r#"{channels:{whatsapp:{reconnect:{maxDelay:18446744073709551615}}}}"#,
            "reconnect.maxDelay",
        ),
        (
            r#"{channels:{whatsapp:{reconnect:{baseDelay:18446744073709551615}}}}"#,
            "reconnect.baseDelay",
        ),
        (
            r#"{channels:{whatsapp:{reconnect:{baseDelay:5}}}}"#,
            "reconnect.baseDelay",
        ),
        (
            r#"{channels:{whatsapp:{reconnect:{baseDelay:5000,maxDelay:2000}}}}"#,
            "reconnect.baseDelay",
        ),
        (
            r#"{channels:{whatsapp:{reconnect:{jitter:2}}}}"#,
            "reconnect.jitter",
        ),
        (
            r#"{channels:{whatsapp:{reconnect:{backoffFactor:0.5}}}}"#,
            "reconnect.backoffFactor",
        ),
        (
            r#"{channels:{whatsapp:{keepAlive:{intervalMs:0}}}}"#,
            "keepAlive.intervalMs",
        ),
        (
            r#"{channels:{whatsapp:{keepAlive:{timeoutMs:99999999}}}}"#,
            "keepAlive.timeoutMs",
        ),
        (
            r#"{channels:{whatsapp:{keepAlive:{frameTimeoutMs:0}}}}"#,
            "keepAlive.frameTimeoutMs",
        ),
        (
            r#"{channels:{whatsapp:{reconnect:{maxRetries:4000000000}}}}"#,
            "reconnect.maxRetries",
        ),
    ];
    for (json, key) in cases {
        let s = parse(json).unwrap();
        let config = core_config(&s, None, None);
        let f = check(&config).expect_err(json);
        assert_eq!(f.code, 2);
        assert!(
            f.message.contains(&format!("channels.whatsapp.{key}")),
            "{}",
            f.message
        );
    }
    assert!(check(&core_config(&Settings::default(), None, None)).is_ok());
}

#[test]
fn reads_the_frame_timeout_and_merges_it() {
    let s = parse(r#"{channels:{whatsapp:{keepAlive:{frameTimeoutMs:45000}}}}"#).unwrap();
    assert_eq!(s.keep_alive_frame_timeout, Some(Duration::from_secs(45)));
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let config = core_config(&s, None, None);
    assert_eq!(config.keep_alive.frame_timeout, Duration::from_secs(45));
    assert!(check(&config).is_ok());
}
