//! The exit codes a supervisor can act on (DESIGN §9): what `tether run` exits with after a
//! terminal reason, so a systemd unit can stop restarting a session that needs a human
//! (`RestartPreventExitStatus=3 4 5 6`).
//!
//! | code | meaning | reasons |
//! |---|---|---|
//! | 0 | stopped on request | `LocalShutdown` (SIGINT, SIGTERM, `tether stop`) |
//! | 1 | runtime failure | a store failure, retries exhausted, a refusal Tether cannot act on |
//! | 2 | usage or input error | bad flags, config, a store bound to another server |
//! | 3 | needs a new link | logged out, device removed, QR codes exhausted, no session with `--no-link` |
//! | 4 | replaced | another instance took the account (440) |
//! | 5 | temporarily banned | 402; `run` refuses until the recorded end of the ban |
//! | 6 | client outdated | 405 and the version refresh did not help |

use tether_core::reason::DisconnectReason;

/// Needs a new link (logged out, device removed, QR codes exhausted, nothing linked).
pub(crate) const NEEDS_LINK: u8 = 3;
/// Replaced by another instance (440).
pub(crate) const REPLACED: u8 = 4;
/// Temporarily banned (402).
pub(crate) const BANNED: u8 = 5;
/// Client outdated (405 after the refresh).
pub(crate) const OUTDATED: u8 = 6;

/// The exit code for a terminal stop with `reason`.
pub(crate) fn for_reason(reason: &DisconnectReason) -> u8 {
    match reason {
        DisconnectReason::LocalShutdown => 0,
        DisconnectReason::LoggedOut { .. }
        | DisconnectReason::QrCodesExhausted
        | DisconnectReason::MultideviceMismatch { .. } => NEEDS_LINK,
        DisconnectReason::Replaced { .. } => REPLACED,
        DisconnectReason::TemporaryBan { .. } => BANNED,
        DisconnectReason::ClientOutdated { .. } => OUTDATED,
        DisconnectReason::RetriesExhausted { last, .. }
            if matches!(**last, DisconnectReason::ClientOutdated { .. }) =>
        {
            OUTDATED
        }
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_core::reason::LogoutReason;

    #[test]
    fn each_terminal_reason_has_its_code() {
        let logged_out = DisconnectReason::LoggedOut {
            reason: LogoutReason::Failure(401),
            raw: None,
        };
        assert_eq!(for_reason(&logged_out), 3);
        assert_eq!(for_reason(&DisconnectReason::QrCodesExhausted), 3);
        assert_eq!(for_reason(&DisconnectReason::Replaced { raw: None }), 4);
        let ban = DisconnectReason::TemporaryBan {
            until: Some(1),
            expire: None,
            code: None,
            raw: None,
        };
        assert_eq!(for_reason(&ban), 5);
        assert_eq!(
            for_reason(&DisconnectReason::ClientOutdated { raw: None }),
            6
        );
        assert_eq!(for_reason(&DisconnectReason::LocalShutdown), 0);
        let store = DisconnectReason::StoreFailure {
            detail: "disk full".into(),
        };
        assert_eq!(for_reason(&store), 1);
    }
}
