from typing import Any

import pytest
from pydantic import ValidationError

from orchestra.chain import MetagraphView, NeuronView
from orchestra.routing import BreakerState, ProviderHealth, Router, RouteSpec
from protocol.models import RouteKind, Step


class Axon:
    def __init__(self, serving: bool) -> None:
        self.is_serving = serving


def neuron(uid: int, stake: float, *, serving: bool = True, permit: bool = False) -> NeuronView:
    return NeuronView(
        uid=uid, hotkey=f"hk{uid}", coldkey="ck", stake=stake, validator_permit=permit, axon=Axon(serving)
    )


GRAPH = MetagraphView(
    netuid=13,
    block=1,
    neurons=(
        neuron(0, 50.0),
        neuron(1, 500.0),
        neuron(2, 9_000.0, permit=True),  # a validator on the producer subnet
        neuron(3, 700.0, serving=False),
        neuron(4, 500.0),
        neuron(5, 10.0),
    ),
)


def routes(**http: Any) -> list[RouteSpec]:
    return [
        RouteSpec(
            name="desearch",
            netuid=22,
            kind=RouteKind.HTTP,
            adapter="desearch",
            capabilities=("web_search",),
            endpoint="https://api.desearch.ai",
            **http,
        ),
        RouteSpec(
            name="sn13",
            netuid=13,
            kind=RouteKind.DENDRITE,
            adapter="data_universe",
            capabilities=("social_data",),
            max_providers=3,
        ),
    ]


def test_dendrite_candidates_are_serving_miners_by_stake_then_uid() -> None:
    router = Router(routes(), lambda netuid: GRAPH if netuid == 13 else None)
    candidates = router.candidates(Step(id="s", capability="social_data"))
    assert [c.provider.uid for c in candidates] == [1, 4, 0]
    assert all(c.route.name == "sn13" for c in candidates)


def test_http_routes_have_one_provider_the_host() -> None:
    router = Router(routes(), lambda _: None)
    [candidate] = router.candidates(Step(id="w", capability="web_search"))
    assert candidate.provider.host == "api.desearch.ai"


def test_allowed_netuids_and_pinned_netuid_filter_routes() -> None:
    router = Router(routes(), lambda _: GRAPH)
    assert router.candidates(Step(id="w", capability="web_search"), allowed_netuids=[13]) == []
    assert router.candidates(Step(id="s", capability="social_data", netuid=22)) == []


def test_no_metagraph_means_no_dendrite_candidates() -> None:
    assert Router(routes(), lambda _: None).candidates(Step(id="s", capability="social_data")) == []


def test_capabilities_and_netuids() -> None:
    router = Router(routes(), lambda _: None)
    assert router.capabilities() == {"web_search", "social_data"}
    assert router.netuids(RouteKind.DENDRITE) == {13}


@pytest.mark.parametrize(
    "override",
    [
        {"capabilities": ("mind_reading",)},
        {"endpoint": "ftp://x"},
        {"timeout_s": 0},
        {"netuid": -1},
        {"capabilities": ()},
    ],
)
def test_route_specs_are_validated(override: dict[str, Any]) -> None:
    fields: dict[str, Any] = {
        "name": "r",
        "netuid": 22,
        "kind": "http",
        "adapter": "desearch",
        "capabilities": ("web_search",),
        "endpoint": "https://x",
    }
    fields.update(override)
    with pytest.raises(ValidationError):
        RouteSpec.model_validate(fields)


def test_api_keys_never_show_in_reprs() -> None:
    route = routes(api_key="super-secret")[0]
    assert "super-secret" not in repr(route) and "super-secret" not in route.model_dump_json()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_opens_after_consecutive_failures_and_lets_one_trial_through_after_cooldown() -> None:
    clock = FakeClock()
    health = ProviderHealth(failure_threshold=3, cooldown_s=10, clock=clock)
    for _ in range(2):
        health.record("p", ok=False)
    assert health.state("p") is BreakerState.CLOSED  # two failures are not a pattern yet
    health.record("p", ok=False)
    assert health.state("p") is BreakerState.OPEN and not health.available("p")
    clock.now += 10
    assert health.state("p") is BreakerState.HALF_OPEN and health.available("p")
    health.begin("p")
    assert not health.available("p")  # one trial at a time
    health.record("p", ok=True)
    assert health.state("p") is BreakerState.CLOSED and health.available("p")


def test_a_failed_trial_reopens_the_circuit_for_twice_as_long() -> None:
    clock = FakeClock()
    health = ProviderHealth(failure_threshold=1, cooldown_s=10, clock=clock)
    health.record("p", ok=False)
    clock.now += 10
    health.begin("p")
    health.record("p", ok=False)
    clock.now += 15
    assert health.state("p") is BreakerState.OPEN
    clock.now += 5
    assert health.state("p") is BreakerState.HALF_OPEN


def test_a_success_resets_the_failure_count() -> None:
    health = ProviderHealth(failure_threshold=2)
    health.record("p", ok=False)
    health.record("p", ok=True)
    health.record("p", ok=False)
    assert health.state("p") is BreakerState.CLOSED


def test_latency_p95_needs_enough_samples() -> None:
    health = ProviderHealth()
    for latency in range(1, 21):
        health.record("p", ok=True, latency_ms=float(latency))
    assert health.latency_p95("p", min_samples=30) is None
    assert health.latency_p95("p") == 19.0


def test_providers_with_an_open_circuit_move_to_the_end_and_live_success_reorders() -> None:
    routes = [
        RouteSpec(
            name=n,
            netuid=22,
            kind=RouteKind.HTTP,
            adapter="x",
            capabilities=("web_search",),
            endpoint=f"https://{n}.example",
        )
        for n in ("a", "b", "c")
    ]
    health = ProviderHealth(failure_threshold=1, cooldown_s=60)
    router = Router(routes, lambda _: None, health=health)
    step = Step(id="s", capability="web_search")
    names = lambda: [c.route.name for c in router.candidates(step)]  # noqa: E731
    assert names() == ["a", "b", "c"]
    health.record("a/a.example", ok=False)
    assert names() == ["b", "c", "a"]
    for _ in range(3):
        health.record("b/b.example", ok=True)
        health.record("c/c.example", ok=True)
    health.record("b/b.example", ok=False)  # opens b too; c is the only closed one left
    assert names()[0] == "c"
