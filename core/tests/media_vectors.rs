//! The media vectors of `protocol/media-vector/vec.json` (copied to `tests/data`), reproduced
//! byte for byte: the 13-row HKDF table, the five encryption vectors (keys, ciphertext, MAC,
//! hashes, upload token and URL) and the media-retry receipt and notification.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use prost::Message as _;
use serde_json::Value;
use tether_core::binary::Node;
use tether_core::media::cipher::{self, MediaDecryptor, MediaEncryptor};
use tether_core::media::retry::{self, RetryTarget};
use tether_core::media::urls;
use tether_core::media::{Digests, Expected, MediaKey, MediaKind};
use tether_core::proto::media::{MediaRetryNotification, MediaRetryResult, ServerErrorReceipt};

fn vectors() -> Value {
    serde_json::from_str(include_str!("data/media-vector.json")).unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn key(v: &Value) -> MediaKey {
    MediaKey::from_slice(&bytes(v)).unwrap()
}

fn kind_of(info: &str) -> MediaKind {
    let kinds: Vec<MediaKind> = MediaKind::ALL
        .into_iter()
        .filter(|k| k.hkdf_info() == info)
        .collect();
    assert!(!kinds.is_empty(), "no kind for {info}");
    kinds[0]
}

/// The vectors' deterministic plaintext (`gen.js` `plain`).
fn plain(name: &str, len: usize) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut out = Vec::new();
    let mut i = 0u32;
    while out.len() < len {
        let mut h = Sha256::new();
        h.update(format!("tether-media-vector:plain:{name}:").as_bytes());
        h.update(i.to_be_bytes());
        out.extend_from_slice(&h.finalize());
        i += 1;
    }
    out.truncate(len);
    out
}

fn plaintext_of(v: &Value) -> Vec<u8> {
    let name = v["name"].as_str().unwrap();
    let len = v["plaintextLength"].as_u64().unwrap() as usize;
    match name {
        "image-short" => b"Tether media vector: a short image body.\n".to_vec(),
        "document-empty" => Vec::new(),
        _ => plain(name, len),
    }
}

#[test]
fn hkdf_table_matches_for_every_info_string() {
    let v = vectors();
    let table = &v["hkdfTable"];
    let k = key(&table["mediaKey"]);
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 13);
    for row in rows {
        let kind = kind_of(row["info"].as_str().unwrap());
        let keys = k.expand(kind);
        let expanded = [
            &keys.iv()[..],
            keys.cipher_key(),
            keys.mac_key(),
            keys.ref_key(),
        ]
        .concat();
        assert_eq!(
            hex::encode(expanded),
            row["expanded"].as_str().unwrap(),
            "{kind}"
        );
    }
}

