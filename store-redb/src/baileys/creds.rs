//! `creds.json` ↔ [`Credentials`] plus the fields Tether keeps verbatim (see the module table
//! in `baileys/mod.rs`).

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use prost::Message;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use tether_core::binary::Jid;
use tether_core::creds::{Credentials, DeviceIdentity, Secret32, SignedPreKey};
use tether_core::crypto::KeyPair;
use tether_core::payload::KEY_TYPE_DJB;
use tether_core::proto::adv::AdvSignedDeviceIdentity;

use super::json::{b64, buffer, bytes, key_pair_value, unb64};
use super::keys::write_file;
use super::{BaileysError, BaileysSummary, ImportOptions};
use crate::files::{ReadProblem, read_bounded};
use crate::foreign::Foreign;

type R<T> = Result<T, BaileysError>;

/// Prefix of the `extra` rows holding verbatim `creds.json` fields.
pub(super) const EXTRA_PREFIX: &str = "baileys.creds.";

/// The fields mapped onto Tether's own (all others are kept verbatim).
const MAPPED: [&str; 12] = [
    "noiseKey",
    "signedIdentityKey",
    "signedPreKey",
    "registrationId",
    "advSecretKey",
    "me",
    "account",
    "signalIdentities",
    "platform",
    "routingInfo",
    "nextPreKeyId",
    "firstUnuploadedPreKeyId",
];

/// Reads `dir/creds.json`.
pub(super) fn read(dir: &Path) -> R<(Credentials, Foreign, BaileysSummary)> {
    let file = dir.join("creds.json");
    let text = match read_bounded(&file, ImportOptions::CREDS_BYTES) {
        Ok(t) => t,
        Err(ReadProblem::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BaileysError::NoCreds {
                dir: dir.to_owned(),
            });
        }
        Err(problem) => {
            return Err(BaileysError::CredsUnreadable {
                file,
                reason: problem.into(),
            });
        }
    };
    let root: Value = serde_json::from_slice(&text).map_err(|e| BaileysError::Corrupt {
        file: file.clone(),
        reason: e.to_string(),
    })?;
    let Value::Object(root) = root else {
        return Err(BaileysError::Corrupt {
            file,
            reason: "the top level is not an object".into(),
        });
    };
    let f = Fields {
        file: &file,
        root: &root,
    };
    let identity_key = f.key_pair("signedIdentityKey")?;
    let spk = f.object("signedPreKey")?;
    let signed_pre_key = SignedPreKey {
        id: f.u32_in(spk, "signedPreKey.keyId", "keyId")?,
        key_pair: f.key_pair_of(spk.get("keyPair"), "signedPreKey.keyPair")?,
        signature: f.fixed::<64>(spk.get("signature"), "signedPreKey.signature")?,
    };
    let adv = f.string("advSecretKey")?;
    let adv =
        unb64(adv).ok_or_else(|| BaileysError::field(&file, "advSecretKey", "is not base64"))?;
    let adv: [u8; 32] = adv.as_slice().try_into().map_err(|_| {
        BaileysError::field(
            &file,
            "advSecretKey",
            format!("is {} bytes, expected 32", adv.len()),
        )
    })?;
    let mut foreign = Foreign::default();
    let me = root.get("me").filter(|v| !v.is_null());
    let account = root.get("account").filter(|v| !v.is_null());
    let device = match (me, account) {
        (Some(me), Some(account)) => Some(f.device(me, account)?),
        _ => None,
    };
    let push_name = me
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let routing_info = match root.get("routingInfo").filter(|v| !v.is_null()) {
        Some(v) => Some(Bytes::from(bytes(v).ok_or_else(|| {
            BaileysError::field(&file, "routingInfo", "is not binary data")
        })?)),
        None => None,
    };
    if let Some(list) = root.get("signalIdentities").filter(|v| !v.is_null()) {
        f.signal_identities(list, &mut foreign)?;
    }
    let mut summary = BaileysSummary {
        jid: device.as_ref().map(|d| d.jid.to_string()),
        ..BaileysSummary::default()
    };
    let paired = device.is_some();
    for (key, value) in &root {
        // Unpaired, `account` and `platform` have no Tether field: keep them as they are.
        let unmapped = !MAPPED.contains(&key.as_str())
            || (!paired && matches!(key.as_str(), "account" | "platform"));
        if key == "me" || unmapped {
            let text = serde_json::to_vec(value).map_err(|e| BaileysError::Corrupt {
                file: file.clone(),
                reason: e.to_string(),
            })?;
            foreign
                .extra
                .insert(format!("{EXTRA_PREFIX}{key}"), Zeroizing::new(text));
            if key != "me" {
                summary.extra_fields += 1;
            }
        }
    }
    let creds = Credentials {
        noise_key: f.key_pair("noiseKey")?,
        identity_key,
        signed_pre_key,
        registration_id: f.u32("registrationId")?,
        adv_secret: Secret32::new(adv),
        confirmed: device.is_some(),
        device,
        push_name,
        routing_info,
        version: None,
        next_pre_key_id: f.u32("nextPreKeyId")?,
        first_unuploaded_pre_key_id: f.u32("firstUnuploadedPreKeyId")?,
        app_state_sync_keys: BTreeMap::new(),
        app_state_versions: BTreeMap::new(),
    };
    Ok((creds, foreign, summary))
}

