"""The codec deflates large payloads under its encryption, and reads what it wrote before."""

from __future__ import annotations

import os
import zlib

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload

from bootstrap import keyring
from bootstrap.codec import (
    COMPRESS_MIN_BYTES,
    COMPRESSED,
    ENCODING,
    KEY_ID,
    NONCE_BYTES,
    TENANT_LABEL,
    CodecKeyError,
    EncryptionCodec,
    associated_data,
)
from bootstrap.settings import Settings
from tests.conftest import codec_settings


@pytest.fixture
def codec() -> EncryptionCodec:
    return EncryptionCodec(keyring.from_settings(Settings(**codec_settings()))).for_tenant("acme")


def json_payload(data: bytes) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


def opened(codec: EncryptionCodec, payload: Payload) -> bytes:
    """What is under the encryption (the test holds the key)."""
    ring = keyring.from_settings(Settings(**codec_settings()))
    key = ring.get(payload.metadata[KEY_ID].decode())
    assert key is not None
    return AESGCM(key.secret).decrypt(
        payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], associated_data(codec.tenant)
    )


def test_a_large_payload_is_deflated_under_the_encryption_and_comes_back_whole(
    codec: EncryptionCodec,
) -> None:
    original = json_payload(b'{"records": [' + b'{"tenant_id": "acme", "n": 1},' * 200 + b"{}]}")
    [sealed] = codec.encrypt([original])
    assert sealed.metadata["encoding"] == ENCODING
    inner = Payload.FromString(opened(codec, sealed))
    assert inner.metadata["encoding"] == COMPRESSED
    assert len(sealed.data) < original.ByteSize() / 4
    assert codec.decrypt([sealed]) == [original]


def test_a_small_or_incompressible_payload_is_encrypted_as_it_is(codec: EncryptionCodec) -> None:
    small = json_payload(b'{"a": 1}')
    noise = json_payload(os.urandom(4 * COMPRESS_MIN_BYTES))
    for payload in (small, noise):
        [sealed] = codec.encrypt([payload])
        assert Payload.FromString(opened(codec, sealed)) == payload
        assert codec.decrypt([sealed]) == [payload]


def test_payloads_encrypted_before_compression_still_decrypt(codec: EncryptionCodec) -> None:
    """What every history written before this change holds: the payload, sealed whole."""
    original = json_payload(b'{"k": "' + b"v" * 5000 + b'"}')
    ring = keyring.from_settings(Settings(**codec_settings()))
    key = ring.active_key
    nonce = os.urandom(NONCE_BYTES)
    sealed_data = AESGCM(key.secret).encrypt(
        nonce, original.SerializeToString(), associated_data("acme")
    )
    old = Payload(
        metadata={"encoding": ENCODING, KEY_ID: key.key_id.encode(), TENANT_LABEL: b"acme"},
        data=nonce + sealed_data,
    )
    assert codec.decrypt([old]) == [original]


def test_a_compressed_payload_that_does_not_inflate_is_refused(codec: EncryptionCodec) -> None:
    broken = Payload(metadata={"encoding": COMPRESSED}, data=zlib.compress(b"x" * 1000)[:-6])
    [sealed] = codec.encrypt([broken])  # sealed as it is: under the threshold once deflated
    with pytest.raises(CodecKeyError, match=r"cut short|does not inflate"):
        codec.decrypt([sealed])
