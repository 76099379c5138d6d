"""The `http` route: JSON over HTTPS to a producer's hosted API (Desearch, Data Universe, ...).

`HttpTransport` owns the connection pool. The `openai` and `signed-http` transports send through
`HttpTransport.exchange`, so every route kind reuses the same pooled connections, and classify the
answer themselves; `HttpTransport.request` classifies by status code alone.
"""

import asyncio
import datetime
import email.utils
import math
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from orchestra.transports.base import (
    CallMeta,
    CallReply,
    CallTimeout,
    InvalidResponse,
    LoopLocal,
    ProducerFailed,
    ProducerRejected,
    ProducerUnavailable,
    RateLimited,
    strict_json,
)
from protocol.models import Provider

MAX_RESPONSE_BYTES = 8 * 1024 * 1024
USER_AGENT = "orchestra-subnet/0.1 (+https://github.com/orchestra-subnet/orchestra)"
MAX_RETRY_AFTER_S = 3600.0  # a longer hint is a producer telling us to go elsewhere, not to wait


class Throttled(RateLimited):
    """A 429, with the producer's `Retry-After` hint in seconds (None when it sent none we can read)."""

    def __init__(
        self, message: str, meta: CallMeta, payload: Any = None, *, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, meta, payload)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class HttpResponse:
    """An HTTP answer before classification: the status, headers and raw body, with the call's meta."""

    status: int
    headers: httpx.Headers
    body: bytes
    meta: CallMeta

    @property
    def retry_after_s(self) -> float | None:
        return retry_after(self.headers)


class HttpTransport:
    """Pooled async HTTP client with typed errors. Safe to share; keeps one pool per event loop."""

    def __init__(self, *, max_connections: int = 64) -> None:
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._clients: LoopLocal[httpx.AsyncClient] = LoopLocal(
            lambda: httpx.AsyncClient(
                limits=limits, headers={"User-Agent": USER_AGENT}, follow_redirects=False
            ),
            lambda client: client.aclose(),
        )

    async def request(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float,
    ) -> CallReply:
        """One call whose answer must be JSON; any status >= 400 raises its typed `TransportError`.

        `content` sends pre-serialised bytes as they are (a signed body must arrive byte for byte);
        give it or `json_body`, not both.
        """
        response = await self.exchange(
            method, url, json_body=json_body, content=content, headers=headers, timeout=timeout
        )
        return classify(response)

    async def exchange(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float,
    ) -> HttpResponse:
        """Send one request and read its whole answer, whatever the status.

        Raises only what prevents an answer: `CallTimeout`, `ProducerUnavailable`, and `InvalidResponse`
        for a body above `MAX_RESPONSE_BYTES`.
        """
        if content is not None and json_body is not None:
            raise ValueError("give json_body or content, not both")
        parts = urlsplit(url)
        host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)  # never user:password@
        operation = f"{method.upper()} {parts.path or '/'}"
        started_ns = time.time_ns()
        started = time.perf_counter()

        def meta(status_code: int | None = None) -> CallMeta:
            return CallMeta(
                provider=Provider(host=host),
                operation=operation,
                started_ns=started_ns,
                latency_ms=(time.perf_counter() - started) * 1000,
                status_code=status_code,
            )

        client = self._clients.get()

        async def send() -> tuple[httpx.Response, bytes]:
            async with client.stream(
                method, url, json=json_body, content=content, headers=headers, timeout=timeout
            ) as response:
                return response, await _read_limited(response)

        try:
            # httpx's timeout bounds each read; a producer dripping bytes must not outlive the call's budget.
            response, body = await asyncio.wait_for(send(), timeout=timeout)
        except (httpx.TimeoutException, asyncio.TimeoutError):
            raise CallTimeout(f"{operation} at {host} timed out after {timeout:.1f}s", meta()) from None
        except httpx.TransportError as exc:
            raise ProducerUnavailable(f"{operation} at {host} is unreachable: {exc}", meta()) from None
        except _TooLarge:
            raise InvalidResponse(
                f"{operation} at {host} sent more than {MAX_RESPONSE_BYTES} bytes", meta()
            ) from None
        return HttpResponse(
            status=response.status_code, headers=response.headers, body=body, meta=meta(response.status_code)
        )

    async def aclose(self) -> None:
        await self._clients.aclose()


def classify(response: HttpResponse) -> CallReply:
    """A JSON answer as a `CallReply`, or the `TransportError` its status code stands for."""
    status, meta = response.status, response.meta
    where = f"{meta.operation} at {meta.provider.host}"
    payload = _decode_json(response.body)
    error_body = None if payload is _NOT_JSON else payload
    if status == 429:
        raise Throttled(
            f"{where} is rate limiting us", meta, error_body, retry_after_s=response.retry_after_s
        )
    if 400 <= status < 500:
        raise ProducerRejected(f"{where} refused the request ({status})", meta, error_body)
    if status >= 500:
        raise ProducerFailed(f"{where} failed ({status})", meta, error_body)
    if payload is _NOT_JSON:
        raise InvalidResponse(f"{where} did not answer with JSON", meta)
    return CallReply(payload=payload, meta=meta)


def retry_after(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (delta seconds or an HTTP date).

    OpenAI-compatible servers may send the millisecond form; it is the more precise, so it wins.
    Unreadable, negative or non-finite values give None; hints are capped at `MAX_RETRY_AFTER_S`.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        seconds = _finite(raw_ms)
        if seconds is not None:
            return min(seconds / 1000, MAX_RETRY_AFTER_S)
    raw = headers.get("retry-after")
    if raw is None:
        return None
    seconds = _finite(raw)
    if seconds is None:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT; `-0000` parses as naive
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = max(0.0, when.timestamp() - (time.time() if now is None else now))
    return min(seconds, MAX_RETRY_AFTER_S)


def _finite(raw: str) -> float | None:
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


class _TooLarge(Exception):
    pass


async def _read_limited(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


_NOT_JSON = object()


def _decode_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return strict_json(body)
    except ValueError:  # UnicodeDecodeError is a ValueError
        return _NOT_JSON
