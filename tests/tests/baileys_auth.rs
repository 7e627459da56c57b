//! Baileys multi-file auth directories: import from and export to the real npm Baileys
//! (`interop/auth.mjs`; the `#[ignore]`d tests need `(cd interop && npm ci --ignore-scripts)`),
//! and the proof that an identity linked against tether-sim keeps logging in as the same
//! device after going through the Baileys layout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use prost::Message;
use serde_json::Value as Json;
use tether_core::connection::State;
use tether_core::creds::{
    CredentialChange, CredentialStore, Credentials, CredentialsDelta, PersistSeq,
};
use tether_core::proto::adv::AdvSignedDeviceIdentity;
use tether_core::records::{RecordData, RecordRead, RecordWrite, Table};
use tether_sim::{MemStore, Options, Stepper};
use tether_store_redb::RedbStore;
use tether_tests::interop::Baileys;
use tether_tests::store_contract::assert_same_credentials;

struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tether-baileys-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `node interop/auth.mjs <args>` and parses its JSON output.
fn auth(args: &[&str]) -> Json {
    let baileys = Baileys::locate().unwrap_or_else(|e| panic!("{e}"));
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_owned());
    let out = Command::new(node)
        .arg(baileys.root().join("interop/auth.mjs"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "auth.mjs {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The bytes of a BufferJSON value or base64 string.
fn b(v: &Json) -> Vec<u8> {
    let text = match v {
        Json::String(s) => s.as_str(),
        other => other["data"]
            .as_str()
            .unwrap_or_else(|| panic!("not binary: {other}")),
    };
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// The server's devices by noise key.
type Devices = Vec<([u8; 32], tether_sim::Device)>;

/// A sim-linked identity: its credentials, sequence, the server's devices and the one-time
/// pre-key records it generated.
fn linked_in_sim() -> (Credentials, PersistSeq, Devices, Vec<RecordWrite>) {
    let mut sim = Stepper::new(Options::default(), |c| c.pre_key_initial_batch = 12);
    // The server holds none of its keys: the companion generates and uploads a batch.
    sim.server.config_mut().pre_key_count = 0;
    sim.link();
    sim.run_for(Duration::from_secs(30));
    let devices = sim
        .server
        .devices()
        .iter()
        .map(|(k, d)| (*k, d.clone()))
        .collect();
    let (creds, seq) = sim.store.load().unwrap().unwrap();
    assert!(creds.is_paired() && creds.confirmed);
    let pre_keys = sim
        .store
        .records()
        .iter()
        .filter(|((t, _), _)| *t == Table::PreKeys)
        .map(|((t, k), v)| RecordWrite::put(*t, k.clone(), v.clone()))
        .collect();
    (creds, seq, devices, pre_keys)
}

fn store_with(path: &Path, creds: &Credentials, pre_keys: &[RecordWrite]) -> RedbStore {
    let mut store = RedbStore::open(path).unwrap();
    let delta = CredentialsDelta {
        changes: vec![CredentialChange::Created(Box::new(creds.clone()))],
        records: pre_keys.to_vec(),
    };
    store.apply(PersistSeq(1), &delta).unwrap();
    store
}

#[test]
fn a_linked_identity_exported_and_imported_logs_in_as_the_same_device() {
    let tmp = Tmp::new("linked");
    let (creds, _, devices, pre_keys) = linked_in_sim();
    let jid = creds.device.as_ref().unwrap().jid.clone();
    let first = store_with(&tmp.join("first.redb"), &creds, &pre_keys);
    let exported = first.export_baileys(&tmp.join("auth")).unwrap();
    assert_eq!(exported.jid.as_deref(), Some(jid.to_string().as_str()));

    let mut second = RedbStore::open(tmp.join("second.redb")).unwrap();
    second.import_baileys(&tmp.join("auth")).unwrap();
    let (imported, seq) = second.load().unwrap().unwrap();
    // Everything the core keeps survives the Baileys layout, except the client version
    // (Baileys keeps none; it is fetched again when the server asks).
    let mut expected = creds.clone();
    expected.version = None;
    assert_same_credentials(&imported, &expected, "after export and import");

    let options = Options {
        store: MemStore::with_credentials(imported, seq),
        seed: 1234,
        ..Options::default()
    };
    let mut sim = Stepper::new(options, |_| {});
    for (noise, device) in devices {
        sim.server.register_device(noise, device);
    }
    sim.link();
    assert!(
        sim.run_until(Duration::from_secs(60), |s| *s.conn.state()
            == State::Connected),
        "{}",
        sim.dump(30)
    );
    let login = sim.server.logins().last().unwrap();
    assert!(!login.registration, "it registered as a new device");
    assert_eq!(login.noise_public, creds.noise_key.public_bytes());
    assert_eq!(login.username, Some(jid.user_str().parse().unwrap()));
    assert_eq!(login.device, Some(u32::from(jid.device_id())));
}

#[test]
#[ignore = "needs the Baileys npm package: (cd interop && npm ci --ignore-scripts)"]
fn a_real_baileys_directory_imports_field_by_field() {
    let tmp = Tmp::new("import");
    let dir = tmp.join("auth");
    let out = auth(&["write", path_str(&dir), "paired"]);
    let c = &out["creds"];
    let store = RedbStore::open(tmp.join("s.redb")).unwrap();
    let summary = store.import_baileys(&dir).unwrap();
    assert_eq!(
        (
            summary.pre_keys,
            summary.app_state_sync_keys,
            summary.app_state_versions
        ),
        (5, 1, 1)
    );
    assert_eq!(
        (summary.sessions, summary.sender_keys, summary.other_files),
        (2, 1, 1)
    );
    let (got, seq) = store.load_credentials().unwrap().unwrap();
    assert_eq!(seq, PersistSeq(1));
    let pair = |k: &tether_core::crypto::KeyPair, v: &Json| {
        assert_eq!(k.private_bytes().to_vec(), b(&v["private"]));
        assert_eq!(k.public_bytes().to_vec(), b(&v["public"]));
    };
    pair(&got.noise_key, &c["noiseKey"]);
    pair(&got.identity_key, &c["signedIdentityKey"]);
    pair(&got.signed_pre_key.key_pair, &c["signedPreKey"]["keyPair"]);
    assert_eq!(
        u64::from(got.signed_pre_key.id),
        c["signedPreKey"]["keyId"].as_u64().unwrap()
    );
    assert_eq!(
        got.signed_pre_key.signature.to_vec(),
        b(&c["signedPreKey"]["signature"])
    );
    assert_eq!(
        u64::from(got.registration_id),
        c["registrationId"].as_u64().unwrap()
    );
    assert_eq!(got.adv_secret.expose().to_vec(), b(&c["advSecretKey"]));
    let device = got.device.as_ref().unwrap();
    assert_eq!(device.jid.to_string(), c["me"]["id"].as_str().unwrap());
    assert_eq!(
        device.lid.as_ref().unwrap().to_string(),
        c["me"]["lid"].as_str().unwrap()
    );
    assert_eq!(device.platform.as_deref(), c["platform"].as_str());
    let account = AdvSignedDeviceIdentity::decode(device.account.as_ref()).unwrap();
    assert_eq!(
        account.details.unwrap().to_vec(),
        b(&c["account"]["details"])
    );
    assert_eq!(
        account.account_signature_key.unwrap().to_vec(),
        b(&c["account"]["accountSignatureKey"])
    );
    assert_eq!(
        account.account_signature.unwrap().to_vec(),
        b(&c["account"]["accountSignature"])
    );
    assert_eq!(
        account.device_signature.unwrap().to_vec(),
        b(&c["account"]["deviceSignature"])
    );
    assert!(got.confirmed);
    assert_eq!(got.push_name.as_deref(), c["me"]["name"].as_str());
    assert_eq!(
        got.routing_info.as_deref().unwrap(),
        b(&c["routingInfo"]).as_slice()
    );
    assert_eq!(
        u64::from(got.next_pre_key_id),
        c["nextPreKeyId"].as_u64().unwrap()
    );
    assert_eq!(
        u64::from(got.first_unuploaded_pre_key_id),
        c["firstUnuploadedPreKeyId"].as_u64().unwrap()
    );
    let pre_keys = out["keys"]["pre-key"].as_object().unwrap();
    let stored = match store
        .read_records(&[RecordRead::Range {
            table: Table::PreKeys,
            start: Bytes::new(),
            end: Bytes::new(),
            limit: u32::MAX,
        }])
        .unwrap()
        .pop()
    {
        Some(RecordData::Rows(rows)) => rows
            .iter()
            .filter_map(|(k, v)| tether_core::records::pre_key_from_row(k, v))
            .collect::<std::collections::BTreeMap<_, _>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(stored.len(), pre_keys.len());
    for (id, value) in pre_keys {
        pair(&stored[&id.parse::<u32>().unwrap()], value);
    }
    let (sync_id, _) = out["keys"]["app-state-sync-key"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    assert!(
        got.app_state_sync_keys
            .contains_key(b(&Json::String(sync_id.clone())).as_slice())
    );
    assert!(got.app_state_versions.contains_key("regular_high"));
    drop(store);
    // The integrity check accepts a real Baileys identity (its signed pre-key signature, made
    // by libsignal, verifies) and reports it.
    let report = tether_store_redb::check(tmp.join("s.redb"));
    assert!(report.is_healthy(), "{report}");
    assert_eq!(report.jid.as_deref(), c["me"]["id"].as_str());
    assert_eq!(report.counts.pre_keys, 5);
    assert_eq!(report.counts.signal_sessions, 2);
    assert_eq!(report.counts.signal_identities, 1);
}

#[test]
#[ignore = "needs the Baileys npm package: (cd interop && npm ci --ignore-scripts)"]
fn an_export_reads_back_in_baileys_as_the_same_creds_and_keys() {
    for paired in [true, false] {
        let tmp = Tmp::new(if paired { "export-p" } else { "export-u" });
        let dir = tmp.join("auth");
        let mut args = vec!["write", path_str(&dir)];
        if paired {
            args.push("paired");
        }
        auth(&args);
        let original = auth(&["read", path_str(&dir)]);
        let store = RedbStore::open(tmp.join("s.redb")).unwrap();
        store.import_baileys(&dir).unwrap();
        let out = tmp.join("exported");
        store.export_baileys(&out).unwrap();
        let back = auth(&["read", path_str(&out)]);
        assert_eq!(
            back["creds"], original["creds"],
            "paired={paired}: creds differ"
        );
        assert_eq!(
            back["keys"], original["keys"],
            "paired={paired}: key-store items differ"
        );
    }
}

#[test]
#[ignore = "needs the Baileys npm package: (cd interop && npm ci --ignore-scripts)"]
fn baileys_loads_a_sim_linked_identity_exported_by_tether() {
    let tmp = Tmp::new("to-baileys");
    let (creds, _, _, pre_key_records) = linked_in_sim();
    assert!(
        !pre_key_records.is_empty(),
        "the linked identity has pre-keys"
    );
    let store = store_with(&tmp.join("s.redb"), &creds, &pre_key_records);
    store.export_baileys(&tmp.join("auth")).unwrap();
    let read = auth(&["read", path_str(&tmp.join("auth"))]);
    let c = &read["creds"];
    let device = creds.device.as_ref().unwrap();
    assert_eq!(c["me"]["id"].as_str().unwrap(), device.jid.to_string());
    assert_eq!(
        b(&c["noiseKey"]["public"]),
        creds.noise_key.public_bytes().to_vec()
    );
    assert_eq!(
        b(&c["signedIdentityKey"]["private"]),
        creds.identity_key.private_bytes().to_vec()
    );
    assert_eq!(
        c["registrationId"].as_u64().unwrap(),
        u64::from(creds.registration_id)
    );
    let account = AdvSignedDeviceIdentity::decode(device.account.as_ref()).unwrap();
    let mut primary = vec![5u8];
    primary.extend_from_slice(&account.account_signature_key.unwrap());
    assert_eq!(b(&c["signalIdentities"][0]["identifierKey"]), primary);
    assert_eq!(c["processedHistoryMessages"], serde_json::json!([]));
    let pre_keys = read["keys"]["pre-key"].as_object().map_or(0, |m| m.len());
    assert_eq!(pre_keys, pre_key_records.len());
}