/// Typed access to the fields of one JSON file, with errors naming file and field.
struct Fields<'a> {
    file: &'a Path,
    root: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn err(&self, field: &str, problem: impl Into<String>) -> BaileysError {
        BaileysError::field(self.file, field, problem)
    }

    fn get(&self, field: &str) -> R<&Value> {
        self.root
            .get(field)
            .filter(|v| !v.is_null())
            .ok_or_else(|| self.err(field, "is missing"))
    }

    fn object(&self, field: &str) -> R<&Map<String, Value>> {
        self.get(field)?
            .as_object()
            .ok_or_else(|| self.err(field, "is not an object"))
    }

    fn string(&self, field: &str) -> R<&str> {
        self.get(field)?
            .as_str()
            .ok_or_else(|| self.err(field, "is not a string"))
    }

    fn u32(&self, field: &str) -> R<u32> {
        as_u32(self.get(field)?).ok_or_else(|| self.err(field, "is not a 32-bit unsigned number"))
    }

    fn u32_in(&self, obj: &Map<String, Value>, path: &str, field: &str) -> R<u32> {
        obj.get(field)
            .and_then(as_u32)
            .ok_or_else(|| self.err(path, "is missing or not a 32-bit unsigned number"))
    }

    fn fixed<const N: usize>(&self, value: Option<&Value>, path: &str) -> R<[u8; N]> {
        let value = value.ok_or_else(|| self.err(path, "is missing"))?;
        let raw = Zeroizing::new(bytes(value).ok_or_else(|| self.err(path, "is not binary data"))?);
        raw.as_slice()
            .try_into()
            .map_err(|_| self.err(path, format!("is {} bytes, expected {N}", raw.len())))
    }

    fn key_pair(&self, field: &str) -> R<KeyPair> {
        self.key_pair_of(self.root.get(field), field)
    }

    fn key_pair_of(&self, value: Option<&Value>, path: &str) -> R<KeyPair> {
        key_pair_from(value).map_err(|problem| self.err(path, problem))
    }

    fn device(&self, me: &Value, account: &Value) -> R<DeviceIdentity> {
        let jid_text = me
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| self.err("me.id", "is missing"))?;
        let jid = parse_jid(jid_text).ok_or_else(|| self.err("me.id", "is not a valid jid"))?;
        let lid = match me.get("lid").and_then(Value::as_str) {
            Some(text) => {
                Some(parse_jid(text).ok_or_else(|| self.err("me.lid", "is not a valid jid"))?)
            }
            None => None,
        };
        let account = match account {
            Value::Object(o) if o.get("type").and_then(Value::as_str) != Some("Buffer") => {
                let field = |name: &str| -> R<Option<Bytes>> {
                    match o.get(name).filter(|v| !v.is_null()) {
                        None => Ok(None),
                        Some(v) => bytes(v).map(|b| Some(Bytes::from(b))).ok_or_else(|| {
                            self.err(&format!("account.{name}"), "is not binary data")
                        }),
                    }
                };
                AdvSignedDeviceIdentity {
                    details: field("details")?,
                    account_signature_key: field("accountSignatureKey")?,
                    account_signature: field("accountSignature")?,
                    device_signature: field("deviceSignature")?,
                }
                .encode_to_vec()
            }
            other => {
                let raw = bytes(other).ok_or_else(|| self.err("account", "is not binary data"))?;
                AdvSignedDeviceIdentity::decode(raw.as_slice()).map_err(|e| {
                    self.err(
                        "account",
                        format!("is not an ADVSignedDeviceIdentity ({e})"),
                    )
                })?;
                raw
            }
        };
        Ok(DeviceIdentity {
            jid,
            lid,
            account: Bytes::from(account),
            platform: self
                .root
                .get("platform")
                .and_then(Value::as_str)
                .map(str::to_owned),
            business_name: me
                .get("verifiedName")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }

    fn signal_identities(&self, list: &Value, foreign: &mut Foreign) -> R<()> {
        let list = list
            .as_array()
            .ok_or_else(|| self.err("signalIdentities", "is not a list"))?;
        for (i, entry) in list.iter().enumerate() {
            let path = format!("signalIdentities[{i}]");
            let name = entry
                .pointer("/identifier/name")
                .and_then(Value::as_str)
                .ok_or_else(|| self.err(&path, "has no identifier.name"))?;
            let device = entry
                .pointer("/identifier/deviceId")
                .and_then(Value::as_u64)
                .ok_or_else(|| self.err(&path, "has no identifier.deviceId"))?;
            let key = entry
                .get("identifierKey")
                .and_then(bytes)
                .ok_or_else(|| self.err(&path, "has no binary identifierKey"))?;
            foreign
                .identities
                .insert(format!("{name}.{device}"), Zeroizing::new(key));
        }
        Ok(())
    }
}

