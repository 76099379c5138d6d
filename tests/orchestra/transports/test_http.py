import asyncio
import email.utils
from collections.abc import Iterator

import httpx
import pytest
from aiohttp import web

from orchestra.devnet.servers import ThreadedAiohttpServer
from orchestra.ports import free_port
from orchestra.transports import (
    CallTimeout,
    InvalidResponse,
    ProducerFailed,
    ProducerRejected,
    ProducerUnavailable,
    RateLimited,
)
from orchestra.transports.http import MAX_RESPONSE_BYTES, HttpTransport, Throttled, retry_after
from protocol.models import CallStatus


async def ok(request: web.Request) -> web.Response:
    body = await request.json()
    return web.json_response({"echo": body, "auth": request.headers.get("Authorization")})


async def slow(_: web.Request) -> web.Response:
    await asyncio.sleep(2)
    return web.json_response({})


def fixed(status: int, text: str) -> object:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(status=status, text=text, content_type="application/json")

    return handler


async def huge(_: web.Request) -> web.StreamResponse:
    return web.Response(
        body=b"[" + b"1," * (MAX_RESPONSE_BYTES // 2 + 10) + b"1]", content_type="application/json"
    )


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedAiohttpServer]:
    app = web.Application()
    app.router.add_post("/ok", ok)
    app.router.add_post("/slow", slow)
    app.router.add_post("/unauthorised", fixed(401, '{"detail": "Invalid or missing API key"}'))  # type: ignore[arg-type]
    app.router.add_post("/limited", fixed(429, '{"detail": "slow down"}'))  # type: ignore[arg-type]
    app.router.add_post("/broken", fixed(503, "<html>oops</html>"))  # type: ignore[arg-type]
    app.router.add_post("/garbage", fixed(200, "this is not json"))  # type: ignore[arg-type]
    app.router.add_post("/huge", huge)
    running = ThreadedAiohttpServer(app).start()
    yield running
    running.stop()


async def test_json_round_trip_with_headers_and_timing(server: ThreadedAiohttpServer) -> None:
    transport = HttpTransport()
    reply = await transport.request(
        "POST", f"{server.url}/ok", json_body={"q": "gpu"}, headers={"Authorization": "key"}, timeout=5
    )
    await transport.aclose()
    assert reply.payload == {"echo": {"q": "gpu"}, "auth": "key"}
    assert reply.meta.status_code == 200
    assert reply.meta.operation == "POST /ok"
    assert reply.meta.provider.host == f"127.0.0.1:{server.port}"
    assert reply.meta.latency_ms > 0 and reply.meta.started_ns > 0


@pytest.mark.parametrize(
    ("path", "error", "status", "transient"),
    [
        ("/unauthorised", ProducerRejected, CallStatus.REJECTED, False),
        ("/limited", RateLimited, CallStatus.REJECTED, True),
        ("/broken", ProducerFailed, CallStatus.ERROR, True),
        ("/garbage", InvalidResponse, CallStatus.INVALID_RESPONSE, False),
        ("/huge", InvalidResponse, CallStatus.INVALID_RESPONSE, False),
    ],
)
async def test_failures_are_typed(
    server: ThreadedAiohttpServer, path: str, error: type[Exception], status: CallStatus, transient: bool
) -> None:
    transport = HttpTransport()
    with pytest.raises(error) as caught:
        await transport.request("POST", f"{server.url}{path}", json_body={}, timeout=5)
    await transport.aclose()
    assert caught.value.status is status  # type: ignore[attr-defined]
    assert caught.value.transient is transient  # type: ignore[attr-defined]


async def test_error_bodies_are_kept_when_they_are_json(server: ThreadedAiohttpServer) -> None:
    transport = HttpTransport()
    with pytest.raises(ProducerRejected) as caught:
        await transport.request("POST", f"{server.url}/unauthorised", json_body={}, timeout=5)
    await transport.aclose()
    assert caught.value.payload == {"detail": "Invalid or missing API key"}
    assert caught.value.meta.status_code == 401


async def test_timeout(server: ThreadedAiohttpServer) -> None:
    transport = HttpTransport()
    with pytest.raises(CallTimeout):
        await transport.request("POST", f"{server.url}/slow", json_body={}, timeout=0.2)
    await transport.aclose()


async def test_nothing_listening_is_unavailable() -> None:
    transport = HttpTransport()
    with pytest.raises(ProducerUnavailable):
        await transport.request("POST", f"http://127.0.0.1:{free_port()}/x", json_body={}, timeout=2)
    await transport.aclose()


