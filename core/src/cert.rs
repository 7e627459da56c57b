//! The server certificate chain: verifying what the server presents during the Noise handshake,
//! and issuing chains for a test server (`protocol/transport.md` §5).
//!
//! ```text
//! root key (configured)  ──signs──▶  intermediate { serial S, issuerSerial 0, key I, window }
//! intermediate key I     ──signs──▶  leaf         { serial L, issuerSerial S, key = server static rs, window }
//! ```
//!
//! [`verify_chain`] applies whatsmeow's checks, the strictest of the reference clients, in
//! whatsmeow's order, and returns the first failure as its own [`CertError`] variant:
//!
//! 1. both certificates present, each with `details` and a 64-byte `signature`;
//! 2. the intermediate signature verifies under one of the trusted roots;
//! 3. the intermediate's `issuerSerial` is 0 and its key is 32 bytes;
//! 4. the leaf signature verifies under the intermediate's key;
//! 5. `notBefore ≤ unix_now ≤ notAfter` for the intermediate;
//! 6. the leaf's `issuerSerial` equals the intermediate's serial, and its key equals the server
//!    static key from the handshake (compared in constant time);
//! 7. `notBefore ≤ unix_now ≤ notAfter` for the leaf.
//!
//! Signatures cover the serialized `details` exactly as received; nothing is re-encoded before
//! checking. Expiry and not-yet-valid are separate variants so a wrong local clock is
//! diagnosable. A `serial` or `issuerSerial` left out of the details reads as 0, as in every
//! proto2 reader (the intermediate's `issuerSerial` legitimately is 0); a missing key or
//! validity bound is an error of its own.
//!
//! [`build_chain`] does the reverse for a test server: it signs details with the issuers'
//! private keys (deterministically, see [`xeddsa::sign_deterministic`]) and serializes the chain.

use core::fmt;

use bytes::Bytes;
use prost::Message;
use subtle::ConstantTimeEq;

use crate::crypto::xeddsa;
use crate::proto::cert::{CertChain, Details, NoiseCertificate};

/// WhatsApp's long-term root key (X25519 / Montgomery form), the trust anchor of every real
/// server's chain (`protocol/transport.md` §5.2; informational name `WhatsAppLongTerm1`).
pub const WHATSAPP_ROOT_PUBLIC_KEY: [u8; 32] = [
    0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
    0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
];

/// The `issuerSerial` an intermediate must carry: 0 stands for the root.
pub const ROOT_ISSUER_SERIAL: u32 = 0;

/// Which certificate of the chain a check or an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertRole {
    /// The intermediate, signed by a root.
    Intermediate,
    /// The leaf, signed by the intermediate; it certifies the server's Noise static key.
    Leaf,
}

impl fmt::Display for CertRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Intermediate => "intermediate",
            Self::Leaf => "leaf",
        })
    }
}

/// The decoded details of one certificate: what it certifies and for how long.
///
/// Also the input of [`build_chain`], which encodes exactly these five fields.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CertificateInfo {
    /// This certificate's serial.
    pub serial: u32,
    /// The serial of the certificate that signed it (0 for the root).
    pub issuer_serial: u32,
    /// The certified X25519 public key.
    pub key: [u8; 32],
    /// Start of validity, Unix seconds (inclusive).
    pub not_before: u64,
    /// End of validity, Unix seconds (inclusive).
    pub not_after: u64,
}

impl CertificateInfo {
    /// The serialized `Details` message for these values (every field present).
    pub fn encode_details(&self) -> Vec<u8> {
        Details {
            serial: Some(self.serial),
            issuer_serial: Some(self.issuer_serial),
            key: Some(Bytes::copy_from_slice(&self.key)),
            not_before: Some(self.not_before),
            not_after: Some(self.not_after),
        }
        .encode_to_vec()
    }
}

/// A chain that passed [`verify_chain`]: the details of both certificates, for example to
/// cache the validity windows, and the root that vouched for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedChain {
    /// The intermediate certificate's details.
    pub intermediate: CertificateInfo,
    /// The leaf certificate's details (its key is the server static key).
    pub leaf: CertificateInfo,
    /// The trusted root key the intermediate's signature verified under.
    pub root: [u8; 32],
}

