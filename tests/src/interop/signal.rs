//! The libsignal harness: runs `node interop/signal.mjs serve` (npm libsignal 6.0.0 as Baileys
//! 6.17.16 drives it, over an in-memory copy of Baileys' multi-file key store) and exchanges
//! one JSON line per request with it; plus what both sides need to generate the same keys.
//!
//! - [`Libsignal`]: the process, with one method per request of `signal.mjs`.
//! - [`StreamRng`]: the deterministic byte stream keys are drawn from, identical to the
//!   harness's (`SHA-256("tether-signal-stream/" + id + "/" + block)`, read in order).
//! - [`DeviceKeys`]: a device's long-term keys derived from a label, in both forms.

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use rand_core::{TryCryptoRng, TryRng};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};
use tether_signal::{
    IdentityKeyPair, KeyPair, PreKey, PreKeyBundle, PreKeyId, PublicKey, RegistrationId,
    SignedPreKey, SignedPreKeyId, xeddsa,
};

use super::harness::Baileys;

/// What libsignal answered: its value, or its error message.
pub type Reply = Result<Json, String>;

/// One running `signal.mjs serve` process.
#[derive(Debug)]
pub struct Libsignal {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Libsignal {
    /// Starts the harness; the error says how to install what is missing.
    pub fn start() -> Result<Self, String> {
        let harness = Baileys::locate()?;
        let mut child = Command::new(harness.node())
            .arg(harness.root().join("interop/signal.mjs"))
            .arg("serve")
            .current_dir(harness.root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", harness.node()))?;
        let stdin = child.stdin.take().ok_or("no stdin pipe")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout pipe")?);
        Ok(Self {
            child,
            stdin,
            stdout,
        })
    }

    /// Sends one request and reads its reply. Panics if the process is gone (a harness bug).
    pub fn call(&mut self, request: Json) -> Reply {
        let mut line = request.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|e| panic!("signal.mjs is gone ({e}); request was {request}"));
        let mut reply = String::new();
        let n = self
            .stdout
            .read_line(&mut reply)
            .unwrap_or_else(|e| panic!("reading signal.mjs: {e}"));
        assert!(n > 0, "signal.mjs exited; request was {request}");
        let mut reply: Json = serde_json::from_str(&reply)
            .unwrap_or_else(|e| panic!("signal.mjs printed a non-JSON line ({e}): {reply}"));
        if let Some(ok) = reply.get_mut("ok") {
            return Ok(ok.take());
        }
        Err(reply
            .get("error")
            .and_then(Json::as_str)
            .unwrap_or("an error without a message")
            .to_owned())
    }

    fn expect(&mut self, request: Json) -> Json {
        let shown = request.to_string();
        self.call(request)
            .unwrap_or_else(|e| panic!("libsignal refused {shown}: {e}"))
    }

    /// Creates device `name` with `keys`, drawing what it generates from stream `stream`.
    pub fn party(&mut self, name: &str, stream: &str, keys: &DeviceKeys) {
        self.expect(json!({
            "cmd": "party",
            "name": name,
            "stream": stream,
            "identity": hex::encode(keys.identity_private),
            "registrationId": keys.registration_id.value(),
            "signedPreKey": {
                "id": keys.signed_pre_key.id().value(),
                "priv": hex::encode(*keys.signed_pre_key.key_pair().private_bytes()),
                "signature": hex::encode(keys.signed_pre_key.signature()),
            },
            "preKeys": keys.pre_keys.iter().map(|k| json!({
                "id": k.id().value(),
                "priv": hex::encode(*k.key_pair().private_bytes()),
            })).collect::<Vec<_>>(),
        }));
    }

    /// Turns the harness's rollback of failed decryption attempts on or off.
    pub fn set_transactional(&mut self, on: bool) {
        self.expect(json!({"cmd": "options", "transactional": on}));
    }

    /// `SessionBuilder.initOutgoing` at `party` with `peer`'s `bundle`.
    pub fn init(&mut self, party: &str, peer: &str, bundle: &PreKeyBundle) {
        let mut b = json!({
            "registrationId": bundle.registration_id.value(),
            "identityKey": hex::encode(bundle.identity_key.serialize()),
            "signedPreKey": {
                "keyId": bundle.signed_pre_key_id.value(),
                "publicKey": hex::encode(bundle.signed_pre_key.serialize()),
                "signature": hex::encode(bundle.signed_pre_key_signature),
            },
        });
        if let Some((id, key)) = &bundle.pre_key {
            b["preKey"] = json!({"keyId": id.value(), "publicKey": hex::encode(key.serialize())});
        }
        self.expect(json!({"cmd": "init", "party": party, "peer": peer, "bundle": b}));
    }

    /// Encrypts at `party` for `peer`: (`"pkmsg"` or `"msg"`, bytes).
    pub fn encrypt(&mut self, party: &str, peer: &str, plaintext: &[u8]) -> (String, Vec<u8>) {
        let out = self.expect(json!({
            "cmd": "encrypt", "party": party, "peer": peer, "plaintext": hex::encode(plaintext),
        }));
        (str_field(&out, "type"), hex_field(&out, "body"))
    }

