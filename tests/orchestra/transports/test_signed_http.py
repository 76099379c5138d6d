import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web
from bittensor_wallet import Keypair

from ledger.entry import AuthKind
from orchestra.devnet.servers import ThreadedAiohttpServer
from orchestra.transports import ProducerRejected, UnsignableRoute
from orchestra.transports.http import HttpTransport
from orchestra.transports.openai import OpenAITransport
from orchestra.transports.signed_http import (
    InMemoryNonceStore,
    SignatureError,
    SignatureFailure,
    SignedHttpTransport,
    btauth_headers,
    btauth_payload,
    canonical_body,
    epistula_headers,
    verify_btauth,
    verify_epistula,
)

ALICE = Keypair.create_from_uri("//Alice")  # the Orchestra miner's hotkey
BOB = Keypair.create_from_uri("//Bob")  # the producer the requests are signed for
CHARLIE = Keypair.create_from_uri("//Charlie")
BODY = {"model": "m", "messages": [{"role": "user", "content": "héllo"}], "max_tokens": 8}


@dataclass
class Producer:
    """What the stand-in producer saw: requests, the TCP peers they came from, and verdicts."""

    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    peers: list[Any] = field(default_factory=list)  # (host, port) of the client socket
    nonces: InMemoryNonceStore = field(default_factory=InMemoryNonceStore)


@pytest.fixture(scope="module")
def producer() -> Producer:
    return Producer()


@pytest.fixture(scope="module")
def server(producer: Producer) -> Iterator[ThreadedAiohttpServer]:
    async def signed(request: web.Request) -> web.Response:
        body = await request.read()
        producer.requests.append((request.method, request.raw_path, dict(request.headers), body))
        producer.peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        try:
            if request.match_info["scheme"] == "btauth":
                sender = verify_btauth(
                    request.method,
                    request.raw_path,
                    body,
                    request.headers,
                    receiver=BOB.ss58_address,
                    nonces=producer.nonces,
                )
            else:
                sender = verify_epistula(
                    body, request.headers, receiver=BOB.ss58_address, nonces=producer.nonces
                )
        except SignatureError as exc:
            return web.json_response({"detail": exc.reason.value}, status=401)
        return web.json_response({"sender": sender, "body": json.loads(body) if body else None})

    async def chat(request: web.Request) -> web.Response:
        producer.peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return web.json_response(
            {"id": "c", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]}
        )

    app = web.Application()
    app.router.add_route("*", "/{scheme}/call", signed)
    app.router.add_post("/v1/chat/completions", chat)
    running = ThreadedAiohttpServer(app).start()
    yield running
    running.stop()


@pytest.fixture
async def http() -> AsyncIterator[HttpTransport]:
    transport = HttpTransport()
    yield transport
    await transport.aclose()


@pytest.mark.parametrize("scheme", [AuthKind.BTAUTH, AuthKind.EPISTULA])
async def test_a_signed_request_verifies_at_the_producer(
    server: ThreadedAiohttpServer, producer: Producer, http: HttpTransport, scheme: AuthKind
) -> None:
    transport = SignedHttpTransport(http, ALICE)
    reply = await transport.request(
        "POST",
        f"{server.url}/{scheme.value}/call",
        json_body=BODY,
        timeout=5,
        scheme=scheme,
        receiver=BOB.ss58_address,
    )
    assert reply.payload == {"sender": ALICE.ss58_address, "body": BODY}
    _, _, headers, raw = producer.requests[-1]
    # Exactly the compact bytes that were signed arrived, described as JSON.
    assert raw == canonical_body(BODY) == json.dumps(BODY, separators=(",", ":"), ensure_ascii=False).encode()
    assert headers["Content-Type"] == "application/json"


async def test_btauth_signs_the_query_string_and_headers_as_bittensor_11_does(
    server: ThreadedAiohttpServer, producer: Producer, http: HttpTransport
) -> None:
    transport = SignedHttpTransport(http, ALICE)
    reply = await transport.request(
        "GET",
        f"{server.url}/btauth/call?q=a b&page=2",
        timeout=5,
        scheme=AuthKind.BTAUTH,
        receiver=BOB.ss58_address,
    )
    assert reply.payload["sender"] == ALICE.ss58_address
    method, target, headers, raw = producer.requests[-1]
    assert (method, target, raw) == ("GET", "/btauth/call?q=a%20b&page=2", b"")
    assert headers["X-Bittensor-Version"] == "1"
    assert headers["X-Bittensor-Hotkey"] == ALICE.ss58_address
    assert headers["X-Bittensor-Receiver"] == BOB.ss58_address
    assert headers["X-Bittensor-Signature"].startswith("0x")
    assert "X-Bittensor-Crypto" not in headers  # absent means sr25519