/// Why a certificate chain was refused. Every check has its own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The payload is not a `CertChain` protobuf.
    #[error("certificate chain is not a valid CertChain protobuf: {0}")]
    MalformedChain(prost::DecodeError),
    /// A certificate is absent from the chain.
    #[error("certificate chain has no {0} certificate")]
    MissingCertificate(CertRole),
    /// A certificate has no `details`.
    #[error("{0} certificate has no details")]
    MissingDetails(CertRole),
    /// A certificate has no `signature`.
    #[error("{0} certificate has no signature")]
    MissingSignature(CertRole),
    /// A signature is not 64 bytes long.
    #[error("{role} certificate signature is {len} bytes, expected 64")]
    SignatureLength {
        /// The certificate.
        role: CertRole,
        /// The length received.
        len: usize,
    },
    /// The intermediate's signature verifies under none of the trusted roots.
    #[error(
        "intermediate certificate signature does not verify under any of the {roots} trusted root key(s)"
    )]
    UntrustedIntermediate {
        /// How many root keys were tried.
        roots: usize,
    },
    /// A certificate's `details` bytes are not a `Details` protobuf.
    #[error("{role} certificate details are not a valid protobuf: {error}")]
    MalformedDetails {
        /// The certificate.
        role: CertRole,
        /// The decoder's complaint.
        error: prost::DecodeError,
    },
    /// The intermediate does not name the root (serial 0) as its issuer.
    #[error("intermediate certificate issuer serial is {found}, expected 0 (the root)")]
    IntermediateIssuerSerial {
        /// The serial found.
        found: u32,
    },
    /// A certificate's details carry no key.
    #[error("{0} certificate has no key")]
    MissingKey(CertRole),
    /// A certificate's key is not 32 bytes long.
    #[error("{role} certificate key is {len} bytes, expected 32")]
    KeyLength {
        /// The certificate.
        role: CertRole,
        /// The length received.
        len: usize,
    },
    /// A certificate's details lack `notBefore` or `notAfter`.
    #[error("{role} certificate has no {field}")]
    MissingValidity {
        /// The certificate.
        role: CertRole,
        /// `"not_before"` or `"not_after"`.
        field: &'static str,
    },
    /// The leaf's signature does not verify under the intermediate's key.
    #[error("leaf certificate signature does not verify under the intermediate certificate key")]
    BadLeafSignature,
    /// The leaf does not name the intermediate as its issuer.
    #[error(
        "leaf certificate issuer serial is {found}, expected the intermediate serial {expected}"
    )]
    LeafIssuerSerial {
        /// The serial found in the leaf.
        found: u32,
        /// The intermediate's serial.
        expected: u32,
    },
    /// The leaf certifies a key other than the server static key of this handshake.
    #[error("leaf certificate key does not match the server static key of the handshake")]
    LeafKeyMismatch,
    /// `unix_now` is after a certificate's `notAfter` (or the local clock is ahead).
    #[error("{role} certificate expired: now {now} is after not_after {not_after}")]
    Expired {
        /// The certificate.
        role: CertRole,
        /// The local Unix time used.
        now: u64,
        /// The certificate's end of validity.
        not_after: u64,
    },
    /// `unix_now` is before a certificate's `notBefore` (or the local clock is behind).
    #[error("{role} certificate not yet valid: now {now} is before not_before {not_before}")]
    NotYetValid {
        /// The certificate.
        role: CertRole,
        /// The local Unix time used.
        now: u64,
        /// The certificate's start of validity.
        not_before: u64,
    },
}

/// Verifies the server's certificate chain (the decrypted `ServerHello.payload`) against the
/// server static key `server_static` decrypted in the same handshake, the local Unix time
/// `unix_now`, and the accepted root keys `trusted_roots` (normally just
/// [`WHATSAPP_ROOT_PUBLIC_KEY`]).
///
/// Never panics; every refusal is a distinct [`CertError`] (see the module docs for the order).
pub fn verify_chain(
    cert_chain: &[u8],
    server_static: &[u8; 32],
    unix_now: u64,
    trusted_roots: &[[u8; 32]],
) -> Result<VerifiedChain, CertError> {
    let chain = CertChain::decode(cert_chain).map_err(CertError::MalformedChain)?;
    let (intermediate_details, intermediate_signature) =
        certificate_parts(chain.intermediate.as_ref(), CertRole::Intermediate)?;
    let (leaf_details, leaf_signature) = certificate_parts(chain.leaf.as_ref(), CertRole::Leaf)?;

    let root = trusted_roots
        .iter()
        .find(|root| xeddsa::verify(root, intermediate_details, &intermediate_signature))
        .copied()
        .ok_or(CertError::UntrustedIntermediate {
            roots: trusted_roots.len(),
        })?;
    let intermediate = decode_details(intermediate_details, CertRole::Intermediate)?;
    if intermediate.issuer_serial != ROOT_ISSUER_SERIAL {
        return Err(CertError::IntermediateIssuerSerial {
            found: intermediate.issuer_serial,
        });
    }
    if !xeddsa::verify(&intermediate.key, leaf_details, &leaf_signature) {
        return Err(CertError::BadLeafSignature);
    }
    check_validity(&intermediate, CertRole::Intermediate, unix_now)?;

    let leaf = decode_details(leaf_details, CertRole::Leaf)?;
    if leaf.issuer_serial != intermediate.serial {
        return Err(CertError::LeafIssuerSerial {
            found: leaf.issuer_serial,
            expected: intermediate.serial,
        });
    }
    if !bool::from(leaf.key.ct_eq(server_static)) {
        return Err(CertError::LeafKeyMismatch);
    }
    check_validity(&leaf, CertRole::Leaf, unix_now)?;

    Ok(VerifiedChain {
        intermediate,
        leaf,
        root,
    })
}

