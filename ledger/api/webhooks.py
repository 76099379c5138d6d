"""Webhooks on the Ledger's change feed: subscriptions, an SSRF guard, signed deliveries with retries.

`LedgerStore.apply()` queues one `DeliveryRow` per matching subscription in the same transaction as
the new version, so no change is lost between writing it and announcing it. `WebhookDispatcher` then
POSTs each due delivery, signed with the subscription's secret, and retries failures with exponential
backoff and jitter until the delivery succeeds or runs out of attempts ("dead").

Receivers check `X-Orchestra-Signature: t=<unix seconds>,v1=<hex>` where the hex is
HMAC-SHA256(secret, f"{t}.{raw body}"), with `verify_signature`, and deduplicate on
`X-Orchestra-Event-Id`: a delivery whose answer got lost is sent again with the same id.

Subscription URLs are checked against server-side request forgery twice: when subscribing and before
every attempt (DNS can change in between). Outside devnet mode a URL must be http(s) and every address
its host resolves to must be public; the request then goes to the address that was checked, so a DNS
answer that changes between the check and the connection cannot redirect it. Redirects are never
followed.
"""

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from ledger.api.settings import LedgerApiSettings
from ledger.entry import NETUID_MAX, Compatibility
from ledger.errors import LedgerError
from ledger.models import DeliveryRow, WebhookRow
from ledger.store import LedgerStore
from ledger.vocabulary import Capability
from orchestra.addresses import refusal

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
SIGNATURE_HEADER = "X-Orchestra-Signature"
EVENT_HEADER = "X-Orchestra-Event"
EVENT_ID_HEADER = "X-Orchestra-Event-Id"
ATTEMPT_HEADER = "X-Orchestra-Delivery-Attempt"
USER_AGENT = "Orchestra-Ledger-Webhooks/1"
MAX_ERROR_CHARS = 500

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"

# `host, port -> IP address strings`; the system resolver by default, a double in tests.
Resolver = Callable[[str, int], Sequence[str]]


class WebhookRefused(LedgerError):
    """The URL is not one the Ledger will send to (scheme, credentials, or a non-public address)."""

    code = "webhook_url_refused"
    http_status = 422


class UnknownWebhook(LedgerError):
    code = "unknown_webhook"
    http_status = 404


class TooManyWebhooks(LedgerError):
    code = "too_many_webhooks"
    http_status = 409