@pytest.fixture(scope="module")
def hostile() -> Iterator[ThreadedAiohttpServer]:
    app = web.Application()
    app.router.add_post("/nan", fixed(200, '{"price": NaN}'))  # type: ignore[arg-type]
    app.router.add_post("/deep", fixed(200, "[" * 100_000 + "]" * 100_000))  # type: ignore[arg-type]

    async def drip(_: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(_)
        for _ in range(20):
            await response.write(b" ")
            await asyncio.sleep(0.1)
        await response.write(b"{}")
        return response

    app.router.add_post("/drip", drip)
    running = ThreadedAiohttpServer(app).start()
    yield running
    running.stop()


@pytest.mark.parametrize("path", ["/nan", "/deep"])
async def test_json_without_a_canonical_form_is_an_invalid_response(
    hostile: ThreadedAiohttpServer, path: str
) -> None:
    transport = HttpTransport()
    with pytest.raises(InvalidResponse):
        await transport.request("POST", f"{hostile.url}{path}", json_body={}, timeout=5)
    await transport.aclose()


async def test_a_producer_dripping_bytes_cannot_outlive_the_timeout(hostile: ThreadedAiohttpServer) -> None:
    # Every byte arrives well within httpx's per-read timeout; only a bound on the whole call stops it.
    transport = HttpTransport()
    with pytest.raises(CallTimeout):
        await transport.request("POST", f"{hostile.url}/drip", json_body={}, timeout=0.5)
    await transport.aclose()


async def test_credentials_in_an_endpoint_url_never_reach_the_provider_host(
    server: ThreadedAiohttpServer,
) -> None:
    transport = HttpTransport()
    reply = await transport.request(
        "POST", f"http://user:secret@127.0.0.1:{server.port}/ok", json_body={}, timeout=5
    )
    await transport.aclose()
    assert reply.meta.provider.host == f"127.0.0.1:{server.port}"


@pytest.fixture(scope="module")
def paced() -> Iterator[ThreadedAiohttpServer]:
    async def raw(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response({"bytes": body.decode(), "type": request.headers.get("Content-Type")})

    async def limited(request: web.Request) -> web.Response:
        return web.json_response(
            {"detail": "slow down"},
            status=429,
            headers=dict(request.query),  # the test picks the hint
        )

    app = web.Application()
    app.router.add_post("/raw", raw)
    app.router.add_post("/limited", limited)
    running = ThreadedAiohttpServer(app).start()
    yield running
    running.stop()


async def test_pre_serialised_bytes_are_sent_verbatim(paced: ThreadedAiohttpServer) -> None:
    transport = HttpTransport()
    exact = b'{ "b":1,\n"a" : "\xc3\xa9" }'  # spacing and order a JSON re-encoding would change
    reply = await transport.request(
        "POST", f"{paced.url}/raw", content=exact, headers={"Content-Type": "application/json"}, timeout=5
    )
    await transport.aclose()
    assert reply.payload == {"bytes": exact.decode(), "type": "application/json"}


async def test_a_body_is_given_one_way_only(paced: ThreadedAiohttpServer) -> None:
    transport = HttpTransport()
    with pytest.raises(ValueError, match="not both"):
        await transport.request("POST", f"{paced.url}/raw", json_body={}, content=b"{}", timeout=5)
    await transport.aclose()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Retry-After=12", 12.0),
        ("retry-after-ms=1500&Retry-After=9", 1.5),
        ("Retry-After=Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: retry now
        ("Retry-After=soon", None),
        ("Retry-After=999999", 3600.0),
        ("", None),
    ],
)
async def test_rate_limiting_carries_the_retry_after_hint(
    paced: ThreadedAiohttpServer, query: str, expected: float | None
) -> None:
    transport = HttpTransport()
    with pytest.raises(Throttled) as caught:
        await transport.request("POST", f"{paced.url}/limited?{query}", json_body={}, timeout=5)
    await transport.aclose()
    assert isinstance(caught.value, RateLimited) and caught.value.transient
    assert caught.value.retry_after_s == expected
    assert caught.value.payload == {"detail": "slow down"}


def test_an_http_date_retry_after_counts_from_now() -> None:
    headers = httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"})
    now = email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:28:00 GMT").timestamp()
    assert retry_after(headers, now=now) == 30.0
