"""The Ledger HTTP API as a client sees it: shapes, filters, errors, limits, keys, webhooks, docs."""

import hashlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from ledger.api.app import create_app
from ledger.api.keys import KeyStore, Tier
from ledger.api.ratelimit import RateLimiter
from ledger.api.server import ServerThread
from ledger.api.settings import LedgerApiSettings
from ledger.entry import SubnetEntry
from ledger.models import ApiKeyRow
from ledger.seed import SEED_VERSION_SOURCE, load_seed_entries
from ledger.store import LedgerStore, StoredEntry

ADMIN = "test-admin-token"
PUBLIC_IP = "93.184.216.34"


def make_settings(**overrides: Any) -> LedgerApiSettings:
    values: dict[str, Any] = {"admin_token": SecretStr(ADMIN), "dispatch_webhooks": False, **overrides}
    return LedgerApiSettings(**values)


def seed(store: LedgerStore) -> LedgerStore:
    store.seed(load_seed_entries(), source=SEED_VERSION_SOURCE)
    return store


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ledger.test")


@pytest.fixture
def seeded(sqlite_store: LedgerStore) -> LedgerStore:
    return seed(sqlite_store)


@pytest.fixture
async def client(seeded: LedgerStore) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(seeded, make_settings())) as client:
        yield client


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN}"}


async def new_key(client: httpx.AsyncClient, tier: str = "developer", name: str = "app") -> str:
    response = await client.post("/v1/keys", json={"name": name, "tier": tier}, headers=admin_headers())
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body


def changed(entry: SubnetEntry, **update: Any) -> SubnetEntry:
    return SubnetEntry.model_validate({**entry.model_dump(), **update})


# reading the Ledger