#[test]
fn encryption_vectors_byte_for_byte() {
    let v = vectors();
    for vector in v["vectors"].as_array().unwrap() {
        let name = vector["name"].as_str().unwrap();
        let kind = kind_of(vector["info"].as_str().unwrap());
        assert_eq!(
            format!("/mms/{}", kind.mms_type().unwrap()),
            vector["mmsPath"].as_str().unwrap()
        );
        let k = key(&vector["mediaKey"]);
        let keys = k.expand(kind);
        assert_eq!(
            hex::encode(keys.iv()),
            vector["iv"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            hex::encode(keys.cipher_key()),
            vector["cipherKey"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(keys.mac_key()),
            vector["macKey"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(keys.ref_key()),
            vector["refKey"].as_str().unwrap()
        );
        let plaintext = plaintext_of(vector);
        assert_eq!(
            hex::encode(&plaintext[..plaintext.len().min(32)]),
            vector["plaintextHead"].as_str().unwrap()
        );
        // Streaming in uneven chunks gives the vector's bytes.
        let mut encryptor = MediaEncryptor::new(&keys);
        let mut enc = Vec::new();
        for chunk in plaintext.chunks(4099) {
            encryptor.update(chunk, &mut enc);
        }
        let digests = encryptor.finish(&mut enc);
        assert_eq!(
            enc.len() as u64,
            vector["encLength"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(digests.enc_length(), enc.len() as u64);
        if let Some(hex_enc) = vector["encHex"].as_str() {
            assert_eq!(hex::encode(&enc), hex_enc, "{name}");
        }
        assert_eq!(
            hex::encode(&enc[..32.min(enc.len())]),
            vector["encHead"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(&enc[enc.len().saturating_sub(32)..]),
            vector["encTail"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(&enc[enc.len() - 10..]),
            vector["mac"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(digests.file_sha256),
            vector["plaintextSha256"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(digests.file_enc_sha256),
            vector["fileEncSha256"].as_str().unwrap()
        );
        assert_eq!(digests.file_length, plaintext.len() as u64);
        // Upload token (unpadded and padded) and URL.
        let token = urls::upload_token(&digests.file_enc_sha256);
        assert_eq!(token, vector["uploadToken"].as_str().unwrap());
        assert_eq!(
            urls::decode_token(vector["uploadTokenPadded"].as_str().unwrap()),
            Some(digests.file_enc_sha256)
        );
        let request =
            urls::upload_request("media.example.invalid", kind, "AUTH", &digests).unwrap();
        assert_eq!(
            format!("https://{}{}", request.target.host, request.target.path),
            vector["uploadUrl"].as_str().unwrap()
        );
        // And back, verified, in chunks of another size.
        let expected = Expected {
            file_enc_sha256: digests.file_enc_sha256,
            file_sha256: digests.file_sha256,
            file_length: Some(digests.file_length),
        };
        let mut decryptor = MediaDecryptor::new(&keys, expected);
        let mut back = Vec::new();
        for chunk in enc.chunks(1000) {
            decryptor.update(chunk, &mut back).unwrap();
        }
        decryptor.finish(&mut back).unwrap();
        assert_eq!(back, plaintext, "{name}");
        let _: Digests = digests;
    }
}

#[test]
fn a_flipped_byte_anywhere_is_refused() {
    let v = vectors();
    let vector = &v["vectors"][3]; // ptt-70000
    let kind = kind_of(vector["info"].as_str().unwrap());
    let keys = key(&vector["mediaKey"]).expand(kind);
    let plaintext = plaintext_of(vector);
    let (enc, digests) = cipher::encrypt(&keys, &plaintext);
    let expected = Expected {
        file_enc_sha256: digests.file_enc_sha256,
        file_sha256: digests.file_sha256,
        file_length: Some(digests.file_length),
    };
    for position in [0, 1000, enc.len() / 2, enc.len() - 11, enc.len() - 1] {
        let mut bad = enc.clone();
        bad[position] ^= 0x80;
        assert!(
            cipher::decrypt(&keys, expected, &bad).is_err(),
            "byte {position}"
        );
    }
}

#[test]
fn media_retry_vector() {
    let v = vectors();
    let r = &v["mediaRetry"];
    let image = &v["vectors"][0];
    let k = key(&image["mediaKey"]);
    assert_eq!(hex::encode(k.retry_key()), r["retryKey"].as_str().unwrap());
    let id = r["stanzaId"].as_str().unwrap();
    assert_eq!(
        hex::encode(
            ServerErrorReceipt {
                stanza_id: Some(id.into())
            }
            .encode_to_vec()
        ),
        r["serverErrorReceipt"].as_str().unwrap()
    );
    let target = RetryTarget {
        id: id.into(),
        chat: "15550001@s.whatsapp.net".parse().unwrap(),
        from_me: false,
        participant: None,
    };
    let own = "15559999@s.whatsapp.net".parse().unwrap();
    let iv: [u8; 12] = bytes(&r["receiptIv"]).try_into().unwrap();
    let receipt = retry::retry_receipt(&target, &own, &k, iv);
    let enc_p = receipt.child("encrypt").unwrap().child("enc_p").unwrap();
    assert_eq!(
        enc_p.content,
        tether_core::binary::Content::Bytes(bytes(&r["encP"]).into())
    );
    // The notification of the vector decrypts to SUCCESS and its direct path.
    let notification = Node::new("notification")
        .attr("id", id.to_owned())
        .attr("type", "mediaretry")
        .attr("t", "1800000000")
        .children(vec![
            Node::new("rmr")
                .jid_attr("jid", target.chat.clone())
                .attr("from_me", "false"),
            Node::new("encrypt").children(vec![
                Node::new("enc_p").bytes(bytes(&r["notificationEncP"])),
                Node::new("enc_iv").bytes(bytes(&r["notificationIv"])),
            ]),
        ]);
    assert_eq!(
        retry::read_retry_notification(&notification, &k),
        Ok(r["directPath"].as_str().unwrap().to_owned())
    );
    let decoded =
        MediaRetryNotification::decode(bytes(&r["mediaRetryNotification"]).as_slice()).unwrap();
    assert_eq!(decoded.result, Some(MediaRetryResult::Success as i32));
    // Our own notification with the vector's IV is the vector's bytes.
    let ours = retry::retry_notification(
        &target,
        &k,
        &retry::RetryAnswer::Success(r["directPath"].as_str().unwrap().into()),
        1_800_000_000,
        bytes(&r["notificationIv"]).try_into().unwrap(),
    );
    assert_eq!(
        ours.child("encrypt")
            .unwrap()
            .child("enc_p")
            .unwrap()
            .content,
        tether_core::binary::Content::Bytes(bytes(&r["notificationEncP"]).into())
    );
}
