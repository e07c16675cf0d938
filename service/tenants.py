"""Tenants of the APIs and their keys (``recoup tenant``, ``recoup dev``, the API's auth).

``TenantStore``, ``ApiKeyInfo`` and ``NewApiKey`` are the tenant adapter's, re-exported
unchanged: the store's operations are already the use cases (create a tenant, add,
list and revoke keys, authenticate); ``TenantError`` is in ``service.errors``.
"""

from __future__ import annotations

from adapters.errors import unknown_name
from adapters.tenants import ApiKeyInfo, NewApiKey, TenantError, TenantStore
from bootstrap.root import Root
from domain.account import Tenant

__all__ = [
    "ApiKeyInfo",
    "NewApiKey",
    "TenantStore",
    "stored_tenant",
    "tenant_profile",
    "tenant_store",
]


def tenant_store(root: Root) -> TenantStore:
    """The root's tenant store, its tables created."""
    store = root.tenants
    store.create_tables()
    return store


def tenant_profile(root: Root, tenant_id: str) -> Tenant:
    """The tenant as debtors will read of it: its own names when ``recoup tenant create``
    stored it (as the API does), else RECOUP_COLLECTOR_NAME and RECOUP_CREDITOR_NAME."""
    return tenant_store(root).get_tenant(tenant_id) or root.settings.tenant(tenant_id)


def stored_tenant(store: TenantStore, tenant_id: str) -> Tenant:
    """The tenant ``recoup tenant create`` stored; ``TenantError`` naming the known ones
    (and the closest, for a typo) when there is none of that id."""
    tenant = store.get_tenant(tenant_id)
    if tenant is None:
        known = (t.tenant_id for t in store.tenants())
        raise TenantError(unknown_name("tenant", tenant_id, known))
    return tenant
