//! Server certificate chain verification (whatsmeow's checks) and the chain builder, against
//! the test chain of `protocol/test-vectors.md` §3.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use proptest::prelude::*;
use prost::Message;
use tether_core::cert::{
    CertError, CertRole, CertificateInfo, WHATSAPP_ROOT_PUBLIC_KEY, build_chain, sign_certificate,
    verify_chain,
};
use tether_core::crypto::xeddsa;
use tether_core::proto::cert::{CertChain, Details, NoiseCertificate};

const TEST_ROOT_PRIV: &str = "eedaa1fd6a7de98d1b3c23a3b7660a223b5a8f447220f8211677936e580af8c2";
const TEST_ROOT_PUB: &str = "d35255c864a538f77ecbcb0b68e1f418cedc7eb0bbcb180df9b3517f1c17e121";
const TEST_INTERMEDIATE_PRIV: &str =
    "7f4117521c0f60bc9caa895aeaf3adbb4562f03edf86ddb78046023773e202b1";
const TEST_INTERMEDIATE_PUB: &str =
    "92044e96eb6ecffa1fe2662e5506ed743a833d86ff79d7b07265d2567543e973";
const SERVER_STATIC_PUB: &str = "427265d836c915925b7db24ebb0e6be96b23a96d50dcfd9f9866aba150a5a50c";
const CLIENT_STATIC_PUB: &str = "71a2969a5bb2ed262864d34135bd450fb621a740f240a980a6f349e4d8c96146";

/// The serialized `CertChain` of test-vectors.md §3.1 (plaintext of `ServerHello.payload`).
const VECTOR_CHAIN: &str = concat!(
    "0a760a32082a10071a20427265d836c915925b7db24ebb0e6be96b23a96d50dc",
    "fd9f9866aba150a5a50c2080e2cfaa062880e6fe8907124090d8d9bfb1daf5ab",
    "7e0d223d5263200ebe73409c8ba4d25a8e4927edd3e19aa19cb63b01bdcb6f2f",
    "9e503e05fdefd1648484a5a23e53498aa74c7798ece7940312760a3208071000",
    "1a2092044e96eb6ecffa1fe2662e5506ed743a833d86ff79d7b07265d2567543",
    "e9732080e2cfaa062880a8d6b9071240e5955df63647de53eb96aca17ef1aa88",
    "8bfdfb8f900f34f463918cf14ae16739fbb66c909de1173163e7baa2434c2ccd",
    "0ae976777dafbac818ca80b7d6ca2780",
);

const NOW: u64 = 1_800_000_000;

