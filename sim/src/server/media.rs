//! The media host's state (`media.md` §6): `media_conn` answers with an upload token, blobs
//! stored by direct path, expiry in server time, and the statuses a real host answers with.
//! Sans-IO: the loopback runner (`net::media`) carries the HTTP; tests and phones call it
//! directly.
//!
//! ```text
//! media_conn iq ─▶ token (good for TOKEN_TTL) + the host name set by the runner
//! POST /mms/<type>/<token>?auth=<auth>&token=<token>
//!     unknown/expired auth ─▶ 401 · token ≠ base64url(sha256(body)) ─▶ 400 · else stored,
//!     200 {"url","direct_path"} (the path signed with `oh`, expiring after BLOB_TTL)
//! GET <direct_path>&hash=…&mms-type=…
//!     unknown path ─▶ 404 · bad signature ─▶ 403 · expired (or expired by a test) ─▶ 410
//!     ─▶ 200, the blob (corrupted by a test: one byte flipped)
//! ```

use std::collections::BTreeMap;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tether_core::binary::Node;
use tether_core::media::urls::decode_token;

use super::stanzas;

/// How long a `media_conn` answer and its token are good for (seconds).
pub const TOKEN_TTL: u64 = 300;

/// How long an uploaded blob can be downloaded (seconds; the real hosts keep ~2 weeks).
pub const BLOB_TTL: u64 = 14 * 24 * 3600;

/// The largest blob accepted (bytes).
pub const MAX_BLOB: u64 = 256 * 1024 * 1024;

/// One stored blob.
#[derive(Clone, Debug)]
struct Blob {
    bytes: Bytes,
    signature: String,
    expires_at: u64,
}

/// The media host's tokens and blobs.
#[derive(Debug, Default)]
pub struct MediaStore {
    host: Option<String>,
    tokens: BTreeMap<String, u64>,
    blobs: BTreeMap<String, Blob>,
    counter: u64,
    uploads: u64,
    downloads: u64,
}

/// Why the media host refused a request: the HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused(pub u16);

impl MediaStore {
    /// The `host[:port]` that `media_conn` answers name (set by the runner once it listens).
    pub fn set_host(&mut self, host: impl Into<String>) {
        self.host = Some(host.into());
    }

    /// The host `media_conn` names, when one serves.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// Uploads accepted so far.
    pub fn uploads(&self) -> u64 {
        self.uploads
    }

    /// Downloads served so far.
    pub fn downloads(&self) -> u64 {
        self.downloads
    }

    /// The answer to `<iq xmlns="w:m" type="set"><media_conn/></iq>` at server time `unix`.
    pub fn media_conn_answer(&mut self, iq: &Node, unix: u64) -> Node {
        let iq_id = iq.attr_str("id").unwrap_or_default();
        let Some(host) = self.host.clone() else {
            return stanzas::iq_error(iq_id, 503, "no media host");
        };
        self.counter += 1;
        let auth = format!("sim-auth-{}-{unix}", self.counter);
        self.tokens.retain(|_, expires| *expires > unix);
        self.tokens
            .insert(auth.clone(), unix.saturating_add(TOKEN_TTL));
        stanzas::result(iq_id, None).children(vec![
            Node::new("media_conn")
                .attr("auth", auth)
                .attr("ttl", TOKEN_TTL.to_string())
                .attr("auth_ttl", TOKEN_TTL.to_string())
                .attr("max_buckets", "12")
                .children(vec![Node::new("host").attr("hostname", host)]),
        ])
    }

    /// `POST` of `body` to `target` (path and query) at `unix`: the upload answer's JSON.
    pub fn upload(&mut self, target: &str, body: Bytes, unix: u64) -> Result<String, Refused> {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut segments = path.strip_prefix("/mms/").ok_or(Refused(404))?.split('/');
        let (Some(mms), Some(token), None) = (segments.next(), segments.next(), segments.next())
        else {
            return Err(Refused(404));
        };
        let auth = param(query, "auth").ok_or(Refused(401))?;
        let good = self
            .tokens
            .get(&auth)
            .is_some_and(|expires| *expires > unix);
        if !good {
            return Err(Refused(401));
        }
        let hash: [u8; 32] = Sha256::digest(&body).into();
        if decode_token(token) != Some(hash) || param(query, "token").as_deref() != Some(token) {
            return Err(Refused(400));
        }
        let direct_path = self.insert(mms, &hash, body, unix);
        self.uploads += 1;
        let host = self.host.clone().unwrap_or_default();
        let url = format!("https://{host}{direct_path}&mms3=true");
        Ok(format!(
            "{{\"url\":\"{url}\",\"direct_path\":\"{direct_path}\",\"handle\":null}}"
        ))
    }

    /// `GET` of `target` (a direct path with the client's query) at `unix`: the blob.
    pub fn download(&mut self, target: &str, unix: u64) -> Result<Bytes, Refused> {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let blob = self.blobs.get(path).ok_or(Refused(404))?;
        if param(query, "oh").as_deref() != Some(blob.signature.as_str()) {
            return Err(Refused(403));
        }
        if blob.expires_at <= unix {
            return Err(Refused(410));
        }
        self.downloads += 1;
        Ok(blob.bytes.clone())
    }

    /// The blob stored at `direct_path` (with or without its query), for phones and tests.
    pub fn blob(&self, direct_path: &str) -> Option<Bytes> {
        let path = direct_path.split('?').next().unwrap_or_default();
        self.blobs.get(path).map(|b| b.bytes.clone())
    }

