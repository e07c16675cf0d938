"""Data converter of every client and worker: PII in histories is AES-GCM ciphertext.

Every payload (workflow and activity inputs and results, signals, updates, queries,
memos, summaries) leaves the process encrypted with the key ring's active key
(AES-256-GCM, a random 12-byte nonce); the payload's metadata says
``encoding: binary/encrypted`` and which key (``encryption-key-id``), so rotated-out
keys still decrypt what they wrote. Failure messages and stack traces move into the
failure's encoded attributes and are encrypted with them. Search attributes are not
payloads the codec sees: they must never hold PII (``workflows.search_attributes``).

The format is the one of Temporal's ``encryption`` samples (the encrypted content
is the original ``Payload`` serialized), so a codec server in another language can
read it given the keys. Payloads without the encrypted encoding pass through
decoding untouched: histories written before the codec stay readable.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from workers.keyring import KeyRing, KeyRingSource
from workers.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class CodecKeyError(ValueError):
    """A payload cannot be decrypted: its key is unknown, or the key does not fit."""


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over whole payloads, with the key id in the metadata."""

    def __init__(self, keys: KeyRingSource | KeyRing) -> None:
        super().__init__()
        self._keys = keys
        self._ciphers: dict[tuple[str, bytes], AESGCM] = {}

    def _ring(self) -> KeyRing:
        return self._keys.current() if isinstance(self._keys, KeyRingSource) else self._keys

    def _cipher(self, key_id: str, secret: bytes) -> AESGCM:
        cipher = self._ciphers.get((key_id, secret))
        if cipher is None:
            cipher = self._ciphers[(key_id, secret)] = AESGCM(secret)
        return cipher

    @property
    def active_key_id(self) -> str:
        return self._ring().active

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self.encrypt(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self.decrypt(payloads)

    def encrypt(self, payloads: Sequence[Payload]) -> list[Payload]:
        key = self._ring().active_key
        cipher = self._cipher(key.key_id, key.secret)
        encoded: list[Payload] = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), None)
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: key.key_id.encode()},
                    data=nonce + sealed,
                )
            )
        return encoded

    def decrypt(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded: list[Payload] = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                decoded.append(payload)  # never encrypted (e.g. written before the codec)
                continue
            key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
            ring = self._ring()
            key = ring.get(key_id)
            if key is None and isinstance(self._keys, KeyRingSource):
                ring = self._keys.reload()  # rotated by another process since we loaded
                key = ring.get(key_id)
            if key is None:
                raise CodecKeyError(
                    f"payload encrypted with codec key id {key_id!r}, which this key ring "
                    f"({ring.source}) does not hold; it has {', '.join(ring.keys)}. Add the "
                    "old key back (RECOUP_CODEC_KEYS or the key ring file) to read it."
                )
            data = payload.data
            try:
                plain = self._cipher(key.key_id, key.secret).decrypt(
                    data[:NONCE_BYTES], data[NONCE_BYTES:], None
                )
            except InvalidTag as exc:
                raise CodecKeyError(
                    f"payload encrypted with codec key id {key_id!r} does not decrypt with "
                    "the key of that id here: a different key under the same id, or the "
                    "payload was altered"
                ) from exc
            decoded.append(Payload.FromString(plain))
        return decoded


def codec(settings: Settings) -> EncryptionCodec:
    """The codec of ``settings``' key ring (created in data_dir when none is configured)."""
    return EncryptionCodec(KeyRingSource(settings))


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic payloads, encrypted by the codec, with encoded failure messages."""
    if not settings.codec_enabled:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec(settings),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
