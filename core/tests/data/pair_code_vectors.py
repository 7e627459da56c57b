#!/usr/bin/env python3
"""Generates pair-code-vectors.json: golden values for Tether's pair-code linking, computed with
an implementation independent of Tether's (Python hashlib/hmac and the `cryptography` package,
OpenSSL underneath), from protocol/session.md §3.9 and DESIGN §3.2.

Run: python3 core/tests/data/pair_code_vectors.py > core/tests/data/pair-code-vectors.json
"""
import base64
import hashlib
import hmac
import json

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"
ROUNDS = 2 << 16


def code_of(five):
    # Go's base32 (RFC 4648 bit order) over the linking alphabet, no padding.
    std = base64.b32encode(five).decode()
    return std.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET))


def code_key(code, salt):
    return hashlib.pbkdf2_hmac("sha256", code.encode(), salt, ROUNDS, 32)


def ctr(key, iv, data):
    # OpenSSL's CTR increments the whole 16-byte block as one big-endian counter.
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def wrap(code, pub, salt, iv):
    return salt + iv + ctr(code_key(code, salt), iv, pub)


def pub_of(private):
    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)


def dh(private, public):
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
    return X25519PrivateKey.from_private_bytes(private).exchange(
        X25519PublicKey.from_public_bytes(public))


def hkdf(ikm, salt, info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def pattern(start, n):
    return bytes((start + i) % 256 for i in range(n))


codes = []
for five in [bytes(5), b"\xff" * 5, bytes.fromhex("0123456789"), bytes.fromhex("a5c3e1f00f")]:
    codes.append({"random": five.hex(), "code": code_of(five)})

wraps = []
for code, salt, iv, pub in [
    ("ABCD1234", pattern(1, 32), bytes(16), pattern(0x40, 32)),
    # The low 64 bits of the counter overflow after the first block: only a 128-bit counter
    # carries into the high half.
    (code_of(bytes.fromhex("0123456789")), pattern(7, 32), bytes(8) + b"\xff" * 8, pattern(0x90, 32)),
    # The whole counter wraps to zero after the first block.
    ("ZZZZZZZZ", pattern(0xF0, 32), b"\xff" * 16, pattern(0x11, 32)),
]:
    wraps.append({
        "code": code, "salt": salt.hex(), "iv": iv.hex(), "public": pub.hex(),
        "key": code_key(code, salt).hex(), "wrapped": wrap(code, pub, salt, iv).hex(),
    })

# A full stage 1 + stage 2 exchange with fixed keys and randomness.
code_random = bytes.fromhex("5a17c0de42")
code = code_of(code_random)
companion_eph = pattern(0x21, 32)
companion_identity = pattern(0x41, 32)
primary_eph = pattern(0x61, 32)
primary_identity = pattern(0x81, 32)
hello_salt, hello_iv = pattern(0xA1, 32), pattern(0xC1, 16)
primary_salt, primary_iv = pattern(0xD1, 32), pattern(0xE1, 16)
adv_random, bundle_salt, bundle_nonce = pattern(0x01, 32), pattern(0x33, 32), pattern(0x55, 12)

s_eph = dh(companion_eph, pub_of(primary_eph))
assert s_eph == dh(primary_eph, pub_of(companion_eph))
bundle_key = hkdf(s_eph, bundle_salt, b"link_code_pairing_key_bundle_encryption_key")
plain = pub_of(companion_identity) + pub_of(primary_identity) + adv_random
bundle = bundle_salt + bundle_nonce + AESGCM(bundle_key).encrypt(bundle_nonce, plain, None)
s_id = dh(companion_identity, pub_of(primary_identity))
adv_secret = hkdf(s_eph + s_id + adv_random, None, b"adv_secret")

exchange = {
    "code_random": code_random.hex(), "code": code,
    "companion_ephemeral_private": companion_eph.hex(),
    "companion_identity_private": companion_identity.hex(),
    "primary_ephemeral_private": primary_eph.hex(),
    "primary_identity_private": primary_identity.hex(),
    "hello_salt": hello_salt.hex(), "hello_iv": hello_iv.hex(),
    "primary_salt": primary_salt.hex(), "primary_iv": primary_iv.hex(),
    "adv_random": adv_random.hex(), "bundle_salt": bundle_salt.hex(),
    "bundle_nonce": bundle_nonce.hex(),
    "wrapped_companion_ephemeral": wrap(code, pub_of(companion_eph), hello_salt, hello_iv).hex(),
    "wrapped_primary_ephemeral": wrap(code, pub_of(primary_eph), primary_salt, primary_iv).hex(),
    "ephemeral_secret": s_eph.hex(),
    "bundle_key": bundle_key.hex(),
    "wrapped_key_bundle": bundle.hex(),
    "adv_secret": adv_secret.hex(),
}

# The pair-success HMAC over a fixed ADVSignedDeviceIdentity byte string.
signed_identity = bytes.fromhex("0a0a08011002180320002800") + b"\x12\x20" + pattern(0x70, 32)
adv_key = pattern(0x09, 32)
hmacs = {
    "adv_secret": adv_key.hex(), "signed_identity": signed_identity.hex(),
    "e2ee": hmac.new(adv_key, signed_identity, hashlib.sha256).hexdigest(),
    "hosted": hmac.new(adv_key, b"\x06\x05" + signed_identity, hashlib.sha256).hexdigest(),
}

print(json.dumps({"codes": codes, "wraps": wraps, "exchange": exchange, "hmac": hmacs}, indent=1))
