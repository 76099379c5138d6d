"""Executor logic with a scripted HTTP transport: parallelism, fallback, receipts, limits."""

import asyncio
from collections.abc import Callable
from typing import Any, cast

import pytest

from orchestra.adapters.base import Adapter, AdapterError, Caller, Record
from orchestra.executor import Executor
from orchestra.proofs import digest
from orchestra.routing import Router, RouteSpec
from orchestra.transports import ProducerUnavailable
from orchestra.transports.base import CallMeta, CallReply
from orchestra.transports.http import HttpTransport
from protocol.models import CallStatus, Constraints, ErrorCode, Plan, Provider, RouteKind, Step

Answer = Callable[[str, Any], Any]


class ScriptedHttp:
    """Stands in for `HttpTransport`: answers by URL, can hold a call until released."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.urls: list[str] = []

    async def request(
        self, method: str, url: str, *, json_body: Any = None, headers: Any = None, timeout: float
    ) -> CallReply:
        self.urls.append(url)
        meta = CallMeta(
            provider=Provider(host=url.split("/")[2]),
            operation=f"{method} /x",
            started_ns=1,
            latency_ms=1.0,
            status_code=200,
        )
        result = self.answer(url, json_body)
        if asyncio.iscoroutine(result):
            result = await result
        if isinstance(result, BaseException):
            raise result
        return CallReply(payload=result, meta=meta)

    async def aclose(self) -> None:
        return None


class EchoAdapter(Adapter):
    """Calls the route once and turns the answer's "texts" into records."""

    name = "echo"
    route_kinds = frozenset({RouteKind.HTTP})

    async def run(self, step: Step, caller: Caller) -> list[Record]:
        reply = await caller.http("POST", "/x", json_body={"step": step.id})
        if not isinstance(reply.payload, dict):
            raise AdapterError("not an object", receipt_index=reply.receipt_index)
        assert reply.receipt_index is not None
        texts = reply.payload.get("texts", [])
        reply.payload["mutated"] = True  # adapters may mutate what they get; the evidence must not change
        return [
            Record(kind="web_page", text=t, source="web", receipt_index=reply.receipt_index) for t in texts
        ]


def route(name: str, capability: str, *, cost: float = 0.0) -> RouteSpec:
    return RouteSpec(
        name=name,
        netuid=22,
        kind=RouteKind.HTTP,
        adapter="echo",
        capabilities=(capability,),
        endpoint=f"https://{name}.example",
        cost_per_call=cost,
    )


def executor(answer: Answer, routes: list[RouteSpec], **kwargs: Any) -> Executor:
    return Executor(
        Router(routes, lambda _: None),
        {"echo": EchoAdapter()},
        http=cast(HttpTransport, ScriptedHttp(answer)),
        **kwargs,
    )


async def run(ex: Executor, plan: Plan, *, seconds: float = 5.0, **constraints: Any) -> Any:
    deadline = asyncio.get_running_loop().time() + seconds
    return await ex.run(plan, deadline=deadline, constraints=Constraints(**constraints))


def plan(*steps: Step) -> Plan:
    return Plan(blueprint="test", steps=list(steps))


async def test_independent_steps_run_concurrently() -> None:
    started = {"a.example": asyncio.Event(), "b.example": asyncio.Event()}

    async def answer(url: str, body: Any) -> Any:
        host = url.split("/")[2]
        started[host].set()
        other = "b.example" if host == "a.example" else "a.example"
        await asyncio.wait_for(started[other].wait(), timeout=2)  # only returns if both are in flight
        return {"texts": [host]}

    ex = executor(answer, [route("a", "web_search"), route("b", "social_data")])
    result = await run(
        ex, plan(Step(id="web", capability="web_search"), Step(id="social", capability="social_data"))
    )
    assert all(o.ok for o in result.outcomes.values())
    assert {r.text for r in result.records()} == {"a.example", "b.example"}


