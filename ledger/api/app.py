"""The Ledger's HTTP API (FastAPI): subnets, history, capability search, the change feed, webhooks.

Everything is JSON under `/v1`; `/docs` and `/openapi.json` describe it. Every `/v1` request is rate
limited by API key (or client IP for anonymous callers) and tier. Errors always have the body
`{"error": {"code": ..., "message": ...}}`; an unexpected failure is logged and answered with a plain
500 `internal`, never with a traceback. Store calls are synchronous, so endpoints are plain `def`s and
run in FastAPI's thread pool.
"""

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.api.keys import ApiKey, CreatedKey, KeyStore, Tier
from ledger.api.ratelimit import RateLimiter
from ledger.api.settings import LedgerApiSettings
from ledger.api.webhooks import (
    CreatedWebhook,
    Delivery,
    Resolver,
    Webhook,
    WebhookDispatcher,
    WebhookRegistry,
    WebhookSpec,
    system_resolver,
)
from ledger.entry import NETUID_MAX, Health, SubnetEntry, SubnetStatus, Verification
from ledger.errors import LedgerError
from ledger.search import SearchHit, query_tokens, search
from ledger.store import LedgerStore, StoredEntry, SubnetFilter, VersionRecord
from ledger.vocabulary import DEFINITIONS, SEARCH_TERMS, Capability
from protocol.models import RouteKind

logger = logging.getLogger(__name__)

API_VERSION = "1"
MAX_PAGE = 500
MAX_ERROR_MESSAGE_CHARS = 2_000


# errors


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, machine-readable, e.g. `unknown_subnet`, `rate_limited`.")
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class Unauthorized(LedgerError):
    code = "unauthorized"
    http_status = 401


class Forbidden(LedgerError):
    code = "forbidden"
    http_status = 403


class UnknownVersion(LedgerError):
    code = "unknown_version"
    http_status = 404


class DatabaseUnavailable(LedgerError):
    code = "database_unavailable"
    http_status = 503


class RateLimited(LedgerError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(code=code, message=message[:MAX_ERROR_MESSAGE_CHARS]))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        401: "Missing, unknown or revoked API key.",
        403: "Admin only.",
        404: "No such resource.",
        409: "Conflicts with the current state.",
        422: "Malformed request (`invalid_request`) or a value the Ledger does not accept.",
        429: "Rate limit exceeded; see the Retry-After header.",
    }
    return {status: {"model": ErrorBody, "description": described[status]} for status in statuses}


class _CatchAll:
    """Answer any unhandled exception with a JSON 500 and log it; the traceback stays in the log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            logger.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # half a response is out; only the server can end the connection now
            response = _error(500, "internal", "internal error; it has been logged")
            await response(scope, receive, send)


# response models


class StoredSubnet(BaseModel):
    model_config = ConfigDict(frozen=True)

    entry: SubnetEntry
    version: int
    updated_at: datetime

    @classmethod
    def of(cls, stored: StoredEntry) -> "StoredSubnet":
        return cls(entry=stored.entry, version=stored.version, updated_at=stored.updated_at)


class SubnetPage(BaseModel):
    items: list[StoredSubnet]
    limit: int
    offset: int
    next_offset: int | None = Field(description="Pass as `offset` for the next page; null on the last.")


class SubnetDetail(StoredSubnet):
    health: list[Health] = Field(description="Measured health per route over the last 7 days.")


class HistoryPage(BaseModel):
    netuid: int
    items: list[VersionRecord] = Field(description="Newest version first.")
    limit: int
    offset: int
    next_offset: int | None


class SearchResults(BaseModel):
    query: str
    terms: list[str] = Field(description="The query words used, after normalisation.")
    items: list[SearchHit]


class ChangePage(BaseModel):
    items: list[VersionRecord] = Field(description="Oldest first.")
    next_cursor: int = Field(description="Pass as `since` to continue after this page.")
    has_more: bool


class CapabilityInfo(BaseModel):
    name: str
    definition: str
    search_terms: list[str]


class CapabilityList(BaseModel):
    items: list[CapabilityInfo]


class Stats(BaseModel):
    subnets: int
    verified: int
    routes: int
    versions: int


class ExportDocument(BaseModel):
    generated_at: datetime
    head: int = Field(description="Change-feed cursor at (or just before) the export: use it as `since`.")
    count: int
    subnets: list[StoredSubnet]


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    tier: Tier = Tier.FREE


class HealthStatus(BaseModel):
    status: str
    head: int


# query parameters


class SubnetQuery(BaseModel):
    """Filters of `GET /v1/subnets`; unknown parameters are rejected rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")

    capability: Capability | None = None
    status: SubnetStatus | None = None
    verification: Verification | None = None
    route_kind: RouteKind | None = None
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0)


class ChangeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: int = Field(default=0, ge=0, description="Cursor: a version id (0 for the beginning).")
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)
    netuid: list[Annotated[int, Field(ge=0, le=NETUID_MAX)]] = Field(
        default_factory=list, max_length=256, description="Repeat to follow several subnets."
    )
    capability: Capability | None = None


# callers


@dataclass(frozen=True)
class Caller:
    """Who is calling: the rate-limit identity, the tier, and the key or admin status behind it."""

    identity: str
    tier: Tier
    key: ApiKey | None = None
    admin: bool = False
    bad_credentials: bool = False


_bearer = HTTPBearer(
    auto_error=False, description="An API key (`orc_...`) or, for admin endpoints, the token."
)
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key.")


def create_app(
    store: LedgerStore,
    settings: LedgerApiSettings,
    *,
    limiter: RateLimiter | None = None,
    resolver: Resolver = system_resolver,
    dispatcher: WebhookDispatcher | None = None,
) -> FastAPI:
    """The API over `store`. `limiter`, `resolver` and `dispatcher` are replaceable for tests."""
    keys = KeyStore(store)
    webhooks = WebhookRegistry(
        store, devnet=settings.devnet, max_per_key=settings.webhooks_per_key, resolver=resolver
    )
    limiter = limiter or RateLimiter()
    dispatcher = dispatcher or WebhookDispatcher(store, settings, resolver=resolver)
    admin_token = settings.admin_token.get_secret_value() if settings.admin_token else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(dispatcher.run_forever(stop)) if settings.dispatch_webhooks else None
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                try:
                    await asyncio.wait_for(task, timeout=settings.webhook_timeout_s * 2 + 5)
                except asyncio.TimeoutError:
                    logger.warning("webhook dispatcher did not stop in time; it was cancelled")

    app = FastAPI(
        title="Orchestra Subnet Ledger",
        version=API_VERSION,
        description=(
            "A versioned, verified registry of what every Bittensor subnet can do and how to call it. "
            'Errors are `{"error": {"code", "message"}}`. Anonymous callers get the free tier\'s '
            "rate limit per IP; send an API key (`Authorization: Bearer orc_...` or `X-API-Key`) for more."
        ),
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.dispatcher = dispatcher
    app.state.limiter = limiter
    app.add_middleware(_CatchAll)

    @app.exception_handler(LedgerError)
    async def ledger_error(_request: Request, exc: LedgerError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, RateLimited) else None
        return _error(exc.http_status, exc.code, exc.message, headers)

    @app.exception_handler(sa.exc.OperationalError)
    async def database_down(request: Request, exc: sa.exc.OperationalError) -> JSONResponse:
        logger.error("database error in %s %s: %s", request.method, request.url.path, exc)
        error = DatabaseUnavailable("the Ledger's database is unavailable; retry shortly")
        return _error(error.http_status, error.code, error.message, {"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid_request", _describe(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        message = "no such resource" if exc.status_code == 404 else str(exc.detail)
        return _error(exc.status_code, codes.get(exc.status_code, f"http_{exc.status_code}"), message)

    def caller(
        request: Request,
        response: Response,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        api_key: Annotated[str | None, Depends(_api_key_header)],
    ) -> Caller:
        """Identify the caller and spend one request of its rate limit (429 when none is left)."""
        token = bearer.credentials if bearer is not None else api_key
        who = _identify(token, request)
        decision = limiter.check(who.identity, settings.rate_limit(who.tier))
        if not decision.allowed:
            raise RateLimited(
                f"rate limit of {decision.limit} requests per minute for the {who.tier.value} tier "
                f"exceeded; retry in {decision.retry_after_s} s",
                decision.retry_after_s,
            )
        response.headers["X-RateLimit-Limit"] = str(decision.limit)
        response.headers["X-RateLimit-Remaining"] = str(decision.remaining)
        return who

    def _identify(token: str | None, request: Request) -> Caller:
        client_ip = request.client.host if request.client else "unknown"
        anonymous = Caller(identity=f"ip:{client_ip}", tier=Tier.FREE)
        if not token:
            return anonymous
        if admin_token is not None and hmac.compare_digest(token.encode(), admin_token.encode()):
            return Caller(identity="admin", tier=Tier.PRODUCTION, admin=True)
        key = keys.lookup(token)
        if key is None:
            # Still limited by IP, so guessing keys costs the guesser its anonymous allowance.
            return Caller(identity=anonymous.identity, tier=Tier.FREE, bad_credentials=True)
        return Caller(identity=f"key:{key.id}", tier=key.tier, key=key)

    def known_caller(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if who.bad_credentials:
            raise Unauthorized("unknown or revoked API key")
        return who

    def key_holder(who: Annotated[Caller, Depends(known_caller)]) -> ApiKey:
        if who.key is None:
            raise Unauthorized(
                "this endpoint needs an API key: `Authorization: Bearer orc_...` or `X-API-Key`"
            )
        return who.key

    def admin(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if admin_token is None:
            raise Forbidden("admin endpoints are disabled: set ORCHESTRA_LEDGER_ADMIN_TOKEN")
        if not who.admin:
            raise Forbidden("admin only: send `Authorization: Bearer <admin token>`")
        return who

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(known_caller)], responses=_responses(401, 422, 429))

    @v1.get("/subnets", response_model=SubnetPage, tags=["subnets"])
    def list_subnets(filters: Annotated[SubnetQuery, Query()]) -> SubnetPage:
        """Current entries, by netuid, filtered by capability, status, verification and route kind."""
        where = SubnetFilter(
            capability=filters.capability.value if filters.capability else None,
            status=filters.status,
            verification=filters.verification,
            route_kind=filters.route_kind.value if filters.route_kind else None,
            limit=filters.limit,
            offset=filters.offset,
        )
        rows = store.select(where)
        more = len(rows) == filters.limit
        return SubnetPage(
            items=[StoredSubnet.of(row) for row in rows],
            limit=filters.limit,
            offset=filters.offset,
            next_offset=filters.offset + filters.limit if more else None,
        )

    @v1.get("/subnets/{netuid}", response_model=SubnetDetail, tags=["subnets"], responses=_responses(404))
    def get_subnet(netuid: Annotated[int, Path(ge=0, le=NETUID_MAX)]) -> SubnetDetail:
        """One subnet's current entry, its version, and the measured health of its routes."""
        stored = store.get(netuid)
        return SubnetDetail(
            entry=stored.entry,
            version=stored.version,
            updated_at=stored.updated_at,
            health=store.health(netuid),
        )

    @v1.get(
        "/subnets/{netuid}/history", response_model=HistoryPage, tags=["subnets"], responses=_responses(404)
    )
    def subnet_history(
        netuid: Annotated[int, Path(ge=0, le=NETUID_MAX)],
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> HistoryPage:
        """Every version of a subnet, newest first, with its diff, compatibility class and evidence."""
        items = store.history(netuid, limit=limit, offset=offset)
        return HistoryPage(
            netuid=netuid,
            items=items,
            limit=limit,
            offset=offset,
            next_offset=offset + limit if len(items) == limit else None,
        )

    @v1.get(
        "/subnets/{netuid}/versions/{version}",
        response_model=VersionRecord,
        tags=["subnets"],
        responses=_responses(404),
    )
    def subnet_version(
        netuid: Annotated[int, Path(ge=0, le=NETUID_MAX)], version: Annotated[int, Path(ge=1)]
    ) -> VersionRecord:
        """One immutable version of a subnet."""
        current = store.get(netuid)
        if version > current.version:
            raise UnknownVersion(f"subnet {netuid} has versions 1 to {current.version}, not {version}")
        return store.version(netuid, version)

    @v1.get("/search", response_model=SearchResults, tags=["search"])
    def search_subnets(
        q: Annotated[
            str, Query(min_length=1, max_length=512, description="Free text, e.g. social sentiment")
        ],
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> SearchResults:
        """Subnets ranked by how well their capabilities, name, tags and description match `q`."""
        terms = query_tokens(q)
        return SearchResults(query=q, terms=list(terms), items=search(q, store.entries(), limit=limit))

    @v1.get("/changes", response_model=ChangePage, tags=["changes"])
    def changes(params: Annotated[ChangeQuery, Query()]) -> ChangePage:
        """The change feed: versions after cursor `since`, oldest first, optionally filtered."""
        # Read before the page: a short page then proves nothing matching exists up to this head.
        head = store.head()
        items: list[VersionRecord] = store.changes(
            since=params.since,
            limit=params.limit,
            netuids=params.netuid or None,
            capability=params.capability.value if params.capability else None,
        )
        has_more = len(items) == params.limit
        last = items[-1].id if items else params.since
        return ChangePage(
            items=items, next_cursor=last if has_more else max(last, head, params.since), has_more=has_more
        )

    @v1.get(
        "/export",
        response_class=StreamingResponse,
        tags=["subnets"],
        responses={200: {"model": ExportDocument, "description": "Every current entry, as one document."}},
    )
    def export() -> StreamingResponse:
        """Every current entry with its version, as one JSON document (streamed)."""
        head = store.head()
        entries = store.entries()
        document = {
            "generated_at": datetime.now(timezone.utc).isoformat(),
            "head": head,
            "count": len(entries),
        }
        return StreamingResponse(_export_chunks(document, entries), media_type="application/json")

    @v1.get("/capabilities", response_model=CapabilityList, tags=["search"])
    def capabilities() -> CapabilityList:
        """The controlled capability vocabulary, with definitions and the words search maps to them."""
        return CapabilityList(
            items=[
                CapabilityInfo(
                    name=c.value,
                    definition=DEFINITIONS.get(c, ""),
                    search_terms=list(SEARCH_TERMS.get(c, ())),
                )
                for c in Capability
            ]
        )

    @v1.get("/stats", response_model=Stats, tags=["subnets"])
    def stats() -> Stats:
        return Stats(**store.stats().as_dict())

    @v1.post(
        "/webhooks",
        response_model=CreatedWebhook,
        status_code=201,
        tags=["webhooks"],
        responses=_responses(409),
    )
    def create_webhook(spec: WebhookSpec, key: Annotated[ApiKey, Depends(key_holder)]) -> CreatedWebhook:
        """Subscribe a URL to changes. The signing secret is in this answer only."""
        return webhooks.create(key.id, spec)

    @v1.get("/webhooks", response_model=list[Webhook], tags=["webhooks"])
    def list_webhooks(key: Annotated[ApiKey, Depends(key_holder)]) -> list[Webhook]:
        return webhooks.list_for(key.id)

    @v1.get("/webhooks/{webhook_id}", response_model=Webhook, tags=["webhooks"], responses=_responses(404))
    def get_webhook(webhook_id: int, key: Annotated[ApiKey, Depends(key_holder)]) -> Webhook:
        return webhooks.get(key.id, webhook_id)

    @v1.delete("/webhooks/{webhook_id}", status_code=204, tags=["webhooks"], responses=_responses(404))
    def delete_webhook(webhook_id: int, key: Annotated[ApiKey, Depends(key_holder)]) -> Response:
        """Unsubscribe; undelivered events are dropped."""
        webhooks.delete(key.id, webhook_id)
        return Response(status_code=204)

    @v1.get(
        "/webhooks/{webhook_id}/deliveries",
        response_model=list[Delivery],
        tags=["webhooks"],
        responses=_responses(404),
    )
    def webhook_deliveries(
        webhook_id: int,
        key: Annotated[ApiKey, Depends(key_holder)],
        status: Annotated[str | None, Query(pattern="^(pending|delivered|dead)$")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[Delivery]:
        """Deliveries of one webhook, newest first, with attempts and the last error."""
        return webhooks.deliveries(key.id, webhook_id, status=status, limit=limit, offset=offset)

    admin_router = APIRouter(prefix="/v1", responses=_responses(403, 422, 429), tags=["admin"])

    @admin_router.post("/keys", response_model=CreatedKey, status_code=201)
    def create_key(request: KeyRequest, _admin: Annotated[Caller, Depends(admin)]) -> CreatedKey:
        """Create an API key. The key is in this answer only; the Ledger keeps its SHA-256."""
        return keys.create(request.name, request.tier)

    @admin_router.delete("/keys/{key_id}", response_model=ApiKey, responses=_responses(404))
    def revoke_key(key_id: int, _admin: Annotated[Caller, Depends(admin)]) -> ApiKey:
        return keys.revoke(key_id)

    @app.get("/healthz", response_model=HealthStatus, tags=["service"])
    def healthz() -> HealthStatus:
        """Liveness and database reachability (not rate limited)."""
        return HealthStatus(status="ok", head=store.head())

    app.include_router(v1)
    app.include_router(admin_router)
    return app


def _export_chunks(document: dict[str, Any], entries: list[StoredEntry]) -> Iterator[str]:
    # Entry by entry, so a large registry never becomes one large string in memory.
    yield json.dumps(document)[:-1] + ',"subnets":['
    for index, stored in enumerate(entries):
        yield ("," if index else "") + StoredSubnet.of(stored).model_dump_json()
    yield "]}"


def _describe(errors: Any) -> str:
    """`query.limit: Input should be ...; body.url: Field required` from FastAPI's validation errors."""
    parts = []
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ())) or "request"
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"
