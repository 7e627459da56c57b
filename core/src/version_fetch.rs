//! Fetching the current web client version (`session.md` §8), sans-IO: the adapter sends
//! [`request`] to the version URL (`https://web.whatsapp.com/sw.js` by default) over its own
//! TLS stack, reads the answer until the server closes (at most [`MAX_RESPONSE`] bytes) and
//! hands it to [`parse_response`], which finds `"client_revision": N` in the service-worker
//! script and returns `2.3000.N`. The result goes back into the core with
//! `Connection::handle_version`.

use thiserror::Error;

use crate::connection::VersionError;
use crate::endpoint::Endpoint;
use crate::payload::AppVersion;
use crate::proxy::{find, parse_status_line};

/// Largest response accepted (head and body, bytes). `sw.js` is far smaller.
pub const MAX_RESPONSE: usize = 4 * 1024 * 1024;

/// Largest response head accepted (bytes).
const MAX_HEAD: usize = 16 * 1024;

/// Desktop browser user agent: the endpoint serves the script to browsers.
const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

/// The HTTP/1.1 `GET` for `url` (`Connection: close`, no compression).
pub fn request(url: &Endpoint) -> Vec<u8> {
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\nAccept: */*\r\n\
         Accept-Encoding: identity\r\nSec-Fetch-Site: none\r\nConnection: close\r\n\r\n",
        url.path,
        url.host_header()
    )
    .into_bytes()
}

/// Parses a complete HTTP response (head and body as read until the server closed) and
/// extracts the version from the body.
pub fn parse_response(raw: &[u8]) -> Result<AppVersion, VersionFetchError> {
    if raw.len() > MAX_RESPONSE {
        return Err(VersionFetchError::TooLarge(MAX_RESPONSE));
    }
    let head_end = find(raw, b"\r\n\r\n").ok_or(if raw.len() > MAX_HEAD {
        VersionFetchError::TooLarge(MAX_HEAD)
    } else {
        VersionFetchError::Truncated
    })?;
    let head = raw
        .get(..head_end + 2)
        .ok_or(VersionFetchError::Truncated)?;
    let body = raw.get(head_end + 4..).unwrap_or_default();
    let status = parse_status_line(head).map_err(|_| VersionFetchError::NotHttp)?;
    if status.code != 200 {
        return Err(VersionFetchError::Status(status.code));
    }
    let head = std::str::from_utf8(head).map_err(|_| VersionFetchError::NotHttp)?;
    let mut chunked = false;
    let mut length = None;
    for line in head.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| VersionFetchError::NotHttp)?,
            );
        }
    }
    let body = if chunked {
        dechunk(body)?
    } else if let Some(length) = length {
        body.get(..length)
            .ok_or(VersionFetchError::Truncated)?
            .to_vec()
    } else {
        body.to_vec()
    };
    let revision = client_revision(&body).ok_or(VersionFetchError::NoRevision)?;
    Ok(AppVersion::new(2, 3000, revision))
}

/// Finds `client_revision` followed by an optional (escaped) quote, `:`, spaces and digits, as
/// in `"client_revision":1045649367` or `\"client_revision\": 1045649367`.
pub fn client_revision(body: &[u8]) -> Option<u32> {
    const NAME: &[u8] = b"client_revision";
    let mut rest = body;
    while let Some(at) = find(rest, NAME) {
        rest = rest.get(at + NAME.len()..)?;
        let mut i = 0;
        for optional in [b'\\', b'"'] {
            if rest.get(i) == Some(&optional) {
                i += 1;
            }
        }
        if rest.get(i) != Some(&b':') {
            continue;
        }
        i += 1;
        while rest.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let digits = rest.get(i..)?;
        let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        if (1..=10).contains(&len)
            && let Some(n) = std::str::from_utf8(digits.get(..len)?)
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
        {
            return Some(n);
        }
    }
    None
}

/// Decodes a `Transfer-Encoding: chunked` body (bounded by its input).
fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, VersionFetchError> {
    let mut out = Vec::new();
    loop {
        let line_end = find(body, b"\r\n").ok_or(VersionFetchError::Truncated)?;
        let line = std::str::from_utf8(body.get(..line_end).unwrap_or_default())
            .map_err(|_| VersionFetchError::BadChunk)?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| VersionFetchError::BadChunk)?;
        let start = line_end + 2;
        if size == 0 {
            return Ok(out);
        }
        let end = start.checked_add(size).ok_or(VersionFetchError::BadChunk)?;
        out.extend_from_slice(body.get(start..end).ok_or(VersionFetchError::Truncated)?);
        if body.get(end..end + 2) != Some(b"\r\n".as_slice()) {
            return Err(VersionFetchError::BadChunk);
        }
        body = body.get(end + 2..).unwrap_or_default();
    }
}

/// Why the version could not be read from the answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum VersionFetchError {
    /// The answer is not HTTP/1.x.
    #[error("version url did not answer with HTTP/1.x: check the version url")]
    NotHttp,
    /// A status other than 200.
    #[error("version url answered HTTP {0}: check the version url or try later")]
    Status(u16),
    /// Longer than the bound.
    #[error("version answer is longer than {0} bytes: refusing it")]
    TooLarge(usize),
    /// The answer ended early.
    #[error("version answer ended early: the connection was cut, try again")]
    Truncated,
    /// Malformed chunked encoding.
    #[error("version answer has malformed chunked encoding: refusing it")]
    BadChunk,
    /// No `client_revision` in the body.
    #[error(
        "version answer has no client_revision: the script changed shape, set the version in the config"
    )]
    NoRevision,
}

impl From<VersionFetchError> for VersionError {
    fn from(e: VersionFetchError) -> Self {
        Self(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_get_for_the_service_worker() {
        let url = Endpoint::parse("https://web.whatsapp.com/sw.js").unwrap();
        let req = String::from_utf8(request(&url)).unwrap();
        assert!(req.starts_with("GET /sw.js HTTP/1.1\r\nHost: web.whatsapp.com\r\n"));
        assert!(req.contains("Connection: close\r\n"));
        assert!(req.ends_with("\r\n\r\n"));
    }

    #[test]
    fn reads_the_revision_from_a_content_length_body() {
        let body = r#"self.x={"client_revision":1045649367,"y":1};"#;
        let raw = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(
            parse_response(raw.as_bytes()),
            Ok(AppVersion::new(2, 3000, 1_045_649_367))
        );
    }

    #[test]
    fn reads_escaped_quotes_and_chunked_bodies() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                    10\r\nx\\\"client_revisi\r\n\
                    c\r\non\\\": 123456\r\n0\r\n\r\n";
        assert_eq!(parse_response(raw), Ok(AppVersion::new(2, 3000, 123_456)));
    }

    #[test]
    fn skips_mentions_without_a_number() {
        assert_eq!(
            client_revision(b"client_revision=1; \"client_revision\":77"),
            Some(77)
        );
        assert_eq!(client_revision(b"\"client_revision\":\"abc\""), None);
        assert_eq!(client_revision(b"\"client_revision\":99999999999"), None);
    }

    #[test]
    fn errors_are_typed() {
        assert_eq!(
            parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n"),
            Err(VersionFetchError::Status(404))
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\n"),
            Err(VersionFetchError::Truncated)
        );
        assert_eq!(
            parse_response(b"garbage\r\n\r\n"),
            Err(VersionFetchError::NotHttp)
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort"),
            Err(VersionFetchError::Truncated)
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            Err(VersionFetchError::BadChunk)
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\n\r\nnothing here"),
            Err(VersionFetchError::NoRevision)
        );
        let big = vec![b'a'; MAX_RESPONSE + 1];
        assert_eq!(
            parse_response(&big),
            Err(VersionFetchError::TooLarge(MAX_RESPONSE))
        );
    }
}
