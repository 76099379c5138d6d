"""Routes from the Ledger: which ones a miner can use, and how measured health orders them."""

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ledger.entry import AuthKind, Health, Provenance, Route, SubnetEntry, SubnetStatus
from ledger.store import LedgerStore, Sample
from orchestra.devnet.ledger import open_devnet_ledger
from orchestra.routing import DENDRITE_PROVIDERS, LedgerDirectory, Router, health_rank, spec_from_ledger
from protocol.models import RouteKind, Step

ENDPOINT = "http://127.0.0.1:9"
ADAPTERS = {"desearch", "data_universe"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LedgerStore]:
    ledger = open_devnet_ledger(tmp_path / "l.db", ENDPOINT)
    yield ledger
    ledger.close()


def keys_for(*netuids: int):  # type: ignore[no-untyped-def]
    return lambda netuid, route: "k" if netuid in netuids else None


def sn22(store: LedgerStore) -> SubnetEntry:
    return store.get(22).entry


def with_routes(entry: SubnetEntry, *routes: Route) -> SubnetEntry:
    return entry.model_copy(update={"routes": (*entry.routes, *routes)})


def test_the_devnet_ledger_gives_both_adapters_routes(store: LedgerStore) -> None:
    directory = LedgerDirectory(store, adapters=ADAPTERS, secrets=keys_for(22))

    routes = {r.name: r for r in directory()}

    assert sorted(routes) == ["sn13-bucket", "sn22-desearch-api"]
    assert {r.adapter for r in routes.values()} == ADAPTERS
    http = routes["sn22-desearch-api"]
    assert (http.netuid, http.kind, http.endpoint) == (22, RouteKind.HTTP, ENDPOINT)
    assert http.api_key is not None and http.api_key.get_secret_value() == "k"
    assert set(http.capabilities) == {"web_search", "social_search"}
    dendrite = routes["sn13-bucket"]
    assert (dendrite.netuid, dendrite.kind, dendrite.api_key) == (13, RouteKind.DENDRITE, None)
    assert dendrite.max_providers == DENDRITE_PROVIDERS
    assert dendrite.capabilities == ("social_data",)


def test_a_keyed_route_needs_a_key_and_a_dendrite_route_does_not(store: LedgerStore) -> None:
    directory = LedgerDirectory(store, adapters=ADAPTERS, secrets=keys_for())

    assert [r.name for r in directory()] == ["sn13-bucket"]


def test_routes_without_a_known_adapter_or_kind_are_left_out(store: LedgerStore) -> None:
    assert [r.name for r in LedgerDirectory(store, adapters={"data_universe"}, secrets=keys_for(22))()] == [
        "sn13-bucket"
    ]
    openai = Route(
        name="chat",
        kind=RouteKind.OPENAI,
        endpoint=ENDPOINT,
        auth=AuthKind.NONE,
        capabilities=("web_search",),
        adapter="desearch",
    )
    nameless = Route(name="raw", kind=RouteKind.HTTP, endpoint=ENDPOINT, capabilities=("web_search",))
    store.apply(with_routes(sn22(store), openai, nameless), source="test")

    names = {r.name for r in LedgerDirectory(store, adapters=ADAPTERS, secrets=keys_for(22))()}
    assert names == {"sn13-bucket", "sn22-desearch-api", "sn22-chat"}
    http_only = LedgerDirectory(store, adapters=ADAPTERS, secrets=keys_for(22), kinds=(RouteKind.HTTP,))
    assert {r.name for r in http_only()} == {"sn22-desearch-api"}
    # The desearch adapter speaks only the hosted API: an openai route naming it cannot be served.
    speaking = {"desearch": {RouteKind.HTTP}, "data_universe": {RouteKind.DENDRITE}}
    served = LedgerDirectory(store, adapters=speaking, secrets=keys_for(22))
    assert {r.name for r in served()} == {"sn13-bucket", "sn22-desearch-api"}


def test_the_directory_follows_new_versions(store: LedgerStore) -> None:
    directory = LedgerDirectory(store, adapters=ADAPTERS, secrets=keys_for(22))
    assert len(directory()) == 2

    mirror = Route(
        name="mirror",
        kind=RouteKind.HTTP,
        endpoint="http://127.0.0.1:10",
        auth=AuthKind.NONE,
        capabilities=("web_search",),
        adapter="desearch",
        cost_per_call=0.002,
    )
    store.apply(with_routes(sn22(store), mirror), source="test")
    routes = {r.name: r for r in directory()}
    assert sorted(routes) == ["sn13-bucket", "sn22-desearch-api", "sn22-mirror"]
    assert routes["sn22-mirror"].capabilities == ("web_search",)
    assert routes["sn22-mirror"].cost_per_call == 0.002
    keyless = LedgerDirectory(store, adapters=ADAPTERS, secrets=keys_for())
    assert sorted(r.name for r in keyless()) == ["sn13-bucket", "sn22-mirror"], "no key needed, none asked"

    store.apply(sn22(store).model_copy(update={"status": SubnetStatus.DEPRECATED}), source="test")
    assert [r.name for r in directory()] == ["sn13-bucket"], "deprecated subnets are not routed to"