async def test_fallback_moves_to_the_next_candidate_and_every_attempt_has_a_receipt() -> None:
    meta = CallMeta(provider=Provider(host="a.example"), operation="POST /x", started_ns=1, latency_ms=5.0)

    def answer(url: str, body: Any) -> Any:
        return ProducerUnavailable("down", meta) if "a.example" in url else {"texts": ["from b"]}

    ex = executor(answer, [route("a", "web_search"), route("b", "web_search")])
    result = await run(ex, plan(Step(id="web", capability="web_search")))
    assert result.outcomes["web"].ok
    assert [(r.attempt, r.status) for r in result.receipts] == [
        (1, CallStatus.UNAVAILABLE),
        (2, CallStatus.OK),
    ]
    assert result.receipts[0].response_digest is None and result.evidence[0].response is None
    assert result.plan.steps[0].route is RouteKind.HTTP and result.plan.steps[0].netuid == 22


async def test_a_failed_required_step_fails_the_job_with_a_named_error_and_skips_later_steps() -> None:
    meta = CallMeta(provider=Provider(host="a.example"), operation="POST /x", started_ns=1, latency_ms=5.0)
    ex = executor(
        lambda url, body: ProducerUnavailable("down", meta),
        [route("a", "web_search"), route("b", "social_data")],
    )
    result = await run(
        ex,
        plan(
            Step(id="web", capability="web_search"),
            Step(id="later", capability="social_data", depends_on=["web"]),
        ),
    )
    failed = result.failed_required()
    assert failed is not None and failed.step.id == "web"
    assert failed.error is not None and failed.error.code is ErrorCode.PRODUCER_UNAVAILABLE
    assert result.outcomes["later"].error is not None
    assert ex.http.urls == ["https://a.example/x"]  # "later" never called anyone


async def test_a_failed_optional_step_is_reported_without_failing_the_job() -> None:
    ex = executor(
        lambda url, body: "garbage" if "b." in url else {"texts": ["ok"]},
        [route("a", "web_search"), route("b", "social_data")],
    )
    result = await run(
        ex,
        plan(
            Step(id="web", capability="web_search"),
            Step(id="extra", capability="social_data", required=False),
        ),
    )
    assert result.failed_required() is None
    extra = result.outcomes["extra"]
    assert (
        extra.error is not None
        and extra.error.code is ErrorCode.PRODUCER_ERROR
        and "not an object" in extra.error.message
    )


async def test_a_step_without_a_route_is_no_route() -> None:
    result = await run(
        executor(lambda *_: {}, [route("a", "web_search")]), plan(Step(id="x", capability="chain_rpc"))
    )
    error = result.outcomes["x"].error
    assert error is not None and error.code is ErrorCode.NO_ROUTE


async def test_an_empty_answer_tries_the_next_provider_but_is_not_a_failure() -> None:
    ex = executor(lambda url, body: {"texts": []}, [route("a", "web_search"), route("b", "web_search")])
    result = await run(ex, plan(Step(id="web", capability="web_search")))
    assert result.outcomes["web"].ok and result.outcomes["web"].records == []
    assert len(result.receipts) == 2


async def test_the_budget_stops_calls_before_they_are_made() -> None:
    ex = executor(
        lambda *_: {"texts": []}, [route("a", "web_search", cost=0.6), route("b", "web_search", cost=0.6)]
    )
    result = await run(ex, plan(Step(id="web", capability="web_search")), max_cost=1.0)
    error = result.outcomes["web"].error
    assert error is not None and error.code is ErrorCode.BUDGET_EXCEEDED
    assert len(ex.http.urls) == 1 and result.cost == 0.6


async def test_the_call_bound_applies() -> None:
    ex = executor(lambda *_: {"texts": []}, [route(n, "web_search") for n in "abcd"], max_calls=2)
    result = await run(ex, plan(Step(id="web", capability="web_search")))
    error = result.outcomes["web"].error
    assert error is not None and error.code is ErrorCode.BUDGET_EXCEEDED and len(ex.http.urls) == 2


