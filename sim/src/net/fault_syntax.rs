//! The text form of a [`Fault`], shared by the HTTP control interface and `tether sim
//! --scenario`:
//!
//! | text | fault |
//! |---|---|
//! | `515`, `stream:503` | [`Fault::StreamError`] with that code |
//! | `replaced` | [`Fault::Replaced`] (440) |
//! | `device_removed` | [`Fault::DeviceRemoved`] |
//! | `failure:401`, `failure:402:3600` | [`Fault::Failure`] (reason, optional expire seconds) |
//! | `silent` | [`Fault::Silent`] |
//! | `close` | [`Fault::AbruptClose`] |
//! | `ignore-pings`, `resume-pings` | [`Fault::IgnorePings`] |
//! | `skew:SECONDS` | [`Fault::Skew`] (may be negative) |

use super::SimError;
use crate::server::Fault;

/// Parses one fault in the syntax of the module docs (surrounding whitespace ignored).
pub fn parse_fault(text: &str) -> Result<Fault, SimError> {
    let text = text.trim();
    let unknown = || SimError::UnknownFault(text.chars().take(64).collect());
    let fault = match text {
        "replaced" => Fault::Replaced,
        "device_removed" => Fault::DeviceRemoved,
        "silent" => Fault::Silent,
        "close" => Fault::AbruptClose,
        "ignore-pings" => Fault::IgnorePings(true),
        "resume-pings" => Fault::IgnorePings(false),
        _ => {
            let mut parts = text.split(':');
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(code), None, None, None) => {
                    Fault::StreamError(code.parse().map_err(|_| unknown())?)
                }
                (Some("stream"), Some(code), None, None) => {
                    Fault::StreamError(code.parse().map_err(|_| unknown())?)
                }
                (Some("failure"), Some(reason), expire, None) => Fault::Failure {
                    reason: reason.parse().map_err(|_| unknown())?,
                    expire: expire
                        .map(|e| e.parse().map_err(|_| unknown()))
                        .transpose()?,
                },
                (Some("skew"), Some(secs), None, None) => {
                    Fault::Skew(secs.parse().map_err(|_| unknown())?)
                }
                _ => return Err(unknown()),
            }
        }
    };
    Ok(fault)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_form() {
        let cases = [
            ("515", Fault::StreamError(515)),
            ("stream:503", Fault::StreamError(503)),
            ("replaced", Fault::Replaced),
            ("device_removed", Fault::DeviceRemoved),
            (
                "failure:401",
                Fault::Failure {
                    reason: 401,
                    expire: None,
                },
            ),
            (
                "failure:402:3600",
                Fault::Failure {
                    reason: 402,
                    expire: Some(3600),
                },
            ),
            ("silent", Fault::Silent),
            (" close\n", Fault::AbruptClose),
            ("ignore-pings", Fault::IgnorePings(true)),
            ("resume-pings", Fault::IgnorePings(false)),
            ("skew:-90", Fault::Skew(-90)),
        ];
        for (text, fault) in cases {
            assert_eq!(parse_fault(text).ok(), Some(fault), "{text:?}");
        }
    }

    #[test]
    fn rejects_unknown_or_malformed_faults() {
        for text in [
            "",
            "loud",
            "stream:",
            "stream:x",
            "failure",
            "failure:1:2:3",
            "skew:1.5",
            "99999",
        ] {
            assert!(
                matches!(parse_fault(text), Err(SimError::UnknownFault(_))),
                "{text:?}"
            );
        }
    }
}
