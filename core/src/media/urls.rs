//! Where media goes (`media.md` §2.3, §4.1): the upload request to a `media_conn` host and the
//! download requests for a message, built from untrusted strings (host names from the server,
//! direct paths and URLs from other people's messages), each checked before it becomes a
//! request line.
//!
//! ```text
//! upload:    POST https://<host>/mms/<type>/<token>?auth=<auth>&token=<token>
//!            token = base64url(fileEncSha256), unpadded (Baileys, whatsapp-rust)
//! download:  GET  https://<host><directPath>{?|&}hash=<base64url padded>&mms-type=<type>&__wa-mms=
//!            for each media_conn host (whatsmeow's form), then the message's own https url
//! ```
//!
//! Hosts are used exactly as `media_conn` names them, port included, and always over TLS.

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};

use super::cipher::Digests;
use super::error::MediaError;
use super::http::Request;
use super::kind::MediaKind;
use crate::endpoint::{Endpoint, Scheme};

/// The default CDN host (when neither `media_conn` nor the message names one).
pub const DEFAULT_HOST: &str = "mmg.whatsapp.net";

/// Longest direct path accepted (bytes).
pub const MAX_PATH: usize = 2048;

/// The upload token for a blob: base64url of its SHA-256, without padding.
pub fn upload_token(file_enc_sha256: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(file_enc_sha256)
}

/// Decodes an upload token written with or without padding (what a server must accept).
pub fn decode_token(token: &str) -> Option<[u8; 32]> {
    let token = token.trim_end_matches('=');
    URL_SAFE_NO_PAD.decode(token).ok()?.try_into().ok()
}

/// Percent-encodes `value` for a query (everything but RFC 3986's unreserved characters).
pub fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Checks a host as `media_conn` gives it (`name[:port]`): no path, query or user part.
fn checked_host(host: &str) -> Result<&str, MediaError> {
    let bad = host.is_empty()
        || host.len() > 255
        || host
            .bytes()
            .any(|b| !b.is_ascii_graphic() || matches!(b, b'/' | b'?' | b'#' | b'@' | b'\\'));
    if bad {
        return Err(MediaError::BadUrl {
            what: "media host",
            reason: "not a host name with an optional port".into(),
        });
    }
    Ok(host)
}

/// Checks a direct path: starts with `/`, visible ASCII only (it becomes the request line).
fn checked_path(path: &str) -> Result<&str, MediaError> {
    if !path.starts_with('/') || path.starts_with("//") || path.len() > MAX_PATH {
        return Err(MediaError::BadUrl {
            what: "direct path",
            reason: "not an absolute path".into(),
        });
    }
    if path.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(MediaError::BadUrl {
            what: "direct path",
            reason: "it has spaces or control characters".into(),
        });
    }
    Ok(path)
}

fn https(host: &str, path_and_query: &str, what: &'static str) -> Result<Endpoint, MediaError> {
    let url = format!("https://{host}{path_and_query}");
    let target = Endpoint::parse(&url).map_err(|e| MediaError::BadUrl {
        what,
        reason: e.to_string(),
    })?;
    Ok(target)
}

/// The upload of a blob of `kind` to `host` with the `media_conn` token `auth`.
pub fn upload_request(
    host: &str,
    kind: MediaKind,
    auth: &str,
    digests: &Digests,
) -> Result<Request, MediaError> {
    let mms = kind.mms_type().ok_or(MediaError::NotUploadable(kind))?;
    let token = upload_token(&digests.file_enc_sha256);
    let path = format!(
        "/mms/{mms}/{token}?auth={}&token={token}",
        query_escape(auth)
    );
    let target = https(checked_host(host)?, &path, "media host")?;
    Ok(Request::post(target, digests.enc_length()))
}

/// The download of `direct_path` from `host` (whatsmeow's form: `&` when the path has a query
/// already, `?` otherwise).
pub fn download_request(
    host: &str,
    direct_path: &str,
    kind: MediaKind,
    file_enc_sha256: &[u8; 32],
) -> Result<Request, MediaError> {
    let path = checked_path(direct_path)?;
    let separator = if path.contains('?') { '&' } else { '?' };
    let hash = query_escape(&URL_SAFE.encode(file_enc_sha256));
    let mms = kind.mms_type().unwrap_or("image");
    let path = format!("{path}{separator}hash={hash}&mms-type={mms}&__wa-mms=");
    Ok(Request::get(https(
        checked_host(host)?,
        &path,
        "media host",
    )?))
}

