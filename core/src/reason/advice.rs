//! The human text of every reason: a short description for log lines and advice for operators
//! (what happened, why, what to do next). Static text only: no peer data ever reaches a log
//! through here.

use super::{DisconnectReason, LogoutReason, LostCause};

pub(super) fn description(reason: &DisconnectReason) -> &'static str {
    use DisconnectReason as R;
    match reason {
        R::RestartRequired { .. } => "Restart required",
        R::ConnectionLost { cause } => match cause {
            LostCause::DeadSocket => "Connection timed out",
            LostCause::FrameTimeout => "Frame timed out",
            LostCause::TransportClosed { .. } => "Connection closed",
            LostCause::StreamEnd => "Stream ended by server",
            LostCause::TransportFailed { failure } => failure.description(),
            LostCause::ConnectTimeout => "Connect timed out",
            LostCause::HandshakeTimeout => "Handshake timed out",
        },
        R::ServiceUnavailable { .. } => "Service unavailable",
        R::ServerError { .. } => "Internal server error",
        R::RateLimited { .. } => "Rate limited",
        R::StreamError { .. } => "Stream error",
        R::Replaced { .. } => "Connection replaced",
        R::LoggedOut { reason, .. } => match reason {
            LogoutReason::Failure(403) => "Logged out (account locked)",
            LogoutReason::Failure(406) => "Logged out (account banned)",
            LogoutReason::DeviceRemoved { .. } | LogoutReason::StreamCode(516) => {
                "Logged out (device removed)"
            }
            LogoutReason::Local => "Logged out by request",
            LogoutReason::Failure(_)
            | LogoutReason::StreamCode(_)
            | LogoutReason::Conflict { .. } => "Logged out",
        },
        R::TemporaryBan { .. } => "Temporarily banned",
        R::ClientOutdated { .. } => "Client outdated",
        R::ConnectFailure { .. } => "Connection refused by server",
        R::MultideviceMismatch { .. } => "Multi-device mismatch",
        R::QrCodesExhausted => "QR codes exhausted",
        R::CertificateExpired { .. } => "Server certificate expired",
        R::CertificateNotYetValid { .. } => "Server certificate not yet valid",
        R::CertificateInvalid { .. } => "Server certificate invalid",
        R::HandshakeFailed { .. } => "Handshake failed",
        R::ProtocolError { .. } => "Protocol error",
        R::StoreFailure { .. } => "Credential store failure",
        R::RetriesExhausted { .. } => "Retries exhausted",
        R::LocalShutdown => "Local shutdown",
    }
}

pub(super) fn advice(reason: &DisconnectReason) -> &'static str {
    use DisconnectReason as R;
    match reason {
        R::RestartRequired { .. } => {
            "The server asked for a fresh connection. This is normal right after linking a device \
             and occasionally happens later. Tether reconnects at once with the same credentials; \
             nothing to do. The session is NOT invalidated."
        }
        R::ConnectionLost { cause } => match cause {
            LostCause::DeadSocket => {
                "Data was sent but nothing came back within keepAlive.timeoutMs: the connection \
                 is half-open (network change, NAT timeout, proxy or firewall cutting idle \
                 websockets). Tether reconnects with backoff. If it repeats, check the network \
                 path and any proxy or VPN."
            }
            LostCause::FrameTimeout => {
                "The server started a frame and did not finish it within keepAlive.frameTimeoutMs: \
                 the link is stalled, or something on the path trickles bytes. Loose bytes are not \
                 taken as a sign of life, so Tether treats this as a lost connection and reconnects \
                 with backoff. If it repeats, check proxies, VPNs and the network path."
            }
            LostCause::TransportClosed { .. } | LostCause::StreamEnd => {
                "The connection was closed by the server or by something on the network path. \
                 Tether reconnects with backoff. If it repeats, check proxies and firewalls that \
                 may cut long-lived websockets."
            }
            LostCause::TransportFailed { failure } => failure.advice(),
            LostCause::ConnectTimeout | LostCause::HandshakeTimeout => {
                "The server did not answer in time while connecting: the network is slow, lossy \
                 or blocked. Tether reconnects with backoff. Run `tether doctor` if it persists."
            }
        },
        R::ServiceUnavailable { .. } | R::ServerError { .. } => {
            "WhatsApp's server reported a temporary problem (restart or overload). Tether \
             reconnects with backoff; nothing to do unless it lasts for hours."
        }
        R::RateLimited { .. } => {
            "The server says this client reconnects too often. Tether waits longer than usual \
             before the next attempt. If it repeats, look for a second instance or a process \
             manager restarting Tether in a loop."
        }
        R::StreamError { .. } => {
            "The server ended the stream with an error (for example an unacknowledged stanza or a \
             malformed one). This is not a bad session: credentials stay valid and Tether \
             reconnects with backoff. Report it with debug logs if it repeats."
        }
        R::Replaced { .. } => {
            "Another Tether or Baileys instance, or a WhatsApp Web session, logged in with this \
             same account credentials and the server kept the newer connection. Stop the other \
             one. Tether does not reconnect, because two instances would evict each other in an \
             endless loop; the credentials are still valid."
        }
        R::LoggedOut { .. } => {
            "The session was invalidated: the device was unlinked from the phone, or the account \
             was logged out, locked or banned. The credentials no longer work; Tether quarantined \
             them (kept aside, not deleted). Run `tether relink` and scan the new QR code."
        }
        R::TemporaryBan { .. } => {
            "WhatsApp temporarily banned this account (for example for messaging many people who \
             do not have you as a contact). Tether stops and may retry once the ban expires; \
             credentials are kept. Review what the account sends."
        }
        R::ClientOutdated { .. } => {
            "The server refused this client version. Tether fetches the current version and \
             retries once; if that fails too it stops. Set `version` in the configuration or \
             update Tether."
        }
        R::ConnectFailure { .. } => {
            "The server refused the login with a reason Tether cannot fix by retrying (bad user \
             agent, unknown client, …). Tether stops; credentials are kept. Report the reason \
             code with debug logs."
        }
        R::MultideviceMismatch { .. } => {
            "The QR code was scanned by a phone without multi-device support. Update WhatsApp on \
             the phone, then link again."
        }
        R::QrCodesExhausted => {
            "No QR code was scanned before all codes expired. This linking attempt is over; start \
             linking again when you are ready to scan. This is not a connection problem."
        }
        R::CertificateExpired { .. } | R::CertificateNotYetValid { .. } => {
            "The server certificate is outside its validity period according to the local \
             clock, which is usually skewed. Synchronise the system clock (NTP). Tether retries \
             with backoff."
        }
        R::CertificateInvalid { .. } | R::HandshakeFailed { .. } => {
            "The secure handshake with the server failed or its certificate did not verify. \
             Something on the network path may be intercepting the connection (TLS-inspecting \
             proxy, captive portal). Tether retries with backoff and stops after 5 failures in a \
             row."
        }
        R::ProtocolError { .. } => {
            "The server sent data Tether could not parse or decrypt. Tether reconnects with \
             backoff; report it with debug logs if it repeats."
        }
        R::StoreFailure { .. } => {
            "Saving credentials failed, so Tether stopped rather than continue with state it \
             could not persist. Check disk space and permissions of the store, then run \
             `tether doctor`."
        }
        R::RetriesExhausted { .. } => {
            "Reconnecting failed reconnect.maxRetries times in a row, so Tether stopped. See the \
             last reason; raise maxRetries or leave it unset for unlimited retries."
        }
        R::LocalShutdown => "The application asked to disconnect. Nothing to do.",
    }
}
