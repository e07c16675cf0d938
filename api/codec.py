"""The codec server: lets the Temporal web UI and CLI show decrypted payloads.

Temporal's remote codec protocol: ``POST …/encode`` and ``POST …/decode`` take and
return ``Payloads`` in protobuf JSON (``{"payloads": [{"metadata": {"encoding":
"<base64>"}, "data": "<base64>"}]}``); the UI and CLI send ``X-Namespace``. Only the
configured namespace is served, and only to an authenticated caller: the CLI sends
``Authorization: Bearer <api key>`` (``temporal workflow show --codec-endpoint
URL/codec --codec-auth "Bearer KEY"``); the web UI calls from the browser, hence
CORS for its origins (``settings.codec_cors_origins``).

A key reads its own tenant's payloads and nothing else: ``/decode`` answers 403 for a
batch holding any payload bound to another tenant or to none (``bootstrap.codec``
explains the binding), and ``/encode`` binds what it encrypts to the caller's tenant.

``codec_router`` is what the HTTP API mounts (with ``codec_cors_options`` for its
CORS middleware); ``codec_app`` is a standalone app with both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, status
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payloads

from bootstrap.codec import CodecKeyError, EncryptionCodec, PayloadTenantError, codec
from bootstrap.keyring import KeyRingError
from bootstrap.settings import Settings
from domain.account import Tenant

# A FastAPI dependency that answers the caller's tenant (or raises for a bad key).
Authenticate = Callable[..., Awaitable[Tenant]]

CODEC_HEADERS = ["Authorization", "Content-Type", "X-Namespace", "X-API-Key"]


class JsonPayload(BaseModel):
    """A ``temporal.api.common.v1.Payload`` in protobuf JSON: bytes are base64."""

    metadata: dict[str, str] = Field(default_factory=dict)
    data: str = ""


class JsonPayloads(BaseModel):
    """A ``temporal.api.common.v1.Payloads`` in protobuf JSON."""

    payloads: list[JsonPayload] = Field(default_factory=list)


def _to_proto(body: JsonPayloads) -> Payloads:
    try:
        return json_format.ParseDict(body.model_dump(), Payloads())
    except json_format.ParseError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"not Payloads JSON: {exc}") from exc


def _from_proto(payloads: Payloads) -> JsonPayloads:
    document: dict[str, Any] = json_format.MessageToDict(payloads)
    return JsonPayloads.model_validate(document)


def codec_router(
    settings: Settings, authenticate: Authenticate, prefix: str = "/codec"
) -> APIRouter:
    """``POST {prefix}/encode`` and ``POST {prefix}/decode`` for authenticated callers."""
    payload_codec: EncryptionCodec = codec(settings)
    # A default, not ``Annotated[Tenant, Depends(authenticate)]``: annotations are strings
    # here (``from __future__ import annotations``) that FastAPI resolves in the module's
    # globals, where ``authenticate`` is not, and it would silently become a query field.
    caller_tenant = Depends(authenticate)
    router = APIRouter(
        prefix=prefix,
        tags=["codec"],
        responses={
            400: {"description": "Not Payloads JSON, or a payload that does not decrypt."},
            401: {"description": "Not authenticated."},
            403: {
                "description": "A namespace this codec server does not serve, or payloads "
                "of another tenant (or of none) than the key's."
            },
        },
    )

    def check_namespace(namespace: str | None) -> None:
        if namespace is not None and namespace != settings.temporal_namespace:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this codec server serves namespace {settings.temporal_namespace!r}, "
                f"not {namespace!r}",
            )

    @router.post("/encode", summary="Encrypt payloads (Temporal remote codec protocol).")
    async def encode(
        body: JsonPayloads,
        caller: Tenant = caller_tenant,
        x_namespace: Annotated[str | None, Header()] = None,
    ) -> JsonPayloads:
        check_namespace(x_namespace)
        payloads = _to_proto(body)
        try:
            # e.g. a signal's input typed in the UI: it is for the caller's own workflows.
            encoded = payload_codec.for_tenant(caller.tenant_id).encrypt(payloads.payloads)
        except KeyRingError as exc:
            raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, str(exc)) from exc
        return _from_proto(Payloads(payloads=encoded))

    @router.post("/decode", summary="Decrypt payloads (Temporal remote codec protocol).")
    async def decode(
        body: JsonPayloads,
        caller: Tenant = caller_tenant,
        x_namespace: Annotated[str | None, Header()] = None,
    ) -> JsonPayloads:
        check_namespace(x_namespace)
        payloads = _to_proto(body)
        try:
            decoded = payload_codec.decrypt_for_tenant(payloads.payloads, caller.tenant_id)
        except PayloadTenantError as exc:
            raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
        except CodecKeyError as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
        except KeyRingError as exc:
            raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, str(exc)) from exc
        except Exception as exc:  # e.g. decrypted bytes that are not a Payload
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, f"cannot decode payloads: {exc}"
            ) from exc
        return _from_proto(Payloads(payloads=decoded))

    return router


def codec_cors_options(settings: Settings) -> dict[str, Any]:
    """``CORSMiddleware`` options that let the web UI (in a browser) call the codec."""
    return {
        "allow_origins": list(settings.codec_cors_origins),
        "allow_credentials": True,
        "allow_methods": ["POST", "OPTIONS"],
        "allow_headers": CODEC_HEADERS,
        "max_age": 600,
    }


def codec_app(settings: Settings, authenticate: Authenticate) -> FastAPI:
    """A standalone codec server (``/codec/encode``, ``/codec/decode``) with CORS."""
    app = FastAPI(title="Recoup codec server", docs_url=None, redoc_url=None)
    app.include_router(codec_router(settings, authenticate))
    app.add_middleware(CORSMiddleware, **codec_cors_options(settings))
    return app
