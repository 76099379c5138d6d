from typing import Any

import pytest
from pydantic import ValidationError

from orchestra.chain import MetagraphView, NeuronView
from orchestra.routing import Router, RouteSpec
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