    /// Decrypts at `party` a message from `peer`.
    pub fn decrypt(
        &mut self,
        party: &str,
        peer: &str,
        kind: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, String> {
        self.call(json!({
            "cmd": "decrypt", "party": party, "peer": peer, "type": kind, "body": hex::encode(body),
        }))
        .map(|out| hex_field(&out, "plaintext"))
    }

    /// Group-encrypts at `party` (creating its sender key on first use): (bytes, SKDM bytes).
    pub fn group_encrypt(
        &mut self,
        party: &str,
        group: &str,
        plaintext: &[u8],
    ) -> (Vec<u8>, Vec<u8>) {
        let out = self.expect(json!({
            "cmd": "group_encrypt", "party": party, "group": group, "plaintext": hex::encode(plaintext),
        }));
        (hex_field(&out, "body"), hex_field(&out, "skdm"))
    }

    /// Processes `sender`'s distribution message at `party`.
    pub fn group_process(&mut self, party: &str, group: &str, sender: &str, skdm: &[u8]) {
        self.expect(json!({
            "cmd": "group_process", "party": party, "group": group, "sender": sender,
            "skdm": hex::encode(skdm),
        }));
    }

    /// Group-decrypts at `party` a message from `sender`.
    pub fn group_decrypt(
        &mut self,
        party: &str,
        group: &str,
        sender: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, String> {
        self.call(json!({
            "cmd": "group_decrypt", "party": party, "group": group, "sender": sender,
            "body": hex::encode(body),
        }))
        .map(|out| hex_field(&out, "plaintext"))
    }

    /// The JSON text Baileys' key store holds under `name` (e.g. `session-bob.0`).
    pub fn file(&mut self, party: &str, name: &str) -> Option<String> {
        let out = self.expect(json!({"cmd": "file", "party": party, "name": name}));
        out.as_str().map(str::to_owned)
    }
}

impl Drop for Libsignal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn str_field(v: &Json, name: &str) -> String {
    v.get(name)
        .and_then(Json::as_str)
        .unwrap_or_else(|| panic!("reply without {name}: {v}"))
        .to_owned()
}

fn hex_field(v: &Json, name: &str) -> Vec<u8> {
    hex::decode(str_field(v, name)).unwrap_or_else(|e| panic!("reply {name} is not hex: {e}"))
}

/// The byte stream both implementations draw keys from: block `i` is
/// `SHA-256("tether-signal-stream/" + id + "/" + i)`, bytes read in order (a key pair takes 32,
/// a `u32` 4, little-endian).
#[derive(Clone, Debug)]
pub struct StreamRng {
    id: String,
    block: u64,
    buffer: Vec<u8>,
}

impl StreamRng {
    /// The stream named `id`.
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            block: 0,
            buffer: Vec::new(),
        }
    }

    fn take(&mut self, out: &mut [u8]) {
        while self.buffer.len() < out.len() {
            let block = Sha256::digest(format!("tether-signal-stream/{}/{}", self.id, self.block));
            self.block += 1;
            self.buffer.extend_from_slice(&block);
        }
        out.copy_from_slice(&self.buffer[..out.len()]);
        self.buffer.drain(..out.len());
    }
}

impl TryRng for StreamRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.take(&mut b);
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.take(&mut b);
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.take(dst);
        Ok(())
    }
}

impl TryCryptoRng for StreamRng {}

/// A device's long-term keys, derived from a label: identity, registration id, signed pre-key
/// (id 1, signed as curve25519-js signs without randomness) and one-time pre-keys.
#[derive(Clone, Debug)]
pub struct DeviceKeys {
    /// The identity's private key (for the harness).
    pub identity_private: [u8; 32],
    /// The identity.
    pub identity: IdentityKeyPair,
    /// The registration id.
    pub registration_id: RegistrationId,
    /// The signed pre-key.
    pub signed_pre_key: SignedPreKey,
    /// One-time pre-keys, ids 1..=count.
    pub pre_keys: Vec<PreKey>,
}

impl DeviceKeys {
    /// Keys for `label` with `pre_keys` one-time pre-keys.
    pub fn derive(label: &str, pre_keys: u32) -> Self {
        let private = |what: &str| -> [u8; 32] {
            Sha256::digest(format!("tether-signal-device/{label}/{what}")).into()
        };
        let identity_private = private("identity");
        let identity = IdentityKeyPair::from_private_bytes(identity_private);
        let spk = KeyPair::from_private_bytes(private("signed-pre-key"));
        let signature =
            xeddsa::sign_deterministic(&identity_private, &PublicKey::from(&spk).serialize());
        let registration =
            u32::from_le_bytes([private("registration")[0], private("registration")[1], 0, 0])
                & 0x3fff;
        Self {
            identity_private,
            identity,
            registration_id: RegistrationId::new(registration.max(1)),
            signed_pre_key: SignedPreKey::new(SignedPreKeyId::new(1), spk, signature),
            pre_keys: (1..=pre_keys)
                .map(|id| {
                    PreKey::new(
                        PreKeyId::new(id),
                        KeyPair::from_private_bytes(private(&format!("pre-key/{id}"))),
                    )
                })
                .collect(),
        }
    }

    /// The bundle a server would hand out, with one-time pre-key `pre_key` if any.
    pub fn bundle(&self, pre_key: Option<PreKeyId>) -> PreKeyBundle {
        PreKeyBundle {
            registration_id: self.registration_id,
            device_id: 0,
            pre_key: pre_key.map(|id| {
                let key = self
                    .pre_keys
                    .iter()
                    .find(|k| k.id() == id)
                    .unwrap_or_else(|| panic!("no pre-key {id}"));
                (id, key.public_key())
            }),
            signed_pre_key_id: self.signed_pre_key.id(),
            signed_pre_key: self.signed_pre_key.public_key(),
            signed_pre_key_signature: *self.signed_pre_key.signature(),
            identity_key: *self.identity.identity_key(),
        }
    }
}