async def test_epistula_headers_carry_the_receiver_and_time_window_signatures(
    server: ThreadedAiohttpServer, producer: Producer, http: HttpTransport
) -> None:
    transport = SignedHttpTransport(http, ALICE)
    await transport.request(
        "POST",
        f"{server.url}/epistula/call",
        json_body=BODY,
        timeout=5,
        scheme=AuthKind.EPISTULA,
        receiver=BOB.ss58_address,
    )
    _, _, headers, raw = producer.requests[-1]
    assert headers["Epistula-Version"] == "2"
    assert headers["Epistula-Signed-By"] == ALICE.ss58_address
    assert headers["Epistula-Signed-For"] == BOB.ss58_address
    message = f"{hashlib.sha256(raw).hexdigest()}.{headers['Epistula-Uuid']}.{headers['Epistula-Timestamp']}."
    assert ALICE.verify(message + BOB.ss58_address, headers["Epistula-Request-Signature"])
    interval = -(-int(headers["Epistula-Timestamp"]) // 10_000)
    for index, offset in enumerate((-1, 0, 1)):
        secret = headers[f"Epistula-Secret-Signature-{index}"]
        assert ALICE.verify(f"{interval + offset}.{BOB.ss58_address}", secret)


@pytest.mark.parametrize("scheme", [AuthKind.BTAUTH, AuthKind.EPISTULA])
async def test_a_request_signed_for_another_receiver_is_refused(
    server: ThreadedAiohttpServer, http: HttpTransport, scheme: AuthKind
) -> None:
    transport = SignedHttpTransport(http, ALICE)
    with pytest.raises(ProducerRejected) as caught:
        await transport.request(
            "POST",
            f"{server.url}/{scheme.value}/call",
            json_body=BODY,
            timeout=5,
            scheme=scheme,
            receiver=CHARLIE.ss58_address,
        )
    assert caught.value.payload == {"detail": "wrong-receiver"}
    assert caught.value.transient is False


async def test_a_replayed_request_is_refused_on_the_wire(
    server: ThreadedAiohttpServer, producer: Producer, http: HttpTransport
) -> None:
    transport = SignedHttpTransport(http, ALICE)
    url = f"{server.url}/btauth/call"
    await transport.request(
        "POST", url, json_body=BODY, timeout=5, scheme=AuthKind.BTAUTH, receiver=BOB.ss58_address
    )
    _, _, headers, raw = producer.requests[-1]
    signed = {name: value for name, value in headers.items() if name.startswith("X-Bittensor-")}
    async with httpx.AsyncClient() as eavesdropper:
        replay = await eavesdropper.post(
            url, content=raw, headers={**signed, "Content-Type": "application/json"}
        )
    assert replay.status_code == 401
    assert replay.json() == {"detail": "replayed"}


async def test_caller_headers_cannot_replace_the_signature(
    server: ThreadedAiohttpServer, producer: Producer, http: HttpTransport
) -> None:
    transport = SignedHttpTransport(http, ALICE)
    reply = await transport.request(
        "POST",
        f"{server.url}/btauth/call",
        json_body=BODY,
        headers={
            "x-bittensor-hotkey": CHARLIE.ss58_address,
            "X-Bittensor-Crypto": "ed25519",  # would make an honest signature fail to verify
            "X-Trace": "t1",
            "content-type": "text/plain",
        },
        timeout=5,
        scheme=AuthKind.BTAUTH,
        receiver=BOB.ss58_address,
    )
    assert reply.payload["sender"] == ALICE.ss58_address
    _, _, headers, _ = producer.requests[-1]
    assert headers["X-Trace"] == "t1"
    assert headers["Content-Type"] == "application/json"
    assert "X-Bittensor-Crypto" not in headers


@pytest.mark.parametrize("scheme", [AuthKind.BEARER, AuthKind.NONE, AuthKind.API_KEY])
async def test_a_route_without_a_signing_scheme_sends_nothing(
    server: ThreadedAiohttpServer, producer: Producer, http: HttpTransport, scheme: AuthKind
) -> None:
    transport = SignedHttpTransport(http, ALICE)
    before = len(producer.requests)
    with pytest.raises(UnsignableRoute, match=scheme.value):
        await transport.request(
            "POST", f"{server.url}/btauth/call", json_body=BODY, timeout=5, scheme=scheme, receiver=None
        )
    assert len(producer.requests) == before


async def test_all_route_kinds_share_one_pooled_connection(
    server: ThreadedAiohttpServer, producer: Producer
) -> None:
    http = HttpTransport()
    openai = OpenAITransport(http)
    signed = SignedHttpTransport(http, ALICE)
    start = len(producer.peers)
    for _ in range(2):
        await openai.request(
            "POST", f"{server.url}/v1/chat/completions", json_body=BODY, timeout=5, api_key="k"
        )
        for scheme in (AuthKind.BTAUTH, AuthKind.EPISTULA):
            await signed.request(
                "POST",
                f"{server.url}/{scheme.value}/call",
                json_body=BODY,
                timeout=5,
                scheme=scheme,
                receiver=BOB.ss58_address,
            )
        await http.request("POST", f"{server.url}/v1/chat/completions", json_body=BODY, timeout=5)
    await http.aclose()
    peers = producer.peers[start:]
    assert len(peers) == 8
    assert len(set(peers)) == 1  # one client port: every call rode the same kept-alive connection


# --- the verifiers on their own -------------------------------------------------------------------


def signed_btauth(
    body: bytes = b'{"q":1}', receiver: str | None = BOB.ss58_address, nonce_ns: int = 10**18
) -> dict[str, str]:
    return btauth_headers(
        ALICE, method="POST", path="/call?x=1", body=body, receiver=receiver, nonce_ns=nonce_ns
    )


def check_btauth(headers: dict[str, str], body: bytes = b'{"q":1}', **options: Any) -> str:
    options.setdefault("nonces", InMemoryNonceStore())
    options.setdefault("now_ns", 10**18 + 1_000_000_000)
    options.setdefault("receiver", BOB.ss58_address)
    return verify_btauth("POST", "/call?x=1", body, headers, **options)


def signed_epistula(body: bytes = b'{"q":1}', signed_for: str | None = BOB.ss58_address) -> dict[str, str]:
    return epistula_headers(ALICE, body, signed_for=signed_for, timestamp_ms=1_700_000_000_000)


def check_epistula(headers: dict[str, str], body: bytes = b'{"q":1}', **options: Any) -> str:
    options.setdefault("nonces", InMemoryNonceStore())
    options.setdefault("now_ms", 1_700_000_001_000)
    options.setdefault("receiver", BOB.ss58_address)
    return verify_epistula(body, headers, **options)


def test_the_btauth_payload_is_the_bittensor_11_layout() -> None:
    payload = btauth_payload(
        scheme="sr25519",
        method="post",
        path="/v1/x?y=1",
        body=b"{}",
        nonce_ns=1_700_000_000_000_000_000,
        sender="5Sender",
        receiver=None,
    )
    assert payload == (
        b"btauth/1\nsr25519\nPOST\n/v1/x?y=1\n"
        + hashlib.sha256(b"{}").hexdigest().encode()
        + b"\n1700000000000000000\n5Sender\n-"
    )


def test_valid_signatures_verify() -> None:
    assert check_btauth(signed_btauth()) == ALICE.ss58_address
    assert check_epistula(signed_epistula()) == ALICE.ss58_address


def test_a_tampered_body_is_refused() -> None:
    with pytest.raises(SignatureError) as caught:
        check_btauth(signed_btauth(), body=b'{"q":2}')
    assert caught.value.reason is SignatureFailure.BAD_SIGNATURE
    with pytest.raises(SignatureError) as caught:
        check_epistula(signed_epistula(), body=b'{"q":2}')
    assert caught.value.reason is SignatureFailure.BAD_SIGNATURE


def test_a_tampered_path_or_method_is_refused() -> None:
    with pytest.raises(SignatureError) as caught:
        verify_btauth(
            "POST", "/call?x=2", b'{"q":1}', signed_btauth(), receiver=BOB.ss58_address, now_ns=10**18
        )
    assert caught.value.reason is SignatureFailure.BAD_SIGNATURE
    with pytest.raises(SignatureError) as caught:
        verify_btauth(
            "PUT", "/call?x=1", b'{"q":1}', signed_btauth(), receiver=BOB.ss58_address, now_ns=10**18
        )
    assert caught.value.reason is SignatureFailure.BAD_SIGNATURE


def test_a_wrong_or_missing_receiver_is_refused() -> None:
    for headers in (signed_btauth(receiver=CHARLIE.ss58_address), signed_btauth(receiver=None)):
        with pytest.raises(SignatureError) as caught:
            check_btauth(headers)
        assert caught.value.reason is SignatureFailure.WRONG_RECEIVER
    for headers in (signed_epistula(signed_for=CHARLIE.ss58_address), signed_epistula(signed_for=None)):
        with pytest.raises(SignatureError) as caught:
            check_epistula(headers)
        assert caught.value.reason is SignatureFailure.WRONG_RECEIVER


def test_an_unbound_request_passes_only_when_the_server_allows_it() -> None:
    assert check_btauth(signed_btauth(receiver=None), require_receiver=False) == ALICE.ss58_address
    assert check_epistula(signed_epistula(signed_for=None), require_receiver=False) == ALICE.ss58_address


def test_stale_and_future_requests_are_refused() -> None:
    headers = signed_btauth()
    cases: list[Callable[[], str]] = [
        lambda: check_btauth(headers, now_ns=10**18 + 11 * 10**9),  # 11 s old, window 10 s
        lambda: check_btauth(headers, now_ns=10**18 - 3 * 10**9),  # 3 s ahead, skew 2 s
        lambda: check_epistula(signed_epistula(), now_ms=1_700_000_009_000),  # 9 s old, window 8 s
        lambda: check_epistula(signed_epistula(), now_ms=1_699_999_997_000),  # 3 s ahead
    ]
    for case in cases:
        with pytest.raises(SignatureError) as caught:
            case()
        assert caught.value.reason is SignatureFailure.STALE


def test_a_replay_is_refused_by_both_verifiers() -> None:
    nonces = InMemoryNonceStore()
    headers = signed_btauth()
    assert check_btauth(headers, nonces=nonces) == ALICE.ss58_address
    with pytest.raises(SignatureError) as caught:
        check_btauth(headers, nonces=nonces)
    assert caught.value.reason is SignatureFailure.REPLAYED
    headers = signed_epistula()
    assert check_epistula(headers, nonces=nonces) == ALICE.ss58_address
    with pytest.raises(SignatureError) as caught:
        check_epistula(headers, nonces=nonces)
    assert caught.value.reason is SignatureFailure.REPLAYED


def test_a_forged_request_does_not_use_up_the_real_senders_nonce() -> None:
    nonces = InMemoryNonceStore()
    real = signed_btauth()
    forged = {**real, "X-Bittensor-Signature": "0x" + "00" * 64}
    with pytest.raises(SignatureError):
        check_btauth(forged, nonces=nonces)
    assert check_btauth(real, nonces=nonces) == ALICE.ss58_address


@pytest.mark.parametrize(
    "change",
    [
        {"X-Bittensor-Version": "2"},
        {"X-Bittensor-Nonce": "soon"},
        {"X-Bittensor-Signature": "0xnothex"},
        {"X-Bittensor-Signature": "0x1234"},
        {"X-Bittensor-Hotkey": "not-an-address"},
        {"X-Bittensor-Crypto": "ecdsa"},
    ],
)
def test_malformed_btauth_headers_are_refused(change: dict[str, str]) -> None:
    with pytest.raises(SignatureError) as caught:
        check_btauth({**signed_btauth(), **change})
    assert caught.value.reason is SignatureFailure.MALFORMED


@pytest.mark.parametrize(
    "change",
    [
        {"Epistula-Version": "1"},
        {"Epistula-Timestamp": "1.7e12"},
        {"Epistula-Uuid": "not-a-uuid"},
        {"Epistula-Request-Signature": "0xzz"},
    ],
)
def test_malformed_epistula_headers_are_refused(change: dict[str, str]) -> None:
    with pytest.raises(SignatureError) as caught:
        check_epistula({**signed_epistula(), **change})
    assert caught.value.reason is SignatureFailure.MALFORMED


def test_an_ed25519_hotkey_signs_btauth_with_its_scheme_named() -> None:
    signer = Keypair.create_from_uri("//Alice", crypto_type=0)
    headers = btauth_headers(signer, method="POST", path="/call?x=1", body=b"{}", receiver=BOB.ss58_address)
    assert headers["X-Bittensor-Crypto"] == "ed25519"
    now = int(headers["X-Bittensor-Nonce"])
    sender = verify_btauth(
        "POST",
        "/call?x=1",
        b"{}",
        headers,
        receiver=BOB.ss58_address,
        nonces=InMemoryNonceStore(),
        now_ns=now,
    )
    assert sender == signer.ss58_address


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_nonce_store_forgets_after_its_retention() -> None:
    clock = Clock()
    store = InMemoryNonceStore(retention_s=30, clock=clock)
    assert store.check_and_store("alice", "1")
    assert not store.check_and_store("alice", "1")
    assert store.check_and_store("bob", "1")  # nonces are per sender
    clock.now = 31
    assert store.check_and_store("alice", "2")
    assert len(store) == 1  # both old entries expired
    assert store.check_and_store("alice", "1")


def test_the_nonce_store_is_bounded() -> None:
    store = InMemoryNonceStore(max_entries=3)
    for nonce in range(10):
        assert store.check_and_store("alice", str(nonce))
    assert len(store) == 3
    assert not store.check_and_store("alice", "9")


def test_a_store_that_forgets_inside_the_window_is_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        check_btauth(signed_btauth(), nonces=InMemoryNonceStore(retention_s=5))
