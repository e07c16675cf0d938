"""Data converter of every client and worker: PII in histories is AES-GCM ciphertext.

Every payload (workflow and activity inputs and results, signals, updates, queries,
memos, summaries) leaves the process encrypted with the key ring's active key
(AES-256-GCM, a random 12-byte nonce); the payload's metadata says
``encoding: binary/encrypted`` and which key (``encryption-key-id``), so rotated-out
keys still decrypt what they wrote. Failure messages and stack traces move into the
failure's encoded attributes and are encrypted with them, except a worker's failure to
decode a payload, which names the key in plaintext (``bootstrap.undecodable``). Search
attributes are not payloads the codec sees: they must never hold PII
(``workflows.search_attributes``).

Each payload of a tenant's workflow is bound to that tenant: the codec is
context-aware (``WithSerializationContext``); the SDK hands it the workflow id a
payload belongs to (the workflow's own for its input, result, signals, queries,
updates, memo and failures; the child's or the signalled workflow's for what goes to
them; the calling workflow's for activities), and when that id names a tenant
(``domain.campaign.tenant_of_workflow_id``) the payload carries ``recoup-tenant`` in
its metadata and the same tenant is AES-GCM associated data, so the label cannot be
changed or removed without the payload failing to decrypt. The codec server decodes
only payloads bound to the caller's tenant (``decrypt_for_tenant``); workers decode
every tenant's (they serve all of them). Payloads with no tenant to bind (written
before tenant binding, for workflows whose id names no tenant: the simulators' and
benchmarks', or by a conversion that names no workflow) are encrypted as they always
were, with no associated data.

The format is the one of Temporal's ``encryption`` samples (the encrypted content
is the original ``Payload`` serialized; the associated data is ``recoup-tenant``, a
NUL byte and the tenant id when the metadata names a tenant, none otherwise), so a
codec server in another language can read it given the keys. Payloads without the
encrypted encoding pass through decoding untouched: histories written before the codec
stay readable.

Payloads of ``COMPRESS_MIN_BYTES`` or more are compressed before they are encrypted,
as a codec chain would (zlib, then AES-GCM): the encrypted content is then a
``Payload`` whose ``encoding`` is ``binary/zlib`` and whose data is the original
``Payload`` serialized and deflated. Campaign payloads are JSON with repeated keys,
so a history holds about 2.5 times fewer bytes (``bench.engine``'s
``history_bytes``), and the cipher has less to do. Compression happens under the
encryption and only ever mixes one payload's own fields, all written by Recoup's
workflows and agents; it is skipped where it would not make the payload smaller.
Payloads written before compression decrypt as they always did.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import zlib
from collections.abc import Sequence
from typing import Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from bootstrap.keyring import KeyRing, KeyRingSource
from bootstrap.settings import Settings
from bootstrap.undecodable import CodecKeyError as CodecKeyError
from bootstrap.undecodable import NamedDecodeFailures
from domain.campaign import tenant_of_workflow_id

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
TENANT_LABEL = "recoup-tenant"  # the metadata key naming the bound tenant
NONCE_BYTES = 12
# Prefixes the tenant in the associated data, so that these bytes mean "tenant" and
# nothing else should associated data ever carry more.
TENANT_AAD_PREFIX = b"recoup-tenant\0"
COMPRESSED = b"binary/zlib"
# Below this, deflate's header and the metadata eat what it would save.
COMPRESS_MIN_BYTES = 256
# Temporal refuses payloads over 2 MB by default: a deflated one inflating past this
# is not Recoup's, whatever its authentication says.
INFLATE_MAX_BYTES = 64 * 1024 * 1024


class PayloadTenantError(PermissionError):
    """Payloads a tenant may not decode: another tenant's, or bound to none."""


def tenant_of(context: SerializationContext) -> str | None:
    """The tenant whose workflow a payload of ``context`` belongs to, if any."""
    workflow_contexts = WorkflowSerializationContext | ActivitySerializationContext
    if isinstance(context, workflow_contexts) and context.workflow_id:
        return tenant_of_workflow_id(context.workflow_id)
    return None  # e.g. a Nexus operation, or an activity started by a client


def bound_tenant(payload: Payload) -> str | None:
    """The tenant an encrypted payload is labelled with (authenticated only by decrypting)."""
    label = payload.metadata.get(TENANT_LABEL)
    return None if label is None else label.decode(errors="replace")


def associated_data(tenant: str | None) -> bytes | None:
    """What AES-GCM authenticates besides the ciphertext: the tenant, when there is one.

    None for unbound payloads, as for every payload written before tenant binding, so
    that those decrypt exactly as they always did.
    """
    return None if tenant is None else TENANT_AAD_PREFIX + tenant.encode()