/// A message's own `url`, used as given when it is `https://` (Baileys' downloads do the
/// same).
pub fn url_request(url: &str) -> Result<Request, MediaError> {
    let target = Endpoint::parse(url).map_err(|e| MediaError::BadUrl {
        what: "media url",
        reason: e.to_string(),
    })?;
    if target.scheme != Scheme::Https {
        return Err(MediaError::BadUrl {
            what: "media url",
            reason: "only https:// is used".into(),
        });
    }
    checked_path(&target.path)?;
    Ok(Request::get(target))
}

/// Every place a message's media can be downloaded from, in order: each host (from
/// `media_conn`, primary first) with the direct path, then the message's own `url`. Unusable
/// candidates are skipped; `Err` only when none is left.
pub fn download_requests(
    hosts: &[String],
    direct_path: Option<&str>,
    url: Option<&str>,
    kind: MediaKind,
    file_enc_sha256: &[u8; 32],
) -> Result<Vec<Request>, MediaError> {
    let mut requests = Vec::new();
    let mut last = None;
    if let Some(path) = direct_path {
        let default = [DEFAULT_HOST.to_owned()];
        let hosts = if hosts.is_empty() && url.is_none() {
            &default[..]
        } else {
            hosts
        };
        for host in hosts {
            match download_request(host, path, kind, file_enc_sha256) {
                Ok(r) => requests.push(r),
                Err(e) => last = Some(e),
            }
        }
    }
    if let Some(url) = url {
        match url_request(url) {
            Ok(r) if !requests.contains(&r) => requests.push(r),
            Ok(_) => {}
            Err(e) => last = Some(e),
        }
    }
    if requests.is_empty() {
        return Err(last.unwrap_or(MediaError::MissingField("directPath or url")));
    }
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digests() -> Digests {
        Digests {
            file_sha256: [1; 32],
            file_enc_sha256: [0xfb; 32],
            file_length: 41,
        }
    }

    #[test]
    fn tokens_decode_padded_or_not() {
        let token = upload_token(&[0xfb; 32]);
        assert!(!token.contains('='));
        assert_eq!(decode_token(&token), Some([0xfb; 32]));
        assert_eq!(decode_token(&format!("{token}=")), Some([0xfb; 32]));
        assert_eq!(decode_token("short"), None);
    }

    #[test]
    fn upload_goes_to_the_host_as_named() {
        let r = upload_request("127.0.0.1:8443", MediaKind::Sticker, "a+b/c=", &digests()).unwrap();
        assert_eq!(r.target.port, 8443);
        let token = upload_token(&[0xfb; 32]);
        assert_eq!(
            r.target.path,
            format!("/mms/image/{token}?auth=a%2Bb%2Fc%3D&token={token}")
        );
        assert_eq!(r.body_length, Some(58));
        for bad in ["", "evil.com/x", "user@host", "a b", "h?x"] {
            assert!(
                upload_request(bad, MediaKind::Image, "a", &digests()).is_err(),
                "{bad}"
            );
        }
        assert!(matches!(
            upload_request("h", MediaKind::PaymentBackground, "a", &digests()),
            Err(MediaError::NotUploadable(_))
        ));
    }

    #[test]
    fn downloads_try_every_host_then_the_url() {
        let path = "/v/t62.7118-24/1_2_n.enc?ccb=11-4&oh=X&oe=Y";
        let requests = download_requests(
            &["a.example:1".into(), "b.example".into()],
            Some(path),
            Some("https://c.example/d/f/x.enc"),
            MediaKind::Audio,
            &[0xfb; 32],
        )
        .unwrap();
        assert_eq!(requests.len(), 3);
        assert!(requests[0].target.path.starts_with(path));
        assert!(
            requests[0].target.path.contains("&hash=")
                && requests[0]
                    .target
                    .path
                    .ends_with("&mms-type=audio&__wa-mms=")
        );
        assert_eq!(requests[2].target.host, "c.example");
        // Hostile paths never reach a request line.
        for bad in ["no-slash", "/a b", "/a\r\nX: y", "//evil.example/x"] {
            assert!(
                download_requests(&["h".into()], Some(bad), None, MediaKind::Image, &[0; 32])
                    .is_err(),
                "{bad:?}"
            );
        }
        assert!(url_request("http://c.example/x").is_err());
        // Without hosts and url the default CDN host is used.
        let r = download_requests(&[], Some("/x"), None, MediaKind::Image, &[0; 32]).unwrap();
        assert_eq!(r[0].target.host, DEFAULT_HOST);
    }
}