fn as_u32(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok())
}

fn parse_jid(text: &str) -> Option<Jid> {
    text.parse().ok()
}

/// A key pair `{private, public}`; the public half must belong to the private one.
pub(super) fn key_pair_from(value: Option<&Value>) -> Result<KeyPair, String> {
    let value = value.filter(|v| !v.is_null()).ok_or("is missing")?;
    let private = value
        .get("private")
        .and_then(bytes)
        .map(Zeroizing::new)
        .ok_or("has no binary `private` half")?;
    let private: [u8; 32] = private
        .as_slice()
        .try_into()
        .map_err(|_| format!("has a {}-byte private key, expected 32", private.len()))?;
    let pair = KeyPair::from_private_bytes(private);
    if let Some(public) = value.get("public").and_then(bytes) {
        let public = match public.as_slice() {
            [KEY_TYPE_DJB, rest @ ..] if rest.len() == 32 => rest,
            other => other,
        };
        if public != pair.public_bytes() {
            return Err("has a public key that does not belong to its private key".into());
        }
    }
    Ok(pair)
}

/// Writes `dir/creds.json` for `creds` and the verbatim fields in `foreign`.
pub(super) fn write(
    dir: &Path,
    creds: &Credentials,
    foreign: &Foreign,
    summary: &mut BaileysSummary,
) -> R<()> {
    let mut root = Map::new();
    for (name, value) in &foreign.extra {
        if let Some(field) = name.strip_prefix(EXTRA_PREFIX) {
            let value: Value =
                serde_json::from_slice(value).map_err(|e| BaileysError::Corrupt {
                    file: dir.join("creds.json"),
                    reason: format!("stored field {field} is not JSON: {e}"),
                })?;
            if field != "me" {
                summary.extra_fields += 1;
            }
            root.insert(field.to_owned(), value);
        }
    }
    let pair = |k: &KeyPair| key_pair_value(k.private_bytes().as_slice(), &k.public_bytes());
    root.insert("noiseKey".into(), pair(&creds.noise_key));
    root.insert("signedIdentityKey".into(), pair(&creds.identity_key));
    root.insert(
        "signedPreKey".into(),
        json!({
            "keyPair": pair(&creds.signed_pre_key.key_pair),
            "signature": buffer(&creds.signed_pre_key.signature),
            "keyId": creds.signed_pre_key.id,
        }),
    );
    root.insert("registrationId".into(), json!(creds.registration_id));
    root.insert("advSecretKey".into(), json!(b64(creds.adv_secret.expose())));
    root.insert("nextPreKeyId".into(), json!(creds.next_pre_key_id));
    root.insert(
        "firstUnuploadedPreKeyId".into(),
        json!(creds.first_unuploaded_pre_key_id),
    );
    if let Some(info) = &creds.routing_info {
        root.insert("routingInfo".into(), buffer(info));
    }
    // Baileys' defaults (initAuthCreds) for what an identity Tether created has no value for.
    if !root.contains_key("pairingEphemeralKeyPair") {
        let fresh = KeyPair::generate(&mut rand::rng());
        root.insert("pairingEphemeralKeyPair".into(), pair(&fresh));
    }
    for (field, default) in [
        ("processedHistoryMessages", json!([])),
        ("accountSyncCounter", json!(0)),
        ("accountSettings", json!({ "unarchiveChats": false })),
        ("registered", json!(false)),
    ] {
        root.entry(field).or_insert(default);
    }
    write_identity(dir, creds, foreign, &mut root)?;
    summary.jid = creds.device.as_ref().map(|d| d.jid.to_string());
    let text = Zeroizing::new(serde_json::to_vec(&Value::Object(root)).map_err(|e| {
        BaileysError::Corrupt {
            file: dir.join("creds.json"),
            reason: e.to_string(),
        }
    })?);
    write_file(&dir.join("creds.json"), &text)
}

