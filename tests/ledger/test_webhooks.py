"""Webhook deliveries to a real receiver on 127.0.0.1: signed, filtered, retried, and guarded."""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from aiohttp import web

from ledger.api.keys import KeyStore, Tier
from ledger.api.settings import LedgerApiSettings
from ledger.api.webhooks import (
    CreatedWebhook,
    WebhookDispatcher,
    WebhookRefused,
    WebhookRegistry,
    WebhookSpec,
    check_url,
    sign,
    verify_signature,
)
from ledger.entry import Provenance, SubnetEntry
from ledger.models import WebhookRow
from ledger.store import LedgerStore
from ledger.vocabulary import Capability

PUBLIC_IP = "93.184.216.34"


@dataclass
class Receiver:
    """An HTTP endpoint that records what it is sent and answers with scripted statuses."""

    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    got_one: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.headers), await request.read()))
        self.got_one.set()
        status = self.statuses.pop(0) if self.statuses else 200
        if status in (301, 302, 307):
            return web.Response(status=status, headers={"Location": f"{self.url}/elsewhere"})
        return web.Response(status=status, text="ok")

    def paths(self) -> list[str]:
        return [path for path, _, _ in self.requests]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    receiver.url = f"http://{host}:{port}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


def settings(**overrides: Any) -> LedgerApiSettings:
    values: dict[str, Any] = {"devnet": True, "webhook_backoff_base_s": 5.0, "webhook_max_attempts": 8}
    return LedgerApiSettings(**{**values, **overrides})


def entry(netuid: int, capabilities: tuple[str, ...], description: str = "") -> SubnetEntry:
    return SubnetEntry(
        netuid=netuid,
        name=f"SN{netuid}",
        description=description,
        capabilities=capabilities,
        provenance=Provenance(source="test"),
    )


def subscribe(store: LedgerStore, url: str, **filters: Any) -> CreatedWebhook:
    key = KeyStore(store).create("receiver", Tier.DEVELOPER)
    return WebhookRegistry(store, devnet=True).create(key.id, WebhookSpec(url=url, **filters))