async def test_a_passed_deadline_makes_no_call() -> None:
    ex = executor(lambda *_: {"texts": ["x"]}, [route("a", "web_search")])
    result = await run(ex, plan(Step(id="web", capability="web_search")), seconds=0)
    error = result.outcomes["web"].error
    assert error is not None and error.code is ErrorCode.DEADLINE_EXCEEDED and ex.http.urls == []


async def test_evidence_is_what_was_hashed_even_if_the_adapter_mutates_its_payload() -> None:
    ex = executor(lambda *_: {"texts": ["x"]}, [route("a", "web_search")])
    result = await run(ex, plan(Step(id="web", capability="web_search")))
    [receipt], [evidence] = result.receipts, result.evidence
    assert evidence.response == {"texts": ["x"]}
    assert digest(evidence.response) == receipt.response_digest
    assert digest(evidence.request) == receipt.request_digest
    assert evidence.request == {"method": "POST", "path": "/x", "body": {"step": "web"}}


async def test_credentials_never_reach_receipts_or_evidence() -> None:
    secret = "sk-very-secret"
    spec = RouteSpec.model_validate({**route("a", "web_search").model_dump(), "api_key": secret})

    class KeyedAdapter(EchoAdapter):
        async def run(self, step: Step, caller: Caller) -> list[Record]:
            key = caller.candidate.route.api_key
            assert key is not None
            await caller.http(
                "POST", "/x", json_body={"q": 1}, headers={"Authorization": key.get_secret_value()}
            )
            return []

    ex = Executor(
        Router([spec], lambda _: None),
        {"echo": KeyedAdapter()},
        http=cast(HttpTransport, ScriptedHttp(lambda *_: {})),
    )
    result = await run(ex, plan(Step(id="web", capability="web_search")))
    dumped = str([r.model_dump() for r in result.receipts]) + str([e.model_dump() for e in result.evidence])
    assert secret not in dumped


@pytest.mark.parametrize("allowed", [[22], None])
async def test_allowed_netuids_are_honoured(allowed: list[int] | None) -> None:
    ex = executor(lambda *_: {"texts": ["x"]}, [route("a", "web_search")])
    result = await run(ex, plan(Step(id="web", capability="web_search")), allowed_netuids=allowed)
    assert result.outcomes["web"].ok
    blocked = await run(ex, plan(Step(id="web", capability="web_search")), allowed_netuids=[13])
    error = blocked.outcomes["web"].error
    assert error is not None and error.code is ErrorCode.NO_ROUTE


async def test_an_adapter_crash_on_one_candidate_falls_back_to_the_next() -> None:
    class Fragile(EchoAdapter):
        async def run(self, step: Step, caller: Caller) -> list[Record]:
            if caller.candidate.route.name == "a":
                raise RecursionError("a producer payload nested too deeply for the parser")
            return await super().run(step, caller)

    ex = Executor(
        Router([route("a", "web_search"), route("b", "web_search")], lambda _: None),
        {"echo": Fragile()},
        http=cast(HttpTransport, ScriptedHttp(lambda *_: {"texts": ["from b"]})),
    )
    result = await run(ex, plan(Step(id="web", capability="web_search")))
    assert result.outcomes["web"].ok and [r.text for r in result.records()] == ["from b"]


async def test_an_answer_without_a_canonical_form_is_recorded_as_invalid() -> None:
    ex = executor(lambda *_: {"texts": [float("nan")]}, [route("a", "web_search")])
    result = await run(ex, plan(Step(id="web", capability="web_search")))
    [receipt] = result.receipts
    assert receipt.status is CallStatus.INVALID_RESPONSE and receipt.response_digest is None
    error = result.outcomes["web"].error
    assert error is not None and "cannot be recorded" in error.message