def is_encrypted(payload: Payload) -> bool:
    return payload.metadata.get("encoding") == ENCODING


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """AES-256-GCM over whole payloads, with the key id and the tenant in the metadata."""

    def __init__(self, keys: KeyRingSource | KeyRing, *, tenant: str | None = None) -> None:
        super().__init__()
        self._keys = keys
        self._ciphers: dict[tuple[str, bytes], AESGCM] = {}
        self._tenant = tenant

    @property
    def tenant(self) -> str | None:
        """The tenant this codec binds what it encrypts to (None: no tenant)."""
        return self._tenant

    def with_context(self, context: SerializationContext) -> Self:
        """The SDK calls this for every payload it converts, with the workflow it is for."""
        return self.for_tenant(tenant_of(context))

    def for_tenant(self, tenant: str | None) -> Self:
        """This codec binding what it encrypts to ``tenant`` (same keys, same ciphers)."""
        if tenant == self._tenant:
            return self
        bound = copy.copy(self)  # shallow: the key ring and the cipher cache are shared
        bound._tenant = tenant
        return bound

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
        metadata = {"encoding": ENCODING, KEY_ID: key.key_id.encode()}
        if self._tenant is not None:
            metadata[TENANT_LABEL] = self._tenant.encode()
        aad = associated_data(self._tenant)
        encoded: list[Payload] = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, deflated(payload.SerializeToString()), aad)
            encoded.append(Payload(metadata=metadata, data=nonce + sealed))
        return encoded

    def decrypt_for_tenant(self, payloads: Sequence[Payload], tenant: str) -> list[Payload]:
        """Decrypt for a caller of ``tenant`` (the codec server): only that tenant's payloads.

        Refuses the whole batch (``PayloadTenantError``, naming the payloads by position
        and never the tenant they belong to) when any encrypted payload is bound to
        another tenant or to none: a partial answer would hide from the caller why the
        rest stayed ciphertext. Unencrypted payloads pass (they are plaintext already).
        """
        foreign: list[int] = []
        unbound: list[int] = []
        for index, payload in enumerate(payloads):
            if not is_encrypted(payload):
                continue
            owner = bound_tenant(payload)
            if owner is None:
                unbound.append(index)
            elif owner != tenant:
                foreign.append(index)
        problems = []
        if foreign:
            problems.append(
                f"payload(s) {_positions(foreign)} belong to another tenant's workflows"
            )
        if unbound:
            problems.append(
                f"payload(s) {_positions(unbound)} are bound to no tenant (encrypted before "
                "payloads were bound to tenants, or for a workflow of no tenant), so whose "
                "they are cannot be told: only processes that hold the key ring (workers) "
                "decode them, never the codec server"
            )
        if problems:
            raise PayloadTenantError(
                f"{'; '.join(problems)}. A key of tenant {tenant!r} decodes only payloads of "
                f"tenant {tenant!r}'s workflows; none of the {len(payloads)} were decoded."
            )
        # decrypt() authenticates each label: one edited to say `tenant` does not decrypt.
        return self.decrypt(payloads)

    def decrypt(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt payloads of any tenant (workers serve every tenant)."""
        decoded: list[Payload] = []
        for payload in payloads:
            if not is_encrypted(payload):
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
                    "old key back (RECOUP_CODEC_KEYS or the key ring file) to read it.",
                    key_id=key_id,
                )
            data = payload.data
            try:
                plain = self._cipher(key.key_id, key.secret).decrypt(
                    data[:NONCE_BYTES], data[NONCE_BYTES:], associated_data(bound_tenant(payload))
                )
            except InvalidTag as exc:
                raise CodecKeyError(
                    f"payload encrypted with codec key id {key_id!r} does not decrypt with "
                    "the key of that id here: a different key under the same id, or the "
                    f"payload or its {TENANT_LABEL!r} label was altered",
                    key_id=key_id,
                ) from exc
            decoded.append(inflated(Payload.FromString(plain)))
        return decoded


def deflated(serialized: bytes) -> bytes:
    """A serialized payload, as a ``binary/zlib`` payload when that is smaller."""
    if len(serialized) < COMPRESS_MIN_BYTES:
        return serialized
    wrapped = Payload(
        metadata={"encoding": COMPRESSED}, data=zlib.compress(serialized)
    ).SerializeToString()
    return wrapped if len(wrapped) < len(serialized) else serialized


def inflated(payload: Payload) -> Payload:
    """The payload a ``binary/zlib`` payload holds; any other payload as it is."""
    if payload.metadata.get("encoding") != COMPRESSED:
        return payload
    inflater = zlib.decompressobj()
    try:
        serialized = inflater.decompress(payload.data, INFLATE_MAX_BYTES)
    except zlib.error as exc:
        raise CodecKeyError(f"a compressed payload does not inflate: {exc}") from exc
    if inflater.unconsumed_tail or not inflater.eof:
        raise CodecKeyError(
            f"a compressed payload inflates past {INFLATE_MAX_BYTES} bytes or is cut short"
        )
    return Payload.FromString(serialized)


def _positions(indexes: list[int]) -> str:
    """``0, 3, 4`` (at most ten, then how many more)."""
    shown = ", ".join(str(i) for i in indexes[:10])
    return shown if len(indexes) <= 10 else f"{shown} and {len(indexes) - 10} more"


def codec(settings: Settings, *, create_keys: bool = True) -> EncryptionCodec:
    """The codec of ``settings``' key ring; when none is configured, the ring file in
    data_dir, created there if missing and ``create_keys`` (else ``MissingKeyRing``)."""
    return EncryptionCodec(KeyRingSource(settings, create=create_keys))


def data_converter(settings: Settings, *, create_keys: bool = True) -> DataConverter:
    """Pydantic payloads, encrypted by the codec, with encoded failure messages (but a
    payload a worker cannot decode fails by name: ``bootstrap.undecodable``)."""
    if not settings.codec_enabled:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec(settings, create_keys=create_keys),
        failure_converter_class=NamedDecodeFailures,
    )
