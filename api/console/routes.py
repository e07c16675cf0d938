"""``/console``: the operator's pages, rendered on the server from the service layer.

Sign in with a tenant API key (``session.py`` says how the session is kept); then the
tenant's campaigns with live progress, a campaign's figures, chart and accounts, the
approvals queue, dead letters and the providers' breakers. Pages that change something
do it with a POST carrying the session's CSRF token, then redirect (post/redirect/get).
Nothing on these pages loads from another origin: the stylesheet and the one script
(``static/console.js``, the live refresh) are served from ``/console/static``, and the
Content-Security-Policy says so to the browser.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape

from api.auth import Authenticator, AuthError, RateLimited
from api.console import views
from api.console.chart import chart
from api.console.session import Sessions
from bootstrap.root import Root
from bootstrap.settings import Settings
from domain.account import Tenant
from service import console as use
from service.dead_letters import RedriveRefused
from service.models import CampaignView, DecisionIn
from service.operations import NotFound, RecoupService, ServiceError

PREFIX = "/console"
STATIC_PATH = f"{PREFIX}/static"
STATIC_DIR = Path(__file__).resolve().parent / "static"
CAMPAIGNS_PER_PAGE = 20
ACCOUNTS_PER_PAGE = 100
# Seconds between live refreshes of the campaign pages (static/console.js).
REFRESH_SECONDS = 5

# Only this origin, for everything; no inline script (the page has none).
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def console_static() -> StaticFiles:
    """The console's stylesheet and script (mount at ``STATIC_PATH``)."""
    return StaticFiles(directory=STATIC_DIR)