/// `me`, `account`, `platform` and `signalIdentities`.
fn write_identity(
    dir: &Path,
    creds: &Credentials,
    foreign: &Foreign,
    root: &mut Map<String, Value>,
) -> R<()> {
    let Some(device) = &creds.device else {
        // An unpaired identity keeps a verbatim `me` (an unfinished pair-code link) as it was.
        if let Some(Value::Object(me)) = root.get_mut("me") {
            set_opt(me, "name", creds.push_name.as_deref());
        }
        return Ok(());
    };
    let mut me = match root.remove("me") {
        Some(Value::Object(me)) => me,
        _ => Map::new(),
    };
    me.insert("id".into(), json!(device.jid.to_string()));
    set_opt(
        &mut me,
        "lid",
        device.lid.as_ref().map(ToString::to_string).as_deref(),
    );
    set_opt(&mut me, "name", creds.push_name.as_deref());
    set_opt(&mut me, "verifiedName", device.business_name.as_deref());
    root.insert("me".into(), Value::Object(me));
    if let Some(platform) = &device.platform {
        root.insert("platform".into(), json!(platform));
    }
    let account = AdvSignedDeviceIdentity::decode(device.account.as_ref()).map_err(|e| {
        BaileysError::field(
            &dir.join("creds.json"),
            "account",
            format!("cannot be written: the stored account does not decode ({e})"),
        )
    })?;
    let mut obj = Map::new();
    for (name, value) in [
        ("details", &account.details),
        ("accountSignatureKey", &account.account_signature_key),
        ("accountSignature", &account.account_signature),
        ("deviceSignature", &account.device_signature),
    ] {
        if let Some(v) = value {
            // As protobufjs' toJSON writes bytes (what Baileys stores at pairing).
            obj.insert(name.into(), json!(b64(v)));
        }
    }
    root.insert("account".into(), Value::Object(obj));
    let mut identities = Vec::new();
    for (address, key) in &foreign.identities {
        let (name, dev) = address.rsplit_once('.').unwrap_or((address.as_str(), "0"));
        identities.push(json!({
            "identifier": { "name": name, "deviceId": dev.parse::<u64>().unwrap_or(0) },
            "identifierKey": buffer(key),
        }));
    }
    if identities.is_empty()
        && let Some(primary) = &account.account_signature_key
    {
        let mut key = vec![KEY_TYPE_DJB];
        key.extend_from_slice(primary);
        identities.push(json!({
            "identifier": { "name": device.jid.to_string(), "deviceId": 0 },
            "identifierKey": buffer(&key),
        }));
    }
    if !identities.is_empty() {
        root.insert("signalIdentities".into(), Value::Array(identities));
    }
    Ok(())
}

fn set_opt(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    match value {
        Some(v) => {
            map.insert(key.into(), json!(v));
        }
        None => {
            map.remove(key);
        }
    }
}