/// Issues a serialized `CertChain`: `intermediate` signed with `root_private`, `leaf` signed
/// with `intermediate_private`. Fields are taken as given, so a test server can also issue
/// chains that break a rule on purpose (wrong serials, a key that does not match the signer,
/// an expired window).
///
/// Signing is deterministic ([`xeddsa::sign_deterministic`]): the same inputs always give the
/// same bytes, and the test chain of `protocol/test-vectors.md` §3.1 is reproduced exactly.
pub fn build_chain(
    root_private: &[u8; 32],
    intermediate_private: &[u8; 32],
    intermediate: &CertificateInfo,
    leaf: &CertificateInfo,
) -> Vec<u8> {
    CertChain {
        leaf: Some(sign_certificate(intermediate_private, leaf)),
        intermediate: Some(sign_certificate(root_private, intermediate)),
    }
    .encode_to_vec()
}

/// One certificate: `info`'s details signed with `issuer_private`.
pub fn sign_certificate(issuer_private: &[u8; 32], info: &CertificateInfo) -> NoiseCertificate {
    let details = info.encode_details();
    let signature = xeddsa::sign_deterministic(issuer_private, &details);
    NoiseCertificate {
        details: Some(Bytes::from(details)),
        signature: Some(Bytes::copy_from_slice(&signature)),
    }
}

/// Presence and length checks of one certificate; returns its details bytes and signature.
fn certificate_parts(
    certificate: Option<&NoiseCertificate>,
    role: CertRole,
) -> Result<(&[u8], [u8; 64]), CertError> {
    let certificate = certificate.ok_or(CertError::MissingCertificate(role))?;
    let details = certificate
        .details
        .as_deref()
        .ok_or(CertError::MissingDetails(role))?;
    let signature = certificate
        .signature
        .as_deref()
        .ok_or(CertError::MissingSignature(role))?;
    let signature = <[u8; 64]>::try_from(signature).map_err(|_| CertError::SignatureLength {
        role,
        len: signature.len(),
    })?;
    Ok((details, signature))
}

/// Decodes one certificate's details; the key and both validity bounds must be present.
fn decode_details(bytes: &[u8], role: CertRole) -> Result<CertificateInfo, CertError> {
    let details =
        Details::decode(bytes).map_err(|error| CertError::MalformedDetails { role, error })?;
    let key = details.key.ok_or(CertError::MissingKey(role))?;
    let key = <[u8; 32]>::try_from(key.as_ref()).map_err(|_| CertError::KeyLength {
        role,
        len: key.len(),
    })?;
    let not_before = details.not_before.ok_or(CertError::MissingValidity {
        role,
        field: "not_before",
    })?;
    let not_after = details.not_after.ok_or(CertError::MissingValidity {
        role,
        field: "not_after",
    })?;
    Ok(CertificateInfo {
        serial: details.serial.unwrap_or_default(),
        issuer_serial: details.issuer_serial.unwrap_or_default(),
        key,
        not_before,
        not_after,
    })
}

/// `not_before ≤ now ≤ not_after`, both bounds inclusive (as whatsmeow).
fn check_validity(info: &CertificateInfo, role: CertRole, now: u64) -> Result<(), CertError> {
    if now < info.not_before {
        return Err(CertError::NotYetValid {
            role,
            now,
            not_before: info.not_before,
        });
    }
    if now > info.not_after {
        return Err(CertError::Expired {
            role,
            now,
            not_after: info.not_after,
        });
    }
    Ok(())
}