def later(hours: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(hours=hours)


def delivery_rows(store: LedgerStore, hook: CreatedWebhook) -> list[tuple[str, int, str | None]]:
    """(status, attempts, last error) of the webhook's deliveries, as its owner sees them."""
    with store.session() as session:
        row = session.get(WebhookRow, hook.id)
        assert row is not None and row.key_id is not None
        owner = row.key_id
    deliveries = WebhookRegistry(store, devnet=True).deliveries(owner, hook.id)
    return [(d.status, d.attempts, d.last_error) for d in deliveries]


@pytest.fixture
def ledger(store: LedgerStore) -> LedgerStore:
    store.apply(entry(13, ("social_data", "social_search")), source="seed")
    store.apply(entry(12, ("compute",)), source="seed")
    return store


async def test_a_matching_change_is_delivered_signed_and_others_are_not(
    ledger: LedgerStore, receiver: Receiver
) -> None:
    social = subscribe(ledger, f"{receiver.url}/social", capabilities=[Capability.SOCIAL_DATA])
    sn13 = subscribe(ledger, f"{receiver.url}/sn13", netuids=[13])
    compute = subscribe(ledger, f"{receiver.url}/compute", capabilities=[Capability.COMPUTE])
    sn22 = subscribe(ledger, f"{receiver.url}/sn22", netuids=[22])
    dispatcher = WebhookDispatcher(ledger, settings())
    try:
        written = ledger.apply(
            entry(13, ("social_data", "social_search"), "now with YouTube"), source="probe"
        )
        assert written is not None
        report = await dispatcher.run_once()
    finally:
        await dispatcher.aclose()

    assert report.delivered == 2 and report.attempted == 2
    assert sorted(receiver.paths()) == ["/sn13", "/social"]
    secrets = {"/social": social.secret, "/sn13": sn13.secret}
    for path, headers, body in receiver.requests:
        assert verify_signature(secrets[path], headers["X-Orchestra-Signature"], body)
        assert not verify_signature(compute.secret, headers["X-Orchestra-Signature"], body)
        event = json.loads(body)
        assert headers["X-Orchestra-Event"] == event["event"] == "subnet.version"
        assert headers["X-Orchestra-Event-Id"] == event["event_id"]
        assert (event["netuid"], event["version"], event["version_id"]) == (13, 2, written.id)
        assert event["entry"]["description"] == "now with YouTube"
    assert delivery_rows(ledger, compute) == [] and delivery_rows(ledger, sn22) == []
    assert [status for status, _, _ in delivery_rows(ledger, sn13)] == ["delivered"]


async def test_failures_are_retried_with_backoff_under_the_same_event_id(
    ledger: LedgerStore, receiver: Receiver
) -> None:
    receiver.statuses = [500, 500, 200]
    hook = subscribe(ledger, f"{receiver.url}/hook", netuids=[12])
    ledger.apply(entry(12, ("compute",), "H100s by the hour"), source="probe")
    dispatcher = WebhookDispatcher(ledger, settings())
    try:
        first = await dispatcher.run_once()
        not_yet = await dispatcher.run_once()  # the retry waits for its backoff
        second = await dispatcher.run_once(now=later(1))
        third = await dispatcher.run_once(now=later(2))
        after = await dispatcher.run_once(now=later(3))
    finally:
        await dispatcher.aclose()

    assert (first.retrying, not_yet.attempted, second.retrying, third.delivered) == (1, 0, 1, 1)
    assert after.attempted == 0
    ids = {headers["X-Orchestra-Event-Id"] for _, headers, _ in receiver.requests}
    assert len(receiver.requests) == 3 and len(ids) == 1
    assert [h["X-Orchestra-Delivery-Attempt"] for _, h, _ in receiver.requests] == ["1", "2", "3"]
    assert delivery_rows(ledger, hook) == [("delivered", 3, None)]


async def test_a_delivery_that_keeps_failing_ends_dead(ledger: LedgerStore, receiver: Receiver) -> None:
    receiver.statuses = [503] * 10
    hook = subscribe(ledger, f"{receiver.url}/hook")
    ledger.apply(entry(12, ("compute",), "changed"), source="probe")
    dispatcher = WebhookDispatcher(ledger, settings(webhook_max_attempts=3))
    try:
        reports = [await dispatcher.run_once(now=later(hours)) for hours in (0, 1, 2, 3)]
    finally:
        await dispatcher.aclose()
    assert [(r.retrying, r.dead) for r in reports] == [(1, 0), (1, 0), (0, 1), (0, 0)]
    assert len(receiver.requests) == 3
    assert delivery_rows(ledger, hook) == [("dead", 3, "HTTP 503")]


async def test_redirects_are_not_followed(sqlite_store: LedgerStore, receiver: Receiver) -> None:
    sqlite_store.apply(entry(12, ("compute",)), source="seed")
    receiver.statuses = [302]
    hook = subscribe(sqlite_store, f"{receiver.url}/hook")
    sqlite_store.apply(entry(12, ("compute",), "changed"), source="probe")
    dispatcher = WebhookDispatcher(sqlite_store, settings())
    try:
        await dispatcher.run_once()
    finally:
        await dispatcher.aclose()
    assert receiver.paths() == ["/hook"]
    [(status, attempts, error)] = delivery_rows(sqlite_store, hook)
    assert (status, attempts) == ("pending", 1)
    assert error is not None and "redirect" in error


async def test_the_address_is_checked_again_at_delivery(
    sqlite_store: LedgerStore, receiver: Receiver
) -> None:
    sqlite_store.apply(entry(12, ("compute",)), source="seed")
    hook = subscribe(sqlite_store, f"{receiver.url}/hook")  # accepted while the API ran in devnet mode
    sqlite_store.apply(entry(12, ("compute",), "changed"), source="probe")
    dispatcher = WebhookDispatcher(sqlite_store, settings(devnet=False))
    try:
        await dispatcher.run_once()
    finally:
        await dispatcher.aclose()
    assert receiver.requests == []
    [(_, attempts, error)] = delivery_rows(sqlite_store, hook)
    assert attempts == 1 and error is not None and "refused" in error and "loopback" in error


async def test_deliveries_connect_to_the_checked_address(sqlite_store: LedgerStore) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    sqlite_store.apply(entry(12, ("compute",)), source="seed")
    key = KeyStore(sqlite_store).create("remote", Tier.FREE)
    registry = WebhookRegistry(sqlite_store, devnet=False, resolver=lambda _host, _port: [PUBLIC_IP])
    registry.create(key.id, WebhookSpec(url="https://hooks.example.com:8443/ledger?x=1"))
    sqlite_store.apply(entry(12, ("compute",), "changed"), source="probe")
    dispatcher = WebhookDispatcher(
        sqlite_store,
        settings(devnet=False),
        resolver=lambda _host, _port: [PUBLIC_IP],
        transport=httpx.MockTransport(answer),
    )
    try:
        assert (await dispatcher.run_once()).delivered == 1
    finally:
        await dispatcher.aclose()
    [request] = seen
    assert str(request.url) == f"https://{PUBLIC_IP}:8443/ledger?x=1"
    assert request.headers["Host"] == "hooks.example.com:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.com"


async def test_the_dispatcher_loop_delivers_and_stops(sqlite_store: LedgerStore, receiver: Receiver) -> None:
    sqlite_store.apply(entry(12, ("compute",)), source="seed")
    subscribe(sqlite_store, f"{receiver.url}/hook")
    stop = asyncio.Event()
    loop = asyncio.create_task(
        WebhookDispatcher(sqlite_store, settings(webhook_interval_s=0.05)).run_forever(stop)
    )
    sqlite_store.apply(entry(12, ("compute",), "changed"), source="probe")
    await asyncio.wait_for(receiver.got_one.wait(), timeout=10)
    stop.set()
    await asyncio.wait_for(loop, timeout=10)
    assert receiver.paths() == ["/hook"]


# signatures and the SSRF guard, without a network


def test_signature_verification_rejects_tampering() -> None:
    body = b'{"event":"subnet.version","netuid":13}'
    header = sign("whsec_a", body, 1_800_000_000)
    assert verify_signature("whsec_a", header, body, now=1_800_000_010)
    assert not verify_signature("whsec_a", header, body.replace(b"13", b"14"), now=1_800_000_010)
    assert not verify_signature("whsec_b", header, body, now=1_800_000_010)
    assert not verify_signature("whsec_a", header, body, now=1_800_000_000 + 3_600)  # a replay
    assert not verify_signature("whsec_a", "v1=" + header.split("v1=")[1], body, now=1_800_000_010)
    assert not verify_signature("whsec_a", "garbage", body)
    rotated = f"{header},v1={'0' * 64}"
    assert verify_signature("whsec_a", rotated, body, now=1_800_000_010)


NON_PUBLIC = [
    *("127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.0.1", "169.254.169.254", "100.100.0.1", "0.0.0.0"),
    *("224.0.0.251", "240.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "2002:7f00:1::1"),
]


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_non_public_addresses_are_refused(address: str) -> None:
    with pytest.raises(WebhookRefused):
        check_url("https://hooks.example.com/", devnet=False, resolver=lambda _h, _p: [address])


def test_public_addresses_pass_and_unresolvable_hosts_do_not() -> None:
    target = check_url("https://hooks.example.com/x", devnet=False, resolver=lambda _h, _p: [PUBLIC_IP])
    assert target.addresses == (PUBLIC_IP,) and target.port == 443

    def unresolvable(_host: str, _port: int) -> list[str]:
        raise OSError("Name or service not known")

    asked: list[str] = []

    def recording(host: str, _port: int) -> list[str]:
        asked.append(host)
        return [PUBLIC_IP]

    check_url("https://bücher.example/", devnet=False, resolver=recording)
    assert asked == ["xn--bcher-kva.example"]

    with pytest.raises(WebhookRefused, match="cannot resolve"):
        check_url("https://nowhere.invalid/", devnet=False, resolver=unresolvable)
