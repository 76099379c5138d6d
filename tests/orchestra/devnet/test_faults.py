"""Fault injection: the spec users write, and what an emulated provider does under each fault."""

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from aiohttp import web

from orchestra.devnet.faults import (
    Fault,
    FaultInjector,
    FaultKind,
    InjectedFault,
    corrupt,
    parse_fault,
    parse_faults,
)
from orchestra.devnet.servers import ThreadedAiohttpServer
from orchestra.errors import ConfigError


def test_a_spec_names_providers_and_their_faults() -> None:
    assert parse_faults("chutes=5xx:0.3, desearch=slow:0.5:2+garbage:0.1") == {
        "chutes": (Fault(FaultKind.ERROR, 0.3),),
        "desearch": (Fault(FaultKind.SLOW, 0.5, 2.0), Fault(FaultKind.GARBAGE, 0.1)),
    }
    assert parse_fault("down") == Fault(FaultKind.DOWN, 1.0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("chutes", "provider=fault"),
        ("chutes=melt:0.5", "unknown fault 'melt'"),
        ("chutes=5xx:lots", "must be numbers"),
        ("chutes=5xx:1.5", "between 0 and 1"),
        ("chutes=5xx:0.5:3", "too many parts"),
        ("nobody=5xx", "unknown provider 'nobody'"),
    ],
)
def test_a_bad_spec_is_a_config_error_naming_the_problem(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_faults(spec, {"chutes": object(), "desearch": object()})


def test_faults_are_drawn_at_their_rate() -> None:
    injector = FaultInjector((Fault(FaultKind.ERROR, 0.3),), seed=1)
    drawn = [injector.draw() for _ in range(2_000)]
    share = sum(1 for fault in drawn if fault is not None) / len(drawn)
    assert 0.25 < share < 0.35
    assert injector.counts["5xx"] + injector.counts["ok"] == 2_000


class Served:
    def __init__(self, server: ThreadedAiohttpServer, injector: FaultInjector) -> None:
        self.server = server
        self.injector = injector


@pytest.fixture
def server() -> Iterator[Served]:
    injector = FaultInjector()

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"answer": {"link": "https://a.example"}})

    app = web.Application(middlewares=[injector.middleware])
    app.router.add_get("/", handler)
    running = ThreadedAiohttpServer(app).start()
    yield Served(running, injector)
    running.stop()


def get(served: Served, fault: Fault | None, timeout: float = 5.0) -> httpx.Response:
    served.injector.set((fault,) if fault is not None else ())
    return httpx.get(served.server.url + "/", timeout=timeout)


def test_each_http_fault_breaks_the_answer_as_named(server: Served) -> None:
    assert get(server, None).json() == {"answer": {"link": "https://a.example"}}
    assert get(server, Fault(FaultKind.ERROR)).status_code == 503
    garbage = get(server, Fault(FaultKind.GARBAGE))
    assert garbage.status_code == 200 and not garbage.text.startswith("{")
    assert get(server, Fault(FaultKind.SCHEMA)).json() == {"answer_v2": {"link_v2": "https://a.example"}}
    with pytest.raises(httpx.ReadTimeout):
        get(server, Fault(FaultKind.TIMEOUT), timeout=0.3)


def test_a_slow_fault_delays_but_answers(server: Served) -> None:
    answer = get(server, Fault(FaultKind.SLOW, delay_s=0.2))
    assert (
        answer.json() == {"answer": {"link": "https://a.example"}} and answer.elapsed.total_seconds() >= 0.2
    )


async def test_an_axon_forward_fails_or_corrupts_its_answer() -> None:
    failing = FaultInjector((Fault(FaultKind.DOWN),))
    with pytest.raises(InjectedFault):
        await failing.before_synapse()
    schema = FaultInjector((Fault(FaultKind.SCHEMA),))
    fault = await schema.before_synapse()
    assert corrupt({"results": [{"id": 1}]}, fault) == {"results_v2": [{"id_v2": 1}]}
    assert corrupt({"results": []}, None) == {"results": []}
    timing_out = FaultInjector((Fault(FaultKind.TIMEOUT),))
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(timing_out.before_synapse(), timeout=0.05)