class WebhookSpec(BaseModel):
    """A subscription request. Empty filters match everything."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048, description="http(s) URL that receives the events.")
    netuids: list[Annotated[int, Field(ge=0, le=NETUID_MAX)]] = Field(
        default_factory=list, max_length=1024, description="Only changes to these subnets."
    )
    capabilities: list[Capability] = Field(
        default_factory=list, description="Only changes to subnets that offer (or offered) one of these."
    )
    min_compatibility: Compatibility = Field(
        default=Compatibility.NONE, description="Only changes at least this incompatible."
    )


class Webhook(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    url: str
    netuids: list[int]
    capabilities: list[str]
    min_compatibility: Compatibility
    active: bool
    created_at: datetime


class CreatedWebhook(Webhook):
    secret: str = Field(description="Signs every delivery (HMAC-SHA256). Shown once, at creation.")


class Delivery(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    event_id: str
    version_id: int
    netuid: int | None
    status: str = Field(description="pending, delivered or dead.")
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (`addresses`, empty when not pinned) and what to call it."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def check_url(url: str, *, devnet: bool, resolver: Resolver = system_resolver) -> Target:
    """Check a webhook URL against SSRF. Raises `WebhookRefused`. Blocking (resolves DNS)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookRefused(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise WebhookRefused("a webhook URL must use http or https")
    if not parts.hostname:
        raise WebhookRefused("a webhook URL needs a host")
    if parts.username is not None or parts.password is not None:
        raise WebhookRefused("a webhook URL must not carry credentials")
    if parts.fragment:
        raise WebhookRefused("a webhook URL must not have a fragment")
    try:
        # The ASCII (IDNA) form is what DNS, the Host header and TLS use.
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise WebhookRefused(f"{parts.hostname!r} is not a valid host name") from None
    port = port or (443 if scheme == "https" else 80)
    if devnet:
        return Target(url=url, scheme=scheme, host=host, port=port, addresses=())
    try:
        addresses = tuple(resolver(host, port))
    except (OSError, UnicodeError) as exc:
        raise WebhookRefused(f"cannot resolve {host}: {exc}") from None
    if not addresses:
        raise WebhookRefused(f"{host} resolves to no address")
    for address in addresses:
        try:
            reason = refusal(address)
        except ValueError:
            reason = f"{address} is not an IP address"
        if reason is not None:
            raise WebhookRefused(
                f"webhooks may only target public addresses ({reason}); run the API with devnet mode "
                "for local receivers"
            )
    return Target(url=url, scheme=scheme, host=host, port=port, addresses=addresses)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `X-Orchestra-Signature` header value for `body` sent at `timestamp` (unix seconds)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    secret: str, header: str, body: bytes, tolerance_s: float = 300.0, *, now: float | None = None
) -> bool:
    """For receivers: whether `header` signs exactly `body` with `secret`, within `tolerance_s` of now.

    The tolerance rejects replays of an old delivery; deduplicate on the event id as well.
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).partition(",v1=")[2]
    # Compare every candidate so the time taken does not tell which one (if any) matched.
    matches = [hmac.compare_digest(expected, candidate) for candidate in candidates]
    return any(matches)


def encode_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


class WebhookRegistry:
    """Subscription CRUD. Every subscription belongs to one API key and is visible only to it."""

    def __init__(
        self,
        store: LedgerStore,
        *,
        devnet: bool,
        max_per_key: int = 25,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._store = store
        self._devnet = devnet
        self._max_per_key = max_per_key
        self._resolver = resolver

    def create(self, key_id: int, spec: WebhookSpec) -> CreatedWebhook:
        check_url(spec.url, devnet=self._devnet, resolver=self._resolver)
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        with self._store.session() as session:
            count = session.scalar(
                sa.select(sa.func.count()).select_from(WebhookRow).where(WebhookRow.key_id == key_id)
            )
            if (count or 0) >= self._max_per_key:
                raise TooManyWebhooks(f"a key may hold at most {self._max_per_key} webhooks")
            row = WebhookRow(
                key_id=key_id,
                url=spec.url,
                secret=secret,
                netuids=sorted(set(spec.netuids)),
                capabilities=sorted({c.value for c in spec.capabilities}),
                min_compatibility=spec.min_compatibility.value,
                active=True,
                created_at=datetime.now(timezone.utc),
            )
            session.add(row)
            session.flush()
            return CreatedWebhook(**_webhook(row).model_dump(), secret=secret)

    def list_for(self, key_id: int) -> list[Webhook]:
        query = sa.select(WebhookRow).where(WebhookRow.key_id == key_id).order_by(WebhookRow.id)
        with self._store.session() as session:
            return [_webhook(row) for row in session.scalars(query)]

    def get(self, key_id: int, webhook_id: int) -> Webhook:
        with self._store.session() as session:
            return _webhook(self._owned(session, key_id, webhook_id))

    def delete(self, key_id: int, webhook_id: int) -> None:
        with self._store.session() as session:
            row = self._owned(session, key_id, webhook_id)
            # Explicit, so undelivered events go with the subscription whatever the database's FK mode.
            session.execute(sa.delete(DeliveryRow).where(DeliveryRow.webhook_id == row.id))
            session.delete(row)

    def deliveries(
        self, key_id: int, webhook_id: int, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Delivery]:
        query = sa.select(DeliveryRow).where(DeliveryRow.webhook_id == webhook_id)
        if status is not None:
            query = query.where(DeliveryRow.status == status)
        query = query.order_by(DeliveryRow.id.desc()).limit(limit).offset(offset)
        with self._store.session() as session:
            self._owned(session, key_id, webhook_id)
            return [_delivery(row) for row in session.scalars(query)]

    @staticmethod
    def _owned(session: sa.orm.Session, key_id: int, webhook_id: int) -> WebhookRow:
        row = session.get(WebhookRow, webhook_id)
        if row is None or row.key_id != key_id:
            # Someone else's webhook is reported exactly like a missing one.
            raise UnknownWebhook(f"no webhook with id {webhook_id}")
        return row


@dataclass(frozen=True)
class DispatchReport:
    attempted: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0


@dataclass(frozen=True)
class _Job:
    delivery_id: int
    event_id: str
    attempts: int
    url: str
    secret: str
    payload: dict[str, Any]


class WebhookDispatcher:
    """Delivers due webhook events. Run `run_forever` in the API process or call `run_once` yourself.

    Deliveries are claimed with a lease (their next attempt is pushed past the attempt's deadline), so
    dispatchers in several processes do not send the same attempt twice.
    """

    def __init__(
        self,
        store: LedgerStore,
        settings: LedgerApiSettings,
        *,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: Callable[[], float] = random.random,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._settings = settings
        self._resolver = resolver
        self._transport = transport
        self._rng = rng
        self._wall_clock = wall_clock
        self._client: httpx.AsyncClient | None = None

    async def run_once(self, *, now: datetime | None = None) -> DispatchReport:
        """Attempt every due delivery once (up to the batch size). `now` decides what is due."""
        now = now or datetime.now(timezone.utc)
        jobs = await asyncio.to_thread(self._claim, now)
        if not jobs:
            return DispatchReport()
        limit = asyncio.Semaphore(self._settings.webhook_concurrency)

        async def attempt(job: _Job) -> tuple[_Job, str | None]:
            async with limit:
                return job, await self._attempt(job)

        outcomes = await asyncio.gather(*(attempt(job) for job in jobs))
        statuses = await asyncio.to_thread(self._record, outcomes, now)
        return DispatchReport(
            attempted=len(jobs),
            delivered=statuses.count(DELIVERED),
            retrying=statuses.count(PENDING),
            dead=statuses.count(DEAD),
        )

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; a failing pass is logged and retried on the next tick."""
        try:
            while not stop.is_set():
                try:
                    report = await self.run_once()
                except Exception:
                    logger.exception("webhook dispatch pass failed")
                    report = DispatchReport()
                if report.attempted >= self._settings.webhook_batch:
                    continue  # a backlog: keep draining without waiting
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._settings.webhook_interval_s)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                timeout=httpx.Timeout(self._settings.webhook_timeout_s),
                trust_env=False,  # an environment proxy must not become a way around the SSRF guard
                transport=self._transport,
                headers={"User-Agent": USER_AGENT},
            )
        return self._client

    def _claim(self, now: datetime) -> list[_Job]:
        lease = timedelta(seconds=self._settings.webhook_timeout_s * 2 + 30)
        query = (
            sa.select(DeliveryRow, WebhookRow)
            .join(WebhookRow, WebhookRow.id == DeliveryRow.webhook_id)
            .where(DeliveryRow.status == PENDING, DeliveryRow.next_attempt_at <= now)
            .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
            .limit(self._settings.webhook_batch)
            .with_for_update(skip_locked=True, of=DeliveryRow)
        )
        jobs: list[_Job] = []
        with self._store.session() as session:
            for delivery, hook in session.execute(query):
                if not hook.active:
                    delivery.status = DEAD
                    delivery.last_error = "the webhook is disabled"
                    continue
                delivery.next_attempt_at = now + lease
                jobs.append(
                    _Job(
                        delivery_id=delivery.id,
                        event_id=delivery.event_id,
                        attempts=delivery.attempts,
                        url=hook.url,
                        secret=hook.secret,
                        payload=dict(delivery.payload),
                    )
                )
        return jobs

    async def _attempt(self, job: _Job) -> str | None:
        """One POST of the event. Returns None on a 2xx answer, else why it failed."""
        try:
            target = await asyncio.to_thread(
                check_url, job.url, devnet=self._settings.devnet, resolver=self._resolver
            )
        except WebhookRefused as exc:
            return f"refused: {exc.message}"
        body = encode_body(job.payload)
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: str(job.payload.get("event", "subnet.version")),
            EVENT_ID_HEADER: job.event_id,
            ATTEMPT_HEADER: str(job.attempts + 1),
            SIGNATURE_HEADER: sign(job.secret, body, int(self._wall_clock())),
        }
        url, extensions = _pinned(target, headers)
        try:
            return await asyncio.wait_for(
                self._post(url, body, headers, extensions), timeout=self._settings.webhook_timeout_s * 2
            )
        except asyncio.TimeoutError:
            return "timed out"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        except Exception as exc:
            # One odd subscription must not take the other deliveries of the batch down with it.
            logger.exception("webhook event %s: unexpected error while delivering", job.event_id)
            return f"unexpected error: {type(exc).__name__}"

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str], extensions: dict[str, Any]
    ) -> str | None:
        # Streamed and closed unread: a receiver's answer body is never needed, so never downloaded.
        async with self._http().stream(
            "POST", url, content=body, headers=headers, extensions=extensions
        ) as response:
            if 200 <= response.status_code < 300:
                return None
            if 300 <= response.status_code < 400:
                return f"HTTP {response.status_code} (redirects are not followed)"
            return f"HTTP {response.status_code}"

    def _record(self, outcomes: list[tuple[_Job, str | None]], now: datetime) -> list[str]:
        statuses: list[str] = []
        with self._store.session() as session:
            for job, error in outcomes:
                row = session.get(DeliveryRow, job.delivery_id)
                if row is None:  # the subscription was deleted mid-attempt
                    continue
                row.attempts = job.attempts + 1
                row.last_error = error
                if error is None:
                    row.status = DELIVERED
                    row.delivered_at = now
                elif row.attempts >= self._settings.webhook_max_attempts:
                    row.status = DEAD
                    logger.warning(
                        "webhook event %s is dead after %d attempts: %s", job.event_id, row.attempts, error
                    )
                else:
                    row.status = PENDING
                    row.next_attempt_at = now + timedelta(seconds=self.backoff(row.attempts))
                statuses.append(row.status)
        return statuses

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after `attempts` failed attempts: doubling, capped, with equal jitter."""
        ceiling = min(
            self._settings.webhook_backoff_max_s, self._settings.webhook_backoff_base_s * 2 ** (attempts - 1)
        )
        # Half fixed, half random: retries spread out without ever coming sooner than half the delay.
        return float(ceiling / 2 + self._rng() * ceiling / 2)


def _pinned(target: Target, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The URL to request and the httpx extensions, connecting to the checked address when there is one."""
    if not target.addresses:
        return target.url, {}
    address = target.addresses[0]
    parts = urlsplit(target.url)
    shown = f"[{address}]" if ":" in address else address
    host = f"[{target.host}]" if ":" in target.host else target.host
    default_port = 443 if target.scheme == "https" else 80
    netloc = shown if parts.port is None else f"{shown}:{parts.port}"
    headers["Host"] = host if target.port == default_port else f"{host}:{target.port}"
    # TLS still verifies the certificate against the host name, via SNI.
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), extensions


def _webhook(row: WebhookRow) -> Webhook:
    return Webhook(
        id=row.id,
        url=row.url,
        netuids=list(row.netuids),
        capabilities=list(row.capabilities),
        min_compatibility=Compatibility(row.min_compatibility),
        active=row.active,
        created_at=_utc(row.created_at),
    )


def _delivery(row: DeliveryRow) -> Delivery:
    netuid = row.payload.get("netuid") if isinstance(row.payload, dict) else None
    return Delivery(
        id=row.id,
        event_id=row.event_id,
        version_id=row.version_id,
        netuid=netuid if isinstance(netuid, int) else None,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=_utc(row.next_attempt_at),
        last_error=row.last_error,
        delivered_at=_utc(row.delivered_at) if row.delivered_at else None,
    )


def _utc(value: datetime) -> datetime:
    # SQLite returns datetimes without their zone; everything is written in UTC.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