@dataclass
class _Console:
    settings: Settings
    sessions: Sessions
    templates: Environment = field(init=False)

    def __post_init__(self) -> None:
        self.templates = Environment(
            loader=PackageLoader("api.console", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["money"] = views.money
        self.templates.filters["percent"] = views.percent
        self.templates.filters["band"] = views.band
        self.templates.filters["redact"] = views.redact
        self.templates.filters["when"] = _when

    def page(
        self,
        request: Request,
        template: str,
        status_code: int = 200,
        tenant: Tenant | None = None,
        **context: Any,
    ) -> HTMLResponse:
        html = self.templates.get_template(template).render(
            tenant=tenant,
            csrf=self.sessions.csrf(request) if tenant is not None else "",
            static=STATIC_PATH,
            prefix=PREFIX,
            path=request.url.path,
            now=datetime.now(UTC),
            **context,
        )
        return HTMLResponse(html, status_code=status_code, headers=_HEADERS)

    def error(
        self, request: Request, tenant: Tenant | None, status_code: int, message: str
    ) -> HTMLResponse:
        return self.page(
            request, "error.html.j2", status_code, tenant=tenant, title="Error", message=message
        )

    async def tenant(self, request: Request) -> Tenant | Response:
        """The signed-in tenant, or the response that sends the browser to sign in."""
        key = self.sessions.api_key(request)
        if key is None:
            return _to_login(request)
        try:
            return await _auth(request).tenant(key)
        except AuthError:  # revoked since: the session ends with the key
            response = _to_login(request)
            self.sessions.close(response)
            return response
        except RateLimited as exc:
            page = self.error(request, None, 429, str(exc))
            page.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
            return page

    def key_id(self, request: Request) -> str:
        return use.key_id(self.sessions.api_key(request) or "") or "unknown key"


def console_router(settings: Settings) -> APIRouter:
    """The console's pages for an app whose ``state`` has ``service`` and ``auth``."""
    console = _Console(settings, Sessions(https=settings.api_url.startswith("https://")))
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("")
    async def home() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/campaigns", status_code=303)

    # --- signing in and out ------------------------------------------------------

    def login_page(
        request: Request, next: str, problem: str | None = None, status_code: int = 200
    ) -> Response:
        nonce = console.sessions.new_login_nonce()
        response = console.page(
            request,
            "login.html.j2",
            status_code,
            title="Sign in",
            next=_local(next),
            problem=problem,
            nonce=nonce,
        )
        console.sessions.set_login_nonce(response, request, nonce)
        return response

    @router.get("/login")
    async def login_form(request: Request, next: str = "") -> Response:
        return login_page(request, next)

    @router.post("/login")
    async def login(
        request: Request,
        api_key: Annotated[str, Form(max_length=400)] = "",
        nonce: Annotated[str, Form(max_length=100)] = "",
        next: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        key = api_key.strip()
        problem = None
        if not console.sessions.login_nonce_ok(request, nonce):
            problem = "the sign-in form has expired or came from another site: sign in again"
        elif not key:
            problem = "api_key: an API key (rk_…) is required"
        else:
            try:
                await _auth(request).tenant(key)
            except AuthError as exc:
                problem = f"api_key: {exc}"
            except RateLimited as exc:
                problem = str(exc)
        if problem is not None:
            return login_page(request, next, problem, 401)
        response = RedirectResponse(_local(next) or f"{PREFIX}/campaigns", status_code=303)
        console.sessions.open(response, request, key)
        return response

    @router.post("/logout")
    async def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        if not console.sessions.csrf_ok(request, csrf):
            return console.error(request, None, 403, "csrf: the form is not this session's")
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        console.sessions.close(response)
        return response

    # --- campaigns -----------------------------------------------------------------

    @router.get("/campaigns")
    async def campaigns(request: Request, page: Annotated[int, Query(ge=1)] = 1) -> Response:
        tenant = await console.tenant(request)
        if isinstance(tenant, Response):
            return tenant
        root = _root(request)
        found = await use.campaigns(
            root, tenant, CAMPAIGNS_PER_PAGE, (page - 1) * CAMPAIGNS_PER_PAGE
        )
        service = _service(request)
        views_or_errors = await asyncio.gather(
            *(_campaign(service, tenant, row.campaign_id) for row in found.campaigns)
        )
        rows = [
            (row, view, views.campaign_figures(view) if isinstance(view, CampaignView) else None)
            for row, view in zip(found.campaigns, views_or_errors, strict=True)
        ]
        return console.page(
            request,
            "campaigns.html.j2",
            tenant=tenant,
            title="Campaigns",
            rows=rows,
            total=found.total,
            page=page,
            pages=max(1, -(-found.total // CAMPAIGNS_PER_PAGE)),
            refresh=REFRESH_SECONDS * 3,
        )

    @router.get("/campaigns/{campaign_id}")
    async def campaign(
        request: Request, campaign_id: str, page: Annotated[int, Query(ge=1)] = 1
    ) -> Response:
        tenant = await console.tenant(request)
        if isinstance(tenant, Response):
            return tenant
        view = await _campaign(_service(request), tenant, campaign_id)
        if isinstance(view, NotFound):
            return console.error(request, tenant, 404, f"campaign_id: {view.detail}")
        if isinstance(view, ServiceError):
            return console.error(request, tenant, 503, view.detail)
        figures = views.campaign_figures(view)
        root = _root(request)
        accounts, timeline = await asyncio.gather(
            use.accounts(
                root, tenant, campaign_id, ACCOUNTS_PER_PAGE, (page - 1) * ACCOUNTS_PER_PAGE
            ),
            use.timeline(root, tenant, campaign_id),
        )
        total = view.report.accounts if view.report is not None else 0
        return console.page(
            request,
            "campaign.html.j2",
            tenant=tenant,
            title=f"Campaign {campaign_id}",
            figures=figures,
            chart=chart(timeline, figures.currency or "USD"),
            accounts=[
                (a, views.workflow_link(console.settings.ui_url, tenant.tenant_id, a.account_id))
                for a in accounts
            ],
            page=page,
            pages=max(1, -(-total // ACCOUNTS_PER_PAGE)),
            accounts_total=total,
            refresh=REFRESH_SECONDS,
        )

    # --- approvals -----------------------------------------------------------------

    @router.get("/approvals")
    async def approvals(
        request: Request,
        decided: Annotated[str | None, Query(max_length=200)] = None,
        outcome: Annotated[str | None, Query(max_length=20)] = None,
    ) -> Response:
        tenant = await console.tenant(request)
        if isinstance(tenant, Response):
            return tenant
        try:
            pending = await _service(request).approvals(tenant)
        except ServiceError as exc:
            return console.error(request, tenant, 503, exc.detail)
        return console.page(
            request,
            "approvals.html.j2",
            tenant=tenant,
            title="Approvals",
            approvals=[
                (p, views.workflow_link(console.settings.ui_url, tenant.tenant_id, p.account_id))
                for p in pending.approvals
            ],
            decided=decided,
            outcome=outcome if outcome in {"approved", "rejected"} else None,
        )

    @router.post("/approvals/{account_id}/{approval_id}")
    async def decide(
        request: Request,
        account_id: str,
        approval_id: str,
        decision: Annotated[str, Form()] = "",
        note: Annotated[str, Form(max_length=500)] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        tenant = await console.tenant(request)
        if isinstance(tenant, Response):
            return tenant
        if not console.sessions.csrf_ok(request, csrf):
            return console.error(request, tenant, 403, "csrf: the form is not this session's")
        if decision not in {"approve", "deny"}:
            return console.error(
                request, tenant, 422, f"decision: must be approve or deny, not {decision!r}"
            )
        body = DecisionIn(
            approve=decision == "approve",
            operator=f"console ({console.key_id(request)})",
            note=note,
        )
        try:
            approval = await _service(request).decide(tenant, account_id, approval_id, body)
        except ServiceError as exc:
            return console.error(request, tenant, exc.status, exc.detail)
        return RedirectResponse(
            f"{PREFIX}/approvals?decided={quote(approval.approval_id)}"
            f"&outcome={quote(approval.status.value)}",
            status_code=303,
        )

    # --- dead letters ------------------------------------------------------------

    @router.get("/dead-letters")
    async def dead_letters(
        request: Request, redriven: Annotated[str | None, Query(max_length=200)] = None
    ) -> Response:
        tenant = await console.tenant(request)
        if isinstance(tenant, Response):
            return tenant
        return await _dead_letters_page(request, tenant, redriven=redriven)

    @router.post("/dead-letters/{dead_letter_id}/redrive")
    async def redrive(
        request: Request, dead_letter_id: str, csrf: Annotated[str, Form()] = ""
    ) -> Response:
        tenant = await console.tenant(request)
        if isinstance(tenant, Response):
            return tenant
        if not console.sessions.csrf_ok(request, csrf):
            return console.error(request, tenant, 403, "csrf: the form is not this session's")
        try:
            await use.redrive_letter(
                _service(request).client, _root(request), tenant, dead_letter_id
            )
        except use.NoSuchDeadLetter as exc:
            return console.error(request, tenant, 404, f"dead_letter_id: {exc}")
        except RedriveRefused as exc:
            return await _dead_letters_page(
                request, tenant, refused=(dead_letter_id, str(exc)), status_code=409
            )
        return RedirectResponse(
            f"{PREFIX}/dead-letters?redriven={quote(dead_letter_id)}", status_code=303
        )

    async def _dead_letters_page(
        request: Request,
        tenant: Tenant,
        *,
        redriven: str | None = None,
        refused: tuple[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        letters = await use.dead_letters(_root(request), tenant)
        return console.page(
            request,
            "dead_letters.html.j2",
            status_code,
            tenant=tenant,
            title="Dead letters",
            letters=[
                (d, views.workflow_link(console.settings.ui_url, tenant.tenant_id, d.account_id))
                for d in letters
            ],
            redriven=redriven,
            refused=refused,
        )

    # --- breakers ------------------------------------------------------------------

    @router.get("/breakers")
    async def breakers(request: Request) -> Response:
        tenant = await console.tenant(request)
        if isinstance(tenant, Response):
            return tenant
        board = await use.breaker_board(_root(request), console.settings)
        return console.page(
            request,
            "breakers.html.j2",
            tenant=tenant,
            title="Breakers",
            board=board,
            refresh=REFRESH_SECONDS,
        )

    return router


async def _campaign(
    service: RecoupService, tenant: Tenant, campaign_id: str
) -> CampaignView | ServiceError:
    try:
        return await service.campaign(tenant, campaign_id)
    except ServiceError as exc:  # shown in its row or as the page: not a 500
        return exc


def _service(request: Request) -> RecoupService:
    service: RecoupService = request.app.state.service
    return service


def _auth(request: Request) -> Authenticator:
    auth: Authenticator = request.app.state.auth
    return auth


def _root(request: Request) -> Root:
    root = _service(request).root
    if root is None:  # create_app always builds the service over a root
        raise RuntimeError("the console needs the service's composition root")
    return root


def _to_login(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/login?next={quote(here, safe='')}", status_code=303)


def _local(target: str) -> str:
    """``target`` if it is a console page of this site, else "" (no open redirect)."""
    if target.startswith(f"{PREFIX}/") and not target.startswith("//") and "\\" not in target:
        return target
    return ""


def _when(moment: datetime | None) -> str:
    return "–" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
