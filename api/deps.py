"""FastAPI dependencies: the service, and the tenant of the caller's key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.auth import Authenticator, AuthError
from domain.account import Tenant
from service.operations import RecoupService

# Documented in OpenAPI as two ways to send the same key; auto_error=False so that a
# missing key is answered by our own 401 problem, not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="A tenant API key: `Bearer rk_…`.")
_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The same key, for clients without Bearer."
)

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


def get_service(request: Request) -> RecoupService:
    service: RecoupService = request.app.state.service
    return service


def get_authenticator(request: Request) -> Authenticator:
    auth: Authenticator = request.app.state.auth
    return auth


async def current_tenant(
    auth: Annotated[Authenticator, Depends(get_authenticator)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Tenant:
    if bearer is not None:
        token = bearer.credentials
    elif api_key:
        token = api_key
    else:
        raise AuthError("an API key is required: send 'Authorization: Bearer <API key>'")
    return await auth.tenant(token)


async def tenant_from_path_key(
    auth: Annotated[Authenticator, Depends(get_authenticator)],
    api_key: Annotated[
        str,
        Path(
            description="A tenant API key, for clients that cannot "
            "send headers (the Temporal web UI's codec calls)."
        ),
    ],
) -> Tenant:
    return await auth.tenant(api_key)


Service = Annotated[RecoupService, Depends(get_service)]
CurrentTenant = Annotated[Tenant, Depends(current_tenant)]
AccountId = Annotated[str, Path(pattern=ID_PATTERN, description="The CRM's account id.")]
CampaignId = Annotated[str, Path(pattern=ID_PATTERN, description="The campaign id.")]
ApprovalId = Annotated[str, Path(pattern=ID_PATTERN, description="The approval id.")]