fn arr<const N: usize>(hex_str: &str) -> [u8; N] {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

fn vector_chain() -> Vec<u8> {
    hex::decode(VECTOR_CHAIN).unwrap()
}

fn test_root() -> [u8; 32] {
    arr(TEST_ROOT_PUB)
}

fn server_static() -> [u8; 32] {
    arr(SERVER_STATIC_PUB)
}

fn intermediate_info() -> CertificateInfo {
    CertificateInfo {
        serial: 7,
        issuer_serial: 0,
        key: arr(TEST_INTERMEDIATE_PUB),
        not_before: 1_700_000_000,
        not_after: 2_000_000_000,
    }
}

fn leaf_info() -> CertificateInfo {
    CertificateInfo {
        serial: 42,
        issuer_serial: 7,
        key: server_static(),
        not_before: 1_700_000_000,
        not_after: 1_900_000_000,
    }
}

fn build(intermediate: &CertificateInfo, leaf: &CertificateInfo) -> Vec<u8> {
    build_chain(
        &arr(TEST_ROOT_PRIV),
        &arr(TEST_INTERMEDIATE_PRIV),
        intermediate,
        leaf,
    )
}

fn verify(chain: &[u8], now: u64) -> Result<tether_core::cert::VerifiedChain, CertError> {
    verify_chain(chain, &server_static(), now, &[test_root()])
}

/// Re-serializes the vector chain after `edit` changed its decoded form.
fn edited_chain(edit: impl FnOnce(&mut CertChain)) -> Vec<u8> {
    let mut chain = CertChain::decode(vector_chain().as_slice()).unwrap();
    edit(&mut chain);
    chain.encode_to_vec()
}

/// A chain whose certificates carry raw `Details` bytes, properly signed by the test keys, so
/// checks after the signatures can be reached with malformed details.
fn chain_with_raw_details(intermediate_details: Vec<u8>, leaf_details: Vec<u8>) -> Vec<u8> {
    let certificate = |issuer: &str, details: Vec<u8>| NoiseCertificate {
        signature: Some(Bytes::copy_from_slice(&xeddsa::sign_deterministic(
            &arr(issuer),
            &details,
        ))),
        details: Some(Bytes::from(details)),
    };
    CertChain {
        leaf: Some(certificate(TEST_INTERMEDIATE_PRIV, leaf_details)),
        intermediate: Some(certificate(TEST_ROOT_PRIV, intermediate_details)),
    }
    .encode_to_vec()
}

fn details(info: &CertificateInfo) -> Details {
    Details::decode(info.encode_details().as_slice()).unwrap()
}

#[test]
fn vector_chain_verifies_with_test_root_across_its_window() {
    for now in [1_700_000_000, NOW, 1_900_000_000] {
        let verified = verify(&vector_chain(), now).unwrap();
        assert_eq!(verified.intermediate, intermediate_info());
        assert_eq!(verified.leaf, leaf_info());
        assert_eq!(verified.root, test_root());
    }
}

#[test]
fn vector_chain_verifies_when_test_root_is_one_of_several_roots() {
    let roots = [WHATSAPP_ROOT_PUBLIC_KEY, test_root()];
    let verified = verify_chain(&vector_chain(), &server_static(), NOW, &roots).unwrap();
    assert_eq!(verified.root, test_root());
}

#[test]
fn rejects_vector_chain_under_the_real_whatsapp_root() {
    assert_eq!(
        WHATSAPP_ROOT_PUBLIC_KEY,
        arr::<32>("142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b")
    );
    let err = verify_chain(
        &vector_chain(),
        &server_static(),
        NOW,
        &[WHATSAPP_ROOT_PUBLIC_KEY],
    )
    .unwrap_err();
    assert_eq!(err, CertError::UntrustedIntermediate { roots: 1 });
}

#[test]
fn rejects_any_chain_without_trusted_roots() {
    let err = verify_chain(&vector_chain(), &server_static(), NOW, &[]).unwrap_err();
    assert_eq!(err, CertError::UntrustedIntermediate { roots: 0 });
}

#[test]
fn rejects_tampered_intermediate_signature() {
    let chain = edited_chain(|c| {
        let cert = c.intermediate.as_mut().unwrap();
        let mut sig = cert.signature.as_ref().unwrap().to_vec();
        sig[10] ^= 0x04;
        cert.signature = Some(sig.into());
    });
    assert_eq!(
        verify(&chain, NOW).unwrap_err(),
        CertError::UntrustedIntermediate { roots: 1 }
    );
}

#[test]
fn rejects_tampered_leaf_signature() {
    let chain = edited_chain(|c| {
        let cert = c.leaf.as_mut().unwrap();
        let mut sig = cert.signature.as_ref().unwrap().to_vec();
        sig[0] ^= 0x01;
        cert.signature = Some(sig.into());
    });
    assert_eq!(
        verify(&chain, NOW).unwrap_err(),
        CertError::BadLeafSignature
    );
}

#[test]
fn rejects_tampered_intermediate_details() {
    // notAfter pushed from 2000000000 to a later value, signature kept.
    let chain = edited_chain(|c| {
        let cert = c.intermediate.as_mut().unwrap();
        let mut details = cert.details.as_ref().unwrap().to_vec();
        let last = details.len() - 1;
        details[last - 1] ^= 0x01;
        cert.details = Some(details.into());
    });
    assert_eq!(
        verify(&chain, NOW).unwrap_err(),
        CertError::UntrustedIntermediate { roots: 1 }
    );
}

#[test]
fn rejects_tampered_leaf_details() {
    // The certified key swapped for the client's, signature kept.
    let chain = edited_chain(|c| {
        let cert = c.leaf.as_mut().unwrap();
        let mut d = Details::decode(cert.details.clone().unwrap()).unwrap();
        d.key = Some(Bytes::copy_from_slice(&arr::<32>(CLIENT_STATIC_PUB)));
        cert.details = Some(d.encode_to_vec().into());
    });
    let err = verify_chain(&chain, &arr(CLIENT_STATIC_PUB), NOW, &[test_root()]).unwrap_err();
    assert_eq!(err, CertError::BadLeafSignature);
}

#[test]
fn rejects_intermediate_not_issued_by_the_root_serial() {
    let intermediate = CertificateInfo {
        issuer_serial: 1,
        ..intermediate_info()
    };
    let err = verify(&build(&intermediate, &leaf_info()), NOW).unwrap_err();
    assert_eq!(err, CertError::IntermediateIssuerSerial { found: 1 });
}

#[test]
fn rejects_leaf_with_wrong_issuer_serial() {
    let leaf = CertificateInfo {
        issuer_serial: 8,
        ..leaf_info()
    };
    let err = verify(&build(&intermediate_info(), &leaf), NOW).unwrap_err();
    assert_eq!(
        err,
        CertError::LeafIssuerSerial {
            found: 8,
            expected: 7
        }
    );
    assert!(err.to_string().contains("leaf"), "{err}");
}

#[test]
fn rejects_leaf_key_that_is_not_the_server_static_key() {
    let err = verify_chain(
        &vector_chain(),
        &arr(CLIENT_STATIC_PUB),
        NOW,
        &[test_root()],
    )
    .unwrap_err();
    assert_eq!(err, CertError::LeafKeyMismatch);
}

#[test]
fn rejects_leaf_signed_by_a_key_other_than_the_intermediate_key() {
    // The intermediate certifies the client static key, but the leaf is signed with the
    // intermediate's real private key.
    let intermediate = CertificateInfo {
        key: arr(CLIENT_STATIC_PUB),
        ..intermediate_info()
    };
    let err = verify(&build(&intermediate, &leaf_info()), NOW).unwrap_err();
    assert_eq!(err, CertError::BadLeafSignature);
}

#[test]
fn reports_expired_leaf_and_intermediate_distinctly() {
    assert_eq!(
        verify(&vector_chain(), 1_900_000_001).unwrap_err(),
        CertError::Expired {
            role: CertRole::Leaf,
            now: 1_900_000_001,
            not_after: 1_900_000_000
        }
    );
    let err = verify(&vector_chain(), 2_000_000_001).unwrap_err();
    assert_eq!(
        err,
        CertError::Expired {
            role: CertRole::Intermediate,
            now: 2_000_000_001,
            not_after: 2_000_000_000
        }
    );
    assert!(
        err.to_string().contains("intermediate certificate expired"),
        "{err}"
    );
}

#[test]
fn reports_not_yet_valid_intermediate_and_leaf_distinctly() {
    assert_eq!(
        verify(&vector_chain(), 1_699_999_999).unwrap_err(),
        CertError::NotYetValid {
            role: CertRole::Intermediate,
            now: 1_699_999_999,
            not_before: 1_700_000_000
        }
    );
    let leaf = CertificateInfo {
        not_before: 1_850_000_000,
        ..leaf_info()
    };
    let err = verify(&build(&intermediate_info(), &leaf), NOW).unwrap_err();
    assert_eq!(
        err,
        CertError::NotYetValid {
            role: CertRole::Leaf,
            now: NOW,
            not_before: 1_850_000_000
        }
    );
    assert!(
        err.to_string().contains("leaf certificate not yet valid"),
        "{err}"
    );
}

#[test]
fn rejects_truncated_chain_without_panicking() {
    let chain = vector_chain();
    assert!(matches!(
        verify(&chain[..chain.len() - 1], NOW),
        Err(CertError::MalformedChain(_))
    ));
    for len in 0..chain.len() {
        assert!(
            verify(&chain[..len], NOW).is_err(),
            "prefix of {len} bytes accepted"
        );
    }
}

#[test]
fn rejects_garbage() {
    assert!(matches!(
        verify(&[0xFF; 40], NOW),
        Err(CertError::MalformedChain(_))
    ));
    assert!(matches!(
        verify(b"\x0a\x05hello", NOW),
        Err(CertError::MalformedChain(_))
    ));
}

#[test]
fn rejects_missing_certificates() {
    assert_eq!(
        verify(&[], NOW).unwrap_err(),
        CertError::MissingCertificate(CertRole::Intermediate)
    );
    let chain = edited_chain(|c| c.leaf = None);
    assert_eq!(
        verify(&chain, NOW).unwrap_err(),
        CertError::MissingCertificate(CertRole::Leaf)
    );
}

#[test]
fn rejects_missing_details_and_signatures() {
    let chain = edited_chain(|c| c.leaf.as_mut().unwrap().details = None);
    assert_eq!(
        verify(&chain, NOW).unwrap_err(),
        CertError::MissingDetails(CertRole::Leaf)
    );
    let chain = edited_chain(|c| c.intermediate.as_mut().unwrap().signature = None);
    assert_eq!(
        verify(&chain, NOW).unwrap_err(),
        CertError::MissingSignature(CertRole::Intermediate)
    );
}

#[test]
fn rejects_signatures_that_are_not_64_bytes() {
    let chain = edited_chain(|c| {
        let cert = c.leaf.as_mut().unwrap();
        cert.signature = Some(cert.signature.as_ref().unwrap().slice(..63));
    });
    assert_eq!(
        verify(&chain, NOW).unwrap_err(),
        CertError::SignatureLength {
            role: CertRole::Leaf,
            len: 63
        }
    );
    let chain =
        edited_chain(|c| c.intermediate.as_mut().unwrap().signature = Some(vec![0; 65].into()));
    assert_eq!(
        verify(&chain, NOW).unwrap_err(),
        CertError::SignatureLength {
            role: CertRole::Intermediate,
            len: 65
        }
    );
}

#[test]
fn rejects_signed_details_that_are_not_a_protobuf() {
    let chain = chain_with_raw_details(vec![0xFF, 0xFF], intermediate_info().encode_details());
    assert!(matches!(
        verify(&chain, NOW),
        Err(CertError::MalformedDetails {
            role: CertRole::Intermediate,
            ..
        })
    ));
}

#[test]
fn rejects_signed_details_without_a_key_or_with_a_short_key() {
    let mut no_key = details(&intermediate_info());
    no_key.key = None;
    let chain = chain_with_raw_details(no_key.encode_to_vec(), leaf_info().encode_details());
    assert_eq!(
        verify(&chain, NOW).unwrap_err(),
        CertError::MissingKey(CertRole::Intermediate)
    );

    let mut short_key = details(&leaf_info());
    short_key.key = Some(Bytes::copy_from_slice(&server_static()[..31]));
    let chain = chain_with_raw_details(
        intermediate_info().encode_details(),
        short_key.encode_to_vec(),
    );
    assert_eq!(
        verify(&chain, NOW).unwrap_err(),
        CertError::KeyLength {
            role: CertRole::Leaf,
            len: 31
        }
    );
}

#[test]
fn rejects_signed_details_without_validity_bounds() {
    let mut no_not_after = details(&leaf_info());
    no_not_after.not_after = None;
    let chain = chain_with_raw_details(
        intermediate_info().encode_details(),
        no_not_after.encode_to_vec(),
    );
    assert_eq!(
        verify(&chain, NOW).unwrap_err(),
        CertError::MissingValidity {
            role: CertRole::Leaf,
            field: "not_after"
        }
    );
    let mut no_not_before = details(&intermediate_info());
    no_not_before.not_before = None;
    let chain = chain_with_raw_details(no_not_before.encode_to_vec(), leaf_info().encode_details());
    assert_eq!(
        verify(&chain, NOW).unwrap_err(),
        CertError::MissingValidity {
            role: CertRole::Intermediate,
            field: "not_before"
        }
    );
}

#[test]
fn absent_issuer_serial_reads_as_zero_like_any_proto2_reader() {
    let mut implicit = details(&intermediate_info());
    implicit.issuer_serial = None;
    let chain = chain_with_raw_details(implicit.encode_to_vec(), leaf_info().encode_details());
    let verified = verify(&chain, NOW).unwrap();
    assert_eq!(verified.intermediate.issuer_serial, 0);
}

#[test]
fn builder_reproduces_the_vector_chain_byte_for_byte() {
    assert_eq!(
        hex::encode(build(&intermediate_info(), &leaf_info())),
        VECTOR_CHAIN
    );
}

#[test]
fn builder_signs_each_certificate_with_its_issuer_key() {
    let cert = sign_certificate(&arr(TEST_ROOT_PRIV), &intermediate_info());
    let details = cert.details.unwrap();
    assert_eq!(
        details.as_ref(),
        intermediate_info().encode_details().as_slice()
    );
    let signature: [u8; 64] = cert.signature.unwrap().as_ref().try_into().unwrap();
    assert!(xeddsa::verify(&test_root(), &details, &signature));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        prop_assert!(verify(&bytes, NOW).is_err());
    }

    #[test]
    fn any_single_byte_change_of_the_vector_chain_is_rejected_or_harmless(
        index in 0usize..240,
        xor in 1u8..=255,
    ) {
        let mut chain = vector_chain();
        chain[index] ^= xor;
        // Either refused, or the change hit bytes no check depends on and the result is the
        // genuine chain's.
        if let Ok(verified) = verify(&chain, NOW) {
            prop_assert_eq!(verified, verify(&vector_chain(), NOW).unwrap());
        }
    }
}
