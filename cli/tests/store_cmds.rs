//! `status`, `doctor`, `backup`, `restore`, `stop` and the config file, run as a user runs
//! them, against fresh stores in temporary directories (HOME points at one, so nothing of the
//! real user's is read).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

struct Tmp(PathBuf);

impl Tmp {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tether-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    fn path(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tether(home: &Path) -> Command {
    let mut c = Command::cargo_bin("tether").unwrap();
    c.env("HOME", home)
        .env_remove("TETHER_STORE")
        .env_remove("TETHER_CONFIG")
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("OPENCLAW_CONFIG_PATH")
        .env_remove("SSL_CERT_FILE");
    c
}

fn run(c: &mut Command) -> (i32, String, String) {
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn status_of_a_fresh_home_says_not_linked() {
    let t = Tmp::new("status-fresh");
    let (code, out, _) = run(tether(&t.0).arg("status"));
    assert_eq!(code, 0);
    assert!(out.contains("does not exist yet"), "{out}");
    assert!(out.contains("linked          no"), "{out}");
    let (code, out, _) = run(tether(&t.0).args(["status", "--json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["account"]["linked"], false);
}

#[test]
fn doctor_on_a_fresh_home_fails_with_fixes() {
    let t = Tmp::new("doctor-fresh");
    // A closed loopback port stands in for the endpoint: no test reaches the internet.
    let (code, out, _) = run(tether(&t.0).args([
        "doctor",
        "--server",
        "ws://127.0.0.1:9/ws/chat",
        "--timeout",
        "2",
    ]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("✘ store: no store at"), "{out}");
    assert!(
        out.contains("fix: link this computer with `tether run`"),
        "{out}"
    );
    assert!(out.contains("✔ DNS"), "{out}");
    assert!(out.contains("✘ TCP"), "{out}");
    assert!(out.contains("check(s) failed"), "{out}");
}

#[test]
fn doctor_with_an_empty_store_passes_the_store_checks_and_names_the_missing_link() {
    let t = Tmp::new("doctor-empty");
    let store = t.path("s.redb");
    drop(tether_store_redb::RedbStore::open(&store).unwrap());
    let (code, out, _) = run(tether(&t.0)
        .args([
            "doctor",
            "--timeout",
            "1",
            "--server",
            "ws://127.0.0.1:9/x",
            "--store",
        ])
        .arg(&store));
    assert_eq!(code, 1);
    assert!(out.contains("✔ store:"), "{out}");
    assert!(out.contains("✔ owner lock: free"), "{out}");
    assert!(out.contains("✔ store file: opened read-only"), "{out}");
    assert!(out.contains("✔ schema version"), "{out}");
    assert!(out.contains("✘ credentials: not linked"), "{out}");
}

#[test]
fn a_wrong_type_in_the_config_is_a_usage_error_naming_the_key() {
    let t = Tmp::new("config-type");
    let cfg = t.path("c.json");
    std::fs::write(
        &cfg,
        r#"{"channels":{"whatsapp":{"reconnect":{"maxRetries":"twenty"}}}}"#,
    )
    .unwrap();
    let (code, _, err) = run(tether(&t.0).arg("status").arg("--config").arg(&cfg));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("channels.whatsapp.reconnect.maxRetries"),
        "{err}"
    );
    assert!(err.contains("\"twenty\""), "{err}");
}

#[test]
fn unknown_config_keys_warn_and_the_sqlite_store_type_points_at_import() {
    let t = Tmp::new("config-unknown");
    let cfg = t.path("c.json");
    std::fs::write(
        &cfg,
        r#"{"channels":{"whatsapp":{"keepAlive":{"intervalMs":25000,"pingEvery":3}}}}"#,
    )
    .unwrap();
    let (code, _, err) = run(tether(&t.0).arg("status").arg("--config").arg(&cfg));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: channels.whatsapp.keepAlive.pingEvery is not a Tether setting"),
        "{err}"
    );
    std::fs::write(&cfg, r#"{"channels":{"whatsapp":{"sessionStore":{"type":"sqlite","path":"~/.openclaw/sessions/whatsapp.db"}}}}"#).unwrap();
    let (code, _, err) = run(tether(&t.0).arg("status").arg("--config").arg(&cfg));
    assert_eq!(code, 2);
    assert!(err.contains("tether import baileys"), "{err}");
}

#[test]
fn an_openclaw_config_is_read_when_no_tether_config_exists() {
    let t = Tmp::new("config-openclaw");
    std::fs::create_dir_all(t.path(".openclaw")).unwrap();
    let store = t.path("from-openclaw.redb");
    std::fs::write(
        t.path(".openclaw/openclaw.json"),
        format!(
            r#"{{"channels":{{"whatsapp":{{"sessionStore":{{"type":"redb","path":"{}"}}}}}}}}"#,
            store.display()
        ),
    )
    .unwrap();
    let (code, out, _) = run(tether(&t.0).arg("status"));
    assert_eq!(code, 0);
    assert!(out.contains("from-openclaw.redb"), "{out}");
}

#[test]
fn backup_then_restore_round_trips_and_keeps_the_replaced_store() {
    let t = Tmp::new("backup");
    let store = t.path("s.redb");
    drop(tether_store_redb::RedbStore::open(&store).unwrap());
    let backup = t.path("b.redb");
    let (code, out, err) = run(tether(&t.0)
        .arg("backup")
        .arg(&backup)
        .arg("--store")
        .arg(&store));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Backed up"), "{out}");
    assert!(backup.exists());
    let (code, _, err) = run(tether(&t.0)
        .arg("backup")
        .arg(&backup)
        .arg("--store")
        .arg(&store));
    assert_eq!(code, 2, "a backup never overwrites: {err}");
    let (code, out, err) = run(tether(&t.0)
        .arg("restore")
        .arg(&backup)
        .arg("--store")
        .arg(&store));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("previous store is kept at"), "{out}");
    let kept = std::fs::read_dir(&t.0)
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().contains(".before-restore-"));
    assert!(kept);
}

#[test]
fn restore_refuses_a_file_that_is_not_a_store() {
    let t = Tmp::new("restore-bad");
    let junk = t.path("junk");
    std::fs::write(&junk, b"not a database").unwrap();
    let (code, _, err) = run(tether(&t.0)
        .arg("restore")
        .arg(&junk)
        .arg("--store")
        .arg(t.path("s.redb")));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not a backup"), "{err}");
}

#[test]
fn stop_without_an_instance_says_so() {
    let t = Tmp::new("stop-none");
    let (code, out, _) = run(tether(&t.0).args(["stop", "--store"]).arg(t.path("s.redb")));
    assert_eq!(code, 0);
    assert!(out.contains("nothing to stop"), "{out}");
}