    /// Stores `bytes` as a phone's upload would (no HTTP, no token): returns the direct path.
    pub fn store(&mut self, mms: &str, bytes: Bytes, unix: u64) -> String {
        let hash: [u8; 32] = Sha256::digest(&bytes).into();
        self.insert(mms, &hash, bytes, unix)
    }

    /// Keeps `bytes` (whose SHA-256 is `hash`) under a fresh signed path.
    fn insert(&mut self, mms: &str, hash: &[u8; 32], bytes: Bytes, unix: u64) -> String {
        self.counter += 1;
        let signature = hex::encode(&hash[..8]);
        let name = format!("/v/t62.{mms}-24/sim-{}.enc", self.counter);
        let expires_at = unix.saturating_add(BLOB_TTL);
        let direct_path = format!("{name}?ccb=11-4&oh={signature}&oe={expires_at:X}");
        self.blobs.insert(
            name,
            Blob {
                bytes,
                signature,
                expires_at,
            },
        );
        direct_path
    }

    /// Makes the blob at `direct_path` expired (downloads answer 410). `false` if unknown.
    pub fn expire(&mut self, direct_path: &str) -> bool {
        let path = direct_path.split('?').next().unwrap_or_default();
        self.blobs.get_mut(path).map(|b| b.expires_at = 0).is_some()
    }

    /// Deletes the blob at `direct_path` (downloads answer 404, and a phone asked to upload
    /// it again answers NOT_FOUND). `false` if unknown.
    pub fn purge(&mut self, direct_path: &str) -> bool {
        let path = direct_path.split('?').next().unwrap_or_default();
        self.blobs.remove(path).is_some()
    }

    /// Flips one byte of the blob at `direct_path` (its MAC no longer matches). `false` if
    /// unknown or empty.
    pub fn corrupt(&mut self, direct_path: &str) -> bool {
        let path = direct_path.split('?').next().unwrap_or_default();
        let Some(blob) = self.blobs.get_mut(path) else {
            return false;
        };
        let mut bytes = blob.bytes.to_vec();
        let Some(first) = bytes.first_mut() else {
            return false;
        };
        *first ^= 0x55;
        blob.bytes = Bytes::from(bytes);
        true
    }
}

/// A query parameter's value (percent-decoding `%XX` only, which is all the clients escape).
fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| percent_decode(value))
    })
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tether_core::media::urls::upload_token;

    fn token_of(body: &[u8]) -> String {
        upload_token(&Sha256::digest(body).into())
    }

    fn auth_of(answer: &Node) -> String {
        let conn = answer.child("media_conn").unwrap();
        conn.attr_str("auth").unwrap().to_owned()
    }

    #[test]
    fn uploads_need_a_live_token_and_the_right_hash_and_downloads_check_path_and_expiry() {
        let mut store = MediaStore::default();
        let iq = Node::new("iq").attr("id", "1");
        assert_eq!(
            store.media_conn_answer(&iq, 100).attr_str("type"),
            Some("error")
        );
        store.set_host("127.0.0.1:4443");
        let answer = store.media_conn_answer(&iq, 100);
        let host = answer.child("media_conn").unwrap().child("host").unwrap();
        assert_eq!(host.attr_str("hostname"), Some("127.0.0.1:4443"));
        let auth = auth_of(&answer);
        let body = Bytes::from_static(b"ciphertext");
        let token = token_of(&body);
        let target = format!("/mms/image/{token}?auth={auth}&token={token}");
        // Wrong token, unknown auth, expired auth.
        let wrong = token_of(b"other");
        let bad = format!("/mms/image/{wrong}?auth={auth}&token={wrong}");
        assert_eq!(store.upload(&bad, body.clone(), 101), Err(Refused(400)));
        let forged = format!("/mms/image/{token}?auth=nope&token={token}");
        assert_eq!(store.upload(&forged, body.clone(), 101), Err(Refused(401)));
        assert_eq!(
            store.upload(&target, body.clone(), 100 + TOKEN_TTL),
            Err(Refused(401))
        );
        let json = store.upload(&target, body.clone(), 101).unwrap();
        let answer = tether_core::media::upload::parse_answer("h", 200, json.as_bytes()).unwrap();
        let path = answer.direct_path;
        assert!(answer.url.unwrap().starts_with("https://127.0.0.1:4443/v/"));
        assert_eq!(store.uploads(), 1);
        let get = format!("{path}&hash=x&mms-type=image&__wa-mms=");
        assert_eq!(store.download(&get, 102).unwrap(), body);
        // Another signature, an unknown path, after expiry, after a test expired it.
        let unsigned = get.replace("oh=", "oh=00");
        assert_eq!(store.download(&unsigned, 102), Err(Refused(403)));
        assert_eq!(
            store.download("/v/t62.image-24/none.enc?oh=1", 102),
            Err(Refused(404))
        );
        assert_eq!(store.download(&get, 101 + BLOB_TTL), Err(Refused(410)));
        assert!(store.corrupt(&path));
        assert_ne!(store.download(&get, 102).unwrap(), body);
        assert!(store.expire(&path));
        assert_eq!(store.download(&get, 102), Err(Refused(410)));
        assert_eq!(store.downloads(), 2);
    }

    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(
            param("a=1&auth=x%2By%3D&b", "auth").as_deref(),
            Some("x+y=")
        );
        assert_eq!(param("auth=%zz", "auth").as_deref(), Some("%zz"));
        assert_eq!(param("other=1", "auth"), None);
    }
}
