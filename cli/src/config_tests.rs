//! Tests of the config file parser.

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

#[test]
fn wrong_type_names_the_key() {
    let e = parse(r#"{"channels":{"whatsapp":{"reconnect":{"baseDelay":"3s"}}}}"#).unwrap_err();
    assert!(e.contains("channels.whatsapp.reconnect.baseDelay"), "{e}");
    assert!(e.contains("\"3s\""), "{e}");
}

#[test]
fn unknown_keys_warn() {
    let s = parse(r#"{"channels":{"whatsapp":{"reconect":{},"keepAlive":{"every":1}}}}"#).unwrap();
    assert_eq!(s.warnings.len(), 2);
    assert!(
        s.warnings
            .iter()
            .any(|w| w.contains("channels.whatsapp.reconect "))
    );
    assert!(
        s.warnings
            .iter()
            .any(|w| w.contains("channels.whatsapp.keepAlive.every"))
    );
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