def test_one_entry_without_capabilities_does_not_break_routing(store: LedgerStore) -> None:
    bare = SubnetEntry(
        netuid=40,
        name="Bare",
        routes=(Route(name="api", kind=RouteKind.HTTP, endpoint=ENDPOINT, adapter="desearch"),),
        provenance=Provenance(source="test"),
    )
    store.apply(bare, source="test")

    names = {r.name for r in LedgerDirectory(store, adapters=ADAPTERS, secrets=keys_for(22))()}

    assert {"sn13-bucket", "sn22-desearch-api"} <= names


def test_a_route_that_needs_no_key_is_not_given_one(store: LedgerStore) -> None:
    open_mirror = Route(
        name="open-mirror",
        kind=RouteKind.HTTP,
        endpoint="https://mirror.example.org",
        auth=AuthKind.NONE,
        capabilities=("web_search",),
        adapter="desearch",
    )
    store.apply(with_routes(sn22(store), open_mirror), source="test")

    def by_adapter(_netuid: int, route: Route) -> str | None:  # how the miner looks keys up
        return "operator-key" if route.adapter == "desearch" else None

    routes = {r.name: r for r in LedgerDirectory(store, adapters=ADAPTERS, secrets=by_adapter)()}

    assert routes["sn22-desearch-api"].api_key is not None
    assert routes["sn22-open-mirror"].api_key is None


def test_a_route_without_its_own_capabilities_offers_the_subnet_ones(store: LedgerStore) -> None:
    entry = sn22(store)
    route = Route(name="all", kind=RouteKind.HTTP, endpoint=ENDPOINT, adapter="desearch")

    spec = spec_from_ledger(entry, route, None)

    assert spec.name == "sn22-all" and spec.capabilities == entry.capabilities
    assert spec.api_key is None and spec.max_providers == 1


def health(success: float | None, p95: float | None = None) -> Health:
    return Health(route="r", success_rate=success, latency_p95_ms=p95)


def test_health_rank_orders_routes_as_a_user_would() -> None:
    active = SubnetStatus.ACTIVE

    assert health_rank(active, health(1.0), 0.0) > health_rank(active, health(0.6), 0.0)
    assert health_rank(active, health(1.0), 0.0) > health_rank(SubnetStatus.DEGRADED, health(1.0), 0.0)
    assert health_rank(active, health(1.0, p95=200.0), 0.0) > health_rank(
        active, health(1.0, p95=8_000.0), 0.0
    )
    assert health_rank(active, health(1.0), 0.0) > health_rank(active, health(1.0), 0.01)
    assert health_rank(active, health(1.0), 0.001) > health_rank(active, health(1.0), 0.1)
    # Unmeasured routes get a fair prior: below a proven one, above a failing one.
    unknown = health_rank(active, None, 0.0)
    assert health_rank(active, health(1.0), 0.0) > unknown > health_rank(active, health(0.5), 0.0)
    assert health_rank(active, health(None), 0.0) == unknown
    assert health_rank(active, health(0.0), 0.0) == 0.0


def test_router_tries_the_healthier_route_first(store: LedgerStore) -> None:
    backup = Route(
        name="backup",
        kind=RouteKind.HTTP,
        endpoint="http://127.0.0.1:10",
        auth=AuthKind.NONE,
        capabilities=("web_search",),
        adapter="desearch",
    )
    store.apply(with_routes(sn22(store), backup), source="test")
    now = datetime.now(timezone.utc)
    store.record_samples(
        [Sample(22, "desearch-api", i % 2 == 0, 300.0, None, now - timedelta(minutes=i)) for i in range(10)]
        + [Sample(22, "backup", True, 300.0, None, now - timedelta(minutes=i)) for i in range(10)]
    )
    directory = LedgerDirectory(store, adapters=ADAPTERS, secrets=keys_for(22))
    step = Step(id="s", capability="web_search")

    plain = Router(directory, lambda netuid: None).candidates(step)
    ranked = Router(directory, lambda netuid: None, rank=directory.rank).candidates(step)

    assert [c.route.name for c in plain] == ["sn22-desearch-api", "sn22-backup"]
    assert [c.route.name for c in ranked] == ["sn22-backup", "sn22-desearch-api"]
    assert ranked[0].provider.host == "127.0.0.1:10"
    assert directory.rank(ranked[0].route) > directory.rank(ranked[1].route)


def test_router_ranks_a_degraded_subnet_below_an_active_one(store: LedgerStore) -> None:
    other = SubnetEntry(
        netuid=41,
        name="Other search",
        capabilities=("web_search",),
        routes=(
            Route(
                name="api",
                kind=RouteKind.HTTP,
                endpoint="http://127.0.0.1:11",
                capabilities=("web_search",),
                adapter="desearch",
            ),
        ),
        provenance=Provenance(source="test"),
    )
    store.apply(other, source="test")
    store.apply(sn22(store).model_copy(update={"status": SubnetStatus.DEGRADED}), source="test")
    directory = LedgerDirectory(store, adapters=ADAPTERS, secrets=keys_for(22))
    router = Router(directory, lambda netuid: None, rank=directory.rank)

    candidates = router.candidates(Step(id="s", capability="web_search"))

    assert [c.route.name for c in candidates] == ["sn41-api", "sn22-desearch-api"]
