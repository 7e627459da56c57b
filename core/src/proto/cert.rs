//! The server certificate chain carried (encrypted) in `ServerHello.payload`
//! (`protocol/transport.md` §5.1; whatsmeow `proto/waCert/WACert.proto`, `CertChain`).
//!
//! ```text
//! CertChain        { 1 leaf: NoiseCertificate, 2 intermediate: NoiseCertificate }
//! NoiseCertificate { 1 details: bytes (a serialized Details), 2 signature: bytes (64) }
//! Details          { 1 serial: uint32, 2 issuerSerial: uint32, 3 key: bytes (32),
//!                    4 notBefore: uint64, 5 notAfter: uint64 }
//! ```
//!
//! proto2, every field optional, so every field is an `Option` and absence stays visible.
//! Signatures cover the `details` bytes exactly as received: keep them as bytes and decode
//! [`Details`] separately. The verification rules live in [`crate::cert`].

use bytes::Bytes;

/// `CertChain`: the leaf certificate (the server's Noise static key) and the intermediate that
/// signed it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CertChain {
    /// Field 1: the leaf certificate, signed by the intermediate.
    #[prost(message, optional, tag = "1")]
    pub leaf: Option<NoiseCertificate>,
    /// Field 2: the intermediate certificate, signed by the root.
    #[prost(message, optional, tag = "2")]
    pub intermediate: Option<NoiseCertificate>,
}

/// `CertChain.NoiseCertificate`: serialized details plus a signature over exactly those bytes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NoiseCertificate {
    /// Field 1: a serialized [`Details`] message.
    #[prost(bytes = "bytes", optional, tag = "1")]
    pub details: Option<Bytes>,
    /// Field 2: the issuer's 64-byte signature over `details`.
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub signature: Option<Bytes>,
}

/// `CertChain.NoiseCertificate.Details`: what a certificate certifies.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Details {
    /// Field 1: this certificate's serial.
    #[prost(uint32, optional, tag = "1")]
    pub serial: Option<u32>,
    /// Field 2: the signer's serial (0 = the WhatsApp root).
    #[prost(uint32, optional, tag = "2")]
    pub issuer_serial: Option<u32>,
    /// Field 3: the certified 32-byte X25519 public key.
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub key: Option<Bytes>,
    /// Field 4: start of validity, Unix seconds.
    #[prost(uint64, optional, tag = "4")]
    pub not_before: Option<u64>,
    /// Field 5: end of validity, Unix seconds.
    #[prost(uint64, optional, tag = "5")]
    pub not_after: Option<u64>,
}