async def test_list_filters_by_capability_and_pages(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/subnets", params={"capability": "social_search"})
    assert response.status_code == 200
    items = response.json()["items"]
    assert {13, 22} <= {item["entry"]["netuid"] for item in items}
    assert all("social_search" in item["entry"]["capabilities"] for item in items)
    assert all(item["version"] >= 1 for item in items)

    first = (await client.get("/v1/subnets", params={"limit": 10})).json()
    second = (await client.get("/v1/subnets", params={"limit": 10, "offset": first["next_offset"]})).json()
    first_ids = [item["entry"]["netuid"] for item in first["items"]]
    second_ids = [item["entry"]["netuid"] for item in second["items"]]
    assert len(first_ids) == len(second_ids) == 10
    assert first_ids == sorted(first_ids) and max(first_ids) < min(second_ids)


async def test_list_filters_by_route_kind_and_status(client: httpx.AsyncClient) -> None:
    items = (await client.get("/v1/subnets", params={"route_kind": "openai", "status": "active"})).json()[
        "items"
    ]
    assert items
    for item in items:
        assert item["entry"]["status"] == "active"
        assert any(route["kind"] == "openai" for route in item["entry"]["routes"])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"capability": "telepathy"}, "query.capability"),
        ({"limit": "0"}, "query.limit"),
        ({"limit": "501"}, "query.limit"),
        ({"offset": "-1"}, "query.offset"),
        ({"status": "sleeping"}, "query.status"),
        ({"route_kind": "carrier-pigeon"}, "query.route_kind"),
        ({"limit": "ten"}, "query.limit"),
        ({"capabilty": "web_search"}, "capabilty"),
    ],
)
async def test_malformed_filters_are_422_naming_the_field(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    body = assert_error(await client.get("/v1/subnets", params=params), 422, "invalid_request")
    assert field in body["error"]["message"]


async def test_one_subnet_has_entry_version_and_health(
    seeded: LedgerStore, client: httpx.AsyncClient
) -> None:
    route = seeded.get(22).entry.routes[0].name
    seeded.record_sample(22, route, ok=True, latency_ms=120.0)
    seeded.record_sample(22, route, ok=False, latency_ms=None, error="timeout")
    body = (await client.get("/v1/subnets/22")).json()
    assert body["entry"]["name"] == "Desearch"
    assert body["version"] == 1
    assert body["updated_at"]
    [health] = body["health"]
    assert health["route"] == route
    assert health["success_rate"] == 0.5
    assert health["latency_p50_ms"] == 120.0


async def test_unknown_netuid_is_404_json(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/subnets/4321"), 404, "unknown_subnet")
    assert_error(await client.get("/v1/subnets/4321/history"), 404, "unknown_subnet")
    assert_error(await client.get("/v1/subnets/4321/versions/1"), 404, "unknown_subnet")


async def test_bad_paths_are_json_errors(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/subnets/thirteen"), 422, "invalid_request")
    assert_error(await client.get("/v1/subnets/70000"), 422, "invalid_request")
    assert_error(await client.get("/v1/no-such-thing"), 404, "not_found")
    assert_error(await client.get("/nothing/here"), 404, "not_found")
    assert_error(await client.delete("/v1/subnets/13"), 405, "method_not_allowed")


async def test_history_and_versions(seeded: LedgerStore, client: httpx.AsyncClient) -> None:
    current = seeded.get(13).entry
    seeded.apply(changed(current, description="Scraped X and Reddit posts, now with YouTube."), source="test")
    history = (await client.get("/v1/subnets/13/history")).json()
    assert [item["version"] for item in history["items"]] == [2, 1]
    assert history["items"][0]["changes"]
    first = (await client.get("/v1/subnets/13/versions/1")).json()
    assert first["entry"]["description"] == current.description
    assert_error(await client.get("/v1/subnets/13/versions/3"), 404, "unknown_version")
    assert_error(await client.get("/v1/subnets/13/versions/0"), 422, "invalid_request")
    paged = (await client.get("/v1/subnets/13/history", params={"limit": 1, "offset": 1})).json()
    assert [item["version"] for item in paged["items"]] == [1]


async def test_search_ranks_social_subnets_for_social_sentiment(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/search", params={"q": "social sentiment", "limit": 5})).json()
    assert body["terms"] == ["social", "sentiment"]
    assert {hit["netuid"] for hit in body["items"][:2]} == {13, 22}
    scores = [hit["score"] for hit in body["items"]]
    assert scores == sorted(scores, reverse=True)
    gpu = (await client.get("/v1/search", params={"q": "gpu rental"})).json()["items"]
    assert gpu and all("compute" in hit["matched_capabilities"] for hit in gpu[:3])


async def test_search_rejects_empty_queries(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/search", params={"q": "   "}), 422, "invalid_query")
    assert_error(await client.get("/v1/search"), 422, "invalid_request")
    assert_error(await client.get("/v1/search", params={"q": "x" * 600}), 422, "invalid_request")


async def test_capabilities_and_stats(seeded: LedgerStore, client: httpx.AsyncClient) -> None:
    capabilities = {c["name"]: c for c in (await client.get("/v1/capabilities")).json()["items"]}
    assert "sentiment" in capabilities["social_search"]["search_terms"]
    assert capabilities["compute"]["definition"]
    assert (await client.get("/v1/stats")).json() == seeded.stats().as_dict()


async def test_export_is_every_entry_with_its_version(seeded: LedgerStore, client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/export")
    assert response.status_code == 200
    document = response.json()
    assert document["count"] == len(document["subnets"]) == seeded.stats().subnets
    assert document["head"] == seeded.head()
    by_netuid = {item["entry"]["netuid"]: item for item in document["subnets"]}
    assert by_netuid[22]["version"] == 1
    assert SubnetEntry.model_validate(by_netuid[22]["entry"]) == seeded.get(22).entry


async def test_healthz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json()["status"] == "ok"


async def test_openapi_documents_every_route(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path in (
        "/v1/subnets",
        "/v1/subnets/{netuid}",
        "/v1/subnets/{netuid}/history",
        "/v1/subnets/{netuid}/versions/{version}",
        "/v1/search",
        "/v1/changes",
        "/v1/export",
        "/v1/capabilities",
        "/v1/stats",
        "/v1/webhooks",
        "/v1/webhooks/{webhook_id}",
        "/v1/webhooks/{webhook_id}/deliveries",
        "/v1/keys",
        "/healthz",
    ):
        assert path in spec["paths"], path
    listing = spec["paths"]["/v1/subnets"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"capability", "status", "limit", "offset"}
    assert "429" in listing["responses"]
    assert "ErrorBody" in spec["components"]["schemas"]
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


# change feed (both databases: cursor order is the database's)


async def test_change_feed_pages_with_a_cursor(store: LedgerStore) -> None:
    seed(store)
    async with client_for(create_app(store, make_settings())) as client:
        seen: list[int] = []
        cursor = 0
        while True:
            page = (await client.get("/v1/changes", params={"since": cursor, "limit": 25})).json()
            seen += [item["id"] for item in page["items"]]
            assert page["next_cursor"] >= cursor
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
        assert seen == sorted(set(seen))
        assert len(seen) == store.stats().versions

        assert (await client.get("/v1/changes", params={"since": cursor})).json()["items"] == []
        written = store.apply(changed(store.get(64).entry, description="Serverless inference."), source="t")
        assert written is not None
        fresh = (await client.get("/v1/changes", params={"since": cursor})).json()
        assert [(item["netuid"], item["version"]) for item in fresh["items"]] == [(64, 2)]
        assert fresh["next_cursor"] == written.id


async def test_change_feed_filters(seeded: LedgerStore, client: httpx.AsyncClient) -> None:
    head = seeded.head()
    seeded.apply(changed(seeded.get(64).entry, description="Serverless inference."), source="t")
    seeded.apply(changed(seeded.get(13).entry, description="Scraped posts."), source="t")
    by_netuid = (await client.get("/v1/changes", params={"since": head, "netuid": 13})).json()
    assert [item["netuid"] for item in by_netuid["items"]] == [13]
    social = (await client.get("/v1/changes", params={"since": head, "capability": "social_data"})).json()
    assert [item["netuid"] for item in social["items"]] == [13]
    assert social["next_cursor"] == seeded.head()
    assert_error(await client.get("/v1/changes", params={"capability": "nope"}), 422, "invalid_request")
    assert_error(await client.get("/v1/changes", params={"since": "-1"}), 422, "invalid_request")


# rate limits


async def test_exceeding_the_tier_limit_is_429_with_retry_after(seeded: LedgerStore) -> None:
    frozen = RateLimiter(clock=lambda: 1_000.0)
    settings = make_settings(rate_free_per_minute=2, rate_developer_per_minute=5)
    async with client_for(create_app(seeded, settings, limiter=frozen)) as client:
        assert (await client.get("/v1/stats")).status_code == 200
        ok = await client.get("/v1/stats")
        assert ok.headers["X-RateLimit-Limit"] == "2"
        assert ok.headers["X-RateLimit-Remaining"] == "0"
        limited = await client.get("/v1/stats")
        assert_error(limited, 429, "rate_limited")
        assert int(limited.headers["Retry-After"]) >= 1
        # Malformed requests still count, and unauthenticated docs do not.
        assert (await client.get("/v1/subnets", params={"limit": "0"})).status_code == 429
        assert (await client.get("/healthz")).status_code == 200

        # A key has its own allowance at its tier's limit.
        key = await new_key(client, "developer")
        statuses = [(await client.get("/v1/stats", headers={"X-API-Key": key})).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]


def test_the_limiter_refills_over_time() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.check("ip:1", 60).allowed for _ in range(61)] == [True] * 60 + [False]
    denied = limiter.check("ip:1", 60)
    assert denied.retry_after_s == 1
    now[0] += 1.0
    assert limiter.check("ip:1", 60).allowed
    assert limiter.check("ip:2", 60).allowed  # callers do not share buckets


# keys (both databases: what is stored is the point)


async def test_keys_are_admin_only_and_stored_hashed(store: LedgerStore) -> None:
    async with client_for(create_app(store, make_settings())) as client:
        request = {"name": "dashboard", "tier": "production"}
        assert_error(await client.post("/v1/keys", json=request), 403, "forbidden")
        wrong = {"Authorization": "Bearer not-the-admin-token"}
        assert_error(await client.post("/v1/keys", json=request, headers=wrong), 403, "forbidden")
        assert_error(
            await client.post("/v1/keys", json={"name": "x", "tier": "platinum"}, headers=admin_headers()),
            422,
            "invalid_request",
        )
        created = await client.post("/v1/keys", json=request, headers=admin_headers())
        assert created.status_code == 201
        body = created.json()
        key = body["key"]
        assert key.startswith("orc_") and len(key) >= 40
        assert body["tier"] == "production" and key.startswith(body["prefix"])

    with store.engine.connect() as connection:
        rows = connection.execute(sa.select(ApiKeyRow.__table__)).mappings().all()
    [row] = rows
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert all(key not in str(value) for value in row.values())
    found = KeyStore(store).lookup(key)
    assert found is not None and found.tier is Tier.PRODUCTION
    assert KeyStore(store).lookup(key + "x") is None


async def test_admin_endpoints_are_off_without_an_admin_token(seeded: LedgerStore) -> None:
    async with client_for(create_app(seeded, make_settings(admin_token=None))) as client:
        response = await client.post("/v1/keys", json={"name": "x"}, headers=admin_headers())
        assert "ORCHESTRA_LEDGER_ADMIN_TOKEN" in assert_error(response, 403, "forbidden")["error"]["message"]


async def test_unknown_and_revoked_keys_are_401(seeded: LedgerStore, client: httpx.AsyncClient) -> None:
    key = await new_key(client)
    assert (await client.get("/v1/webhooks", headers={"Authorization": f"Bearer {key}"})).status_code == 200
    assert (await client.get("/v1/webhooks", headers={"X-API-Key": key})).status_code == 200
    assert_error(await client.get("/v1/stats", headers={"X-API-Key": "orc_madeup"}), 401, "unauthorized")
    [stored] = [k for k in KeyStore(seeded).all() if key.startswith(k.prefix)]
    revoked = await client.delete(f"/v1/keys/{stored.id}", headers=admin_headers())
    assert revoked.json()["revoked_at"] is not None
    assert_error(await client.get("/v1/webhooks", headers={"X-API-Key": key}), 401, "unauthorized")


# webhooks over the API (delivery itself is in test_webhooks.py)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://localhost/hook",
    ],
)
async def test_webhooks_to_private_addresses_are_refused(client: httpx.AsyncClient, url: str) -> None:
    key = await new_key(client)
    response = await client.post("/v1/webhooks", json={"url": url}, headers={"X-API-Key": key})
    assert_error(response, 422, "webhook_url_refused")


@pytest.mark.parametrize(
    "url", ["ftp://example.com/hook", "file:///etc/passwd", "http://user:pw@example.com/", "not a url"]
)
async def test_webhooks_need_plain_http_urls_even_in_devnet(seeded: LedgerStore, url: str) -> None:
    async with client_for(create_app(seeded, make_settings(devnet=True))) as client:
        key = await new_key(client)
        response = await client.post("/v1/webhooks", json={"url": url}, headers={"X-API-Key": key})
        assert_error(response, 422, "webhook_url_refused")


async def test_devnet_allows_local_receivers(seeded: LedgerStore) -> None:
    async with client_for(create_app(seeded, make_settings(devnet=True))) as client:
        key = await new_key(client)
        for url in ("http://127.0.0.1:9000/hook", "http://10.0.0.5/hook", "http://169.254.1.1/hook"):
            response = await client.post("/v1/webhooks", json={"url": url}, headers={"X-API-Key": key})
            assert response.status_code == 201, response.text


async def test_host_names_are_judged_by_what_they_resolve_to(seeded: LedgerStore) -> None:
    answers = {"hooks.example.com": [PUBLIC_IP], "sneaky.example.com": [PUBLIC_IP, "192.168.1.10"]}
    app = create_app(seeded, make_settings(), resolver=lambda host, _port: answers[host])
    async with client_for(app) as client:
        headers = {"X-API-Key": await new_key(client)}
        good = await client.post("/v1/webhooks", json={"url": "https://hooks.example.com/x"}, headers=headers)
        assert good.status_code == 201
        sneaky = await client.post(
            "/v1/webhooks", json={"url": "https://sneaky.example.com/"}, headers=headers
        )
        assert_error(sneaky, 422, "webhook_url_refused")


async def test_webhook_crud_is_per_key(seeded: LedgerStore) -> None:
    app = create_app(seeded, make_settings(), resolver=lambda _host, _port: [PUBLIC_IP])
    async with client_for(app) as client:
        alice = {"X-API-Key": await new_key(client, name="alice")}
        bob = {"X-API-Key": await new_key(client, name="bob")}
        assert_error(
            await client.post("/v1/webhooks", json={"url": "https://hooks.example.com/"}), 401, "unauthorized"
        )
        spec = {"url": "https://hooks.example.com/ledger", "netuids": [13], "capabilities": ["social_data"]}
        created = await client.post("/v1/webhooks", json=spec, headers=alice)
        assert created.status_code == 201
        hook = created.json()
        assert hook["secret"].startswith("whsec_")
        assert hook["netuids"] == [13] and hook["capabilities"] == ["social_data"]

        listed = (await client.get("/v1/webhooks", headers=alice)).json()
        assert [h["id"] for h in listed] == [hook["id"]]
        assert "secret" not in listed[0]
        assert (await client.get("/v1/webhooks", headers=bob)).json() == []
        assert_error(await client.get(f"/v1/webhooks/{hook['id']}", headers=bob), 404, "unknown_webhook")
        assert_error(await client.delete(f"/v1/webhooks/{hook['id']}", headers=bob), 404, "unknown_webhook")

        bad = {"url": "https://hooks.example.com/", "capabilities": ["mind_reading"]}
        assert_error(await client.post("/v1/webhooks", json=bad, headers=alice), 422, "invalid_request")

        seeded.apply(changed(seeded.get(13).entry, description="Scraped posts."), source="t")
        deliveries = (await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=alice)).json()
        assert [(d["netuid"], d["status"], d["attempts"]) for d in deliveries] == [(13, "pending", 0)]

        assert (await client.delete(f"/v1/webhooks/{hook['id']}", headers=alice)).status_code == 204
        assert_error(await client.get(f"/v1/webhooks/{hook['id']}", headers=alice), 404, "unknown_webhook")


# failures never leak internals


class ExplodingStore(LedgerStore):
    def entries(self) -> list[StoredEntry]:
        raise RuntimeError("connection to db-internal.example:5432 failed in /srv/ledger/secret.py")


@pytest.fixture
def exploding_store(tmp_path: Path) -> Iterator[ExplodingStore]:
    store = ExplodingStore(f"sqlite:///{tmp_path / 'exploding.db'}")
    try:
        yield store
    finally:
        store.close()


async def test_an_unexpected_error_is_a_plain_500(exploding_store: ExplodingStore) -> None:
    # Its own handler and level: other tests (bittensor's logging set-up) raise the root logger's level.
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    app_logger = logging.getLogger("ledger.api.app")
    was_disabled, app_logger.disabled = app_logger.disabled, False
    level = app_logger.level
    app_logger.setLevel(logging.ERROR)
    app_logger.addHandler(handler)
    try:
        async with client_for(create_app(exploding_store, make_settings())) as client:
            response = await client.get("/v1/search", params={"q": "gpu"})
    finally:
        app_logger.removeHandler(handler)
        app_logger.disabled = was_disabled
        app_logger.setLevel(level)
    assert_error(response, 500, "internal")
    assert "Traceback" not in response.text
    assert "secret.py" not in response.text and "db-internal" not in response.text
    logged = "".join(str(r.exc_info[1]) for r in records if r.exc_info)
    assert "db-internal" in logged  # the operator still gets the details


class UnreachableStore(LedgerStore):
    def head(self) -> int:
        raise sa.exc.OperationalError("SELECT max(id)", {}, ConnectionRefusedError("db-internal:5432"))


async def test_a_database_outage_is_503_with_retry_after(tmp_path: Path) -> None:
    store = UnreachableStore(f"sqlite:///{tmp_path / 'down.db'}")
    try:
        async with client_for(create_app(store, make_settings())) as client:
            response = await client.get("/healthz")
    finally:
        store.close()
    assert_error(response, 503, "database_unavailable")
    assert response.headers["Retry-After"] == "5"
    assert "db-internal" not in response.text


# a real server


def test_a_real_uvicorn_server_on_loopback(seeded: LedgerStore) -> None:
    settings = make_settings(port=0, dispatch_webhooks=True, webhook_interval_s=0.05)
    with ServerThread(seeded, settings) as server, httpx.Client(base_url=server.url) as http:
        assert server.url.startswith("http://127.0.0.1:")
        assert http.get("/healthz").json()["head"] == seeded.head()
        assert http.get("/v1/subnets/13").json()["entry"]["name"] == "Data Universe"
        missing = http.get("/v1/subnets/999")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "unknown_subnet"
        hits = http.get("/v1/search", params={"q": "social sentiment"}).json()["items"]
        assert {hit["netuid"] for hit in hits[:2]} == {13, 22}
        exported = http.get("/v1/export")
        assert exported.json()["count"] == seeded.stats().subnets
