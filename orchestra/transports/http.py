"""The `http` route: JSON over HTTPS to a producer's hosted API (Desearch, Data Universe, ...)."""

import asyncio
import time
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
        headers: dict[str, str] | None = None,
        timeout: float,
    ) -> CallReply:
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

        async def exchange() -> tuple[httpx.Response, bytes]:
            async with client.stream(
                method, url, json=json_body, headers=headers, timeout=timeout
            ) as response:
                return response, await _read_limited(response)

        try:
            # httpx's timeout bounds each read; a producer dripping bytes must not outlive the call's budget.
            response, body = await asyncio.wait_for(exchange(), timeout=timeout)
        except (httpx.TimeoutException, asyncio.TimeoutError):
            raise CallTimeout(f"{operation} at {host} timed out after {timeout:.1f}s", meta()) from None
        except httpx.TransportError as exc:
            raise ProducerUnavailable(f"{operation} at {host} is unreachable: {exc}", meta()) from None
        except _TooLarge:
            raise InvalidResponse(
                f"{operation} at {host} sent more than {MAX_RESPONSE_BYTES} bytes", meta()
            ) from None

        status = response.status_code
        payload = _decode_json(body)
        error_body = None if payload is _NOT_JSON else payload
        if status == 429:
            raise RateLimited(f"{operation} at {host} is rate limiting us", meta(status), error_body)
        if 400 <= status < 500:
            raise ProducerRejected(
                f"{operation} at {host} refused the request ({status})", meta(status), error_body
            )
        if status >= 500:
            raise ProducerFailed(f"{operation} at {host} failed ({status})", meta(status), error_body)
        if payload is _NOT_JSON:
            raise InvalidResponse(f"{operation} at {host} did not answer with JSON", meta(status))
        return CallReply(payload=payload, meta=meta(status))

    async def aclose(self) -> None:
        await self._clients.aclose()


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
