"""Executor logic with a scripted HTTP transport: parallelism, fallback, receipts, limits."""

import asyncio
from collections.abc import Callable
from typing import Any, cast

import pytest

from orchestra.adapters.base import Adapter, AdapterError, Caller, Record
from orchestra.executor import EventKind, Executor, HedgePolicy, ProgressEvent, RetryPolicy
from orchestra.proofs import digest
from orchestra.routing import BreakerState, Candidate, Router, RouteSpec, provider_key
from orchestra.transports import (
    CallTimeout,
    InvalidResponse,
    ProducerFailed,
    ProducerRejected,
    ProducerUnavailable,
)
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
    # "later" never called anyone; "web" was retried twice after backoff (unreachable is transient)
    assert ex.http.urls == ["https://a.example/x"] * 3


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
        lambda *_: {"texts": ["x"]}, [route("a", "web_search", cost=0.6), route("b", "web_search", cost=0.6)]
    )
    first = await run(
        ex,
        plan(
            Step(id="web", capability="web_search"),
            Step(id="more", capability="web_search", depends_on=["web"]),
        ),
        max_cost=1.0,
    )
    error = first.outcomes["more"].error
    assert error is not None and error.code is ErrorCode.BUDGET_EXCEEDED
    assert len(ex.http.urls) == 1 and first.cost == 0.6


async def test_a_route_over_budget_is_skipped_for_a_cheaper_one() -> None:
    meta = failing_meta()
    ex = executor(
        lambda url, body: ProducerRejected("400", meta) if "a." in url else {"texts": [url.split("/")[2]]},
        [route("a", "web_search"), route("b", "web_search", cost=5.0), route("c", "web_search")],
    )
    result = await run(ex, plan(Step(id="web", capability="web_search")), max_cost=1.0)
    assert [r.text for r in result.records()] == ["c.example"]
    assert ex.http.urls == ["https://a.example/x", "https://c.example/x"] and result.cost == 0.0


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


def failing_meta(host: str = "a.example") -> CallMeta:
    return CallMeta(provider=Provider(host=host), operation="POST /x", started_ns=1, latency_ms=5.0)


def quick(**kwargs: Any) -> RetryPolicy:
    return RetryPolicy(base_delay_s=0.001, max_delay_s=0.002, jitter=0.0, **kwargs)


async def test_a_transient_failure_is_retried_after_the_other_candidates_with_backoff() -> None:
    calls: list[str] = []

    def answer(url: str, body: Any) -> Any:
        calls.append(url)
        if len(calls) == 1:
            return ProducerFailed("503 upstream busy", failing_meta())
        return {"texts": ["second time lucky"]}

    events: list[ProgressEvent] = []
    ex = executor(answer, [route("a", "web_search")], retry=quick())
    deadline = asyncio.get_running_loop().time() + 5
    result = await ex.run(
        plan(Step(id="web", capability="web_search")),
        deadline=deadline,
        constraints=Constraints(),
        events=events.append,
    )
    assert result.outcomes["web"].ok
    assert [(r.attempt, r.status) for r in result.receipts] == [(1, CallStatus.ERROR), (2, CallStatus.OK)]
    assert [e.kind for e in events] == [EventKind.STEP_STARTED, EventKind.RETRY, EventKind.STEP_FINISHED]


@pytest.mark.parametrize(
    ("error", "calls"),
    [
        (ProducerRejected("401 bad key", failing_meta()), 1),
        (InvalidResponse("not JSON", failing_meta()), 1),
        (CallTimeout("took too long", failing_meta()), 4),
        (ProducerUnavailable("connection refused", failing_meta()), 4),
    ],
    ids=["rejected", "invalid", "timeout", "unreachable"],
)
async def test_only_transient_failures_are_retried(error: Exception, calls: int) -> None:
    ex = executor(lambda *_: error, [route("a", "web_search")], retry=quick(rounds=3))
    result = await run(ex, plan(Step(id="web", capability="web_search")))
    assert not result.outcomes["web"].ok and len(ex.http.urls) == calls


async def test_retries_stop_at_the_configured_rounds() -> None:
    ex = executor(
        lambda *_: ProducerFailed("500", failing_meta()),
        [route("a", "web_search"), route("b", "web_search")],
        retry=quick(rounds=2),
    )
    result = await run(ex, plan(Step(id="web", capability="web_search")))
    error = result.outcomes["web"].error
    assert error is not None and error.code is ErrorCode.PRODUCER_ERROR
    assert len(ex.http.urls) == 6 and len(result.receipts) == 6  # 2 candidates x (1 + 2 retries)


async def test_a_slow_provider_is_hedged_after_its_p95_and_the_loser_keeps_a_receipt() -> None:
    release = asyncio.Event()

    async def answer(url: str, body: Any) -> Any:
        if "a.example" in url:
            await release.wait()  # never released: only cancellation ends it
        return {"texts": [url.split("/")[2]]}

    routes = [route("a", "web_search"), route("b", "web_search")]
    ex = executor(answer, routes, hedge=HedgePolicy(min_delay_s=0.01, min_samples=3))
    slow = Candidate(route=routes[0], provider=Provider(host="a.example"))
    for _ in range(3):
        ex.health.record(provider_key(slow), ok=True, latency_ms=20.0)
    events: list[ProgressEvent] = []
    deadline = asyncio.get_running_loop().time() + 5
    result = await ex.run(
        plan(Step(id="web", capability="web_search")),
        deadline=deadline,
        constraints=Constraints(),
        events=events.append,
    )
    assert [r.text for r in result.records()] == ["b.example"]
    assert sorted((r.provider.host, r.status) for r in result.receipts) == [
        ("a.example", CallStatus.CANCELLED),
        ("b.example", CallStatus.OK),
    ]
    assert EventKind.HEDGE in [e.kind for e in events]


async def test_a_provider_without_latency_history_is_not_hedged() -> None:
    async def answer(url: str, body: Any) -> Any:
        if "a.example" in url:
            await asyncio.sleep(0.05)
        return {"texts": [url.split("/")[2]]}

    ex = executor(answer, [route("a", "web_search"), route("b", "web_search")])
    result = await run(ex, plan(Step(id="web", capability="web_search")))
    assert [r.text for r in result.records()] == ["a.example"] and ex.http.urls == ["https://a.example/x"]


async def test_a_provider_that_failed_goes_behind_the_healthy_ones() -> None:
    ex = executor(
        lambda url, body: ProducerRejected("401", failing_meta()) if "a." in url else {"texts": ["b"]},
        [route("a", "web_search"), route("b", "web_search")],
    )
    for _ in range(3):
        result = await run(ex, plan(Step(id="web", capability="web_search")))
        assert result.outcomes["web"].ok
    assert ex.http.urls == [
        "https://a.example/x",
        "https://b.example/x",
        "https://b.example/x",
        "https://b.example/x",
    ]


async def test_repeated_failures_open_the_circuit_but_a_lone_provider_is_still_tried() -> None:
    ex = executor(lambda *_: ProducerRejected("401", failing_meta()), [route("a", "web_search")])
    key = "a/a.example"
    for _ in range(3):
        await run(ex, plan(Step(id="web", capability="web_search")))
    assert ex.health.state(key) is BreakerState.OPEN
    await run(ex, plan(Step(id="web", capability="web_search")))
    assert len(ex.http.urls) == 4  # demoted to last resort, not dropped


async def test_a_retried_job_reuses_its_paid_steps_with_their_receipts() -> None:
    ex = executor(lambda *_: {"texts": ["paid once"]}, [route("a", "web_search", cost=0.5)])
    the_plan = plan(Step(id="web", capability="web_search"))
    deadline = asyncio.get_running_loop().time() + 5
    first = await ex.run(the_plan, deadline=deadline, constraints=Constraints(), task_id="task-1")
    events: list[ProgressEvent] = []
    again = await ex.run(
        the_plan, deadline=deadline, constraints=Constraints(), task_id="task-1", events=events.append
    )
    assert len(ex.http.urls) == 1 and first.cost == 0.5 and again.cost == 0.0
    assert again.receipts == first.receipts and again.evidence == first.evidence
    assert [r.text for r in again.records()] == ["paid once"]
    assert again.records()[0].receipt_index == 0
    assert EventKind.CACHE_HIT in [e.kind for e in events]
    other = await ex.run(the_plan, deadline=deadline, constraints=Constraints(), task_id="task-2")
    assert len(ex.http.urls) == 2 and other.cost == 0.5  # another task pays for its own calls


async def test_a_dependent_step_gets_its_dependencies_records_as_context() -> None:
    seen: list[Any] = []

    def answer(url: str, body: Any) -> Any:
        return {"texts": ["fact from the web"]}

    class ContextAdapter(EchoAdapter):
        async def run(self, step: Step, caller: Caller) -> list[Record]:
            seen.append(step.inputs.get("context"))
            return await super().run(step, caller)

    ex = Executor(
        Router([route("a", "web_search"), route("b", "llm_inference")], lambda _: None),
        {"echo": ContextAdapter()},
        http=cast(HttpTransport, ScriptedHttp(answer)),
    )
    await run(
        ex,
        plan(
            Step(id="web", capability="web_search"),
            Step(
                id="draft",
                capability="llm_inference",
                depends_on=["web"],
                inputs={"prompt": "sum up", "context_from": ["web"]},
            ),
        ),
    )
    assert seen == [None, [{"text": "fact from the web", "source": "web"}]]


async def test_a_failed_step_emits_its_error_code() -> None:
    events: list[ProgressEvent] = []
    ex = executor(lambda *_: {}, [route("a", "web_search")])
    deadline = asyncio.get_running_loop().time() + 5
    await ex.run(
        plan(Step(id="x", capability="chain_rpc")),
        deadline=deadline,
        constraints=Constraints(),
        events=events.append,
    )
    assert [(e.kind, e.detail) for e in events] == [
        (EventKind.STEP_STARTED, None),
        (EventKind.STEP_FAILED, "no_route"),
    ]


class FetchingAdapter(EchoAdapter):
    """Fetches the absolute URL named in the step's inputs (a presigned download)."""

    async def run(self, step: Step, caller: Caller) -> list[Record]:
        reply = await caller.fetch(step.inputs["url"])
        assert reply.receipt_index is not None
        return [Record(kind="post", text=str(reply.payload), source="x", receipt_index=reply.receipt_index)]


def fetching(endpoint: str = "https://api.example") -> Executor:
    spec = RouteSpec(
        name="api",
        netuid=13,
        kind=RouteKind.HTTP,
        adapter="echo",
        capabilities=("social_data",),
        endpoint=endpoint,
    )
    return Executor(
        Router([spec], lambda _: None),
        {"echo": FetchingAdapter()},
        http=cast(HttpTransport, ScriptedHttp(lambda url, body: {"posts": 1})),
        retry=quick(rounds=0),
    )


async def test_a_presigned_download_is_fetched_and_its_signature_kept_out_of_the_evidence() -> None:
    ex = fetching()
    url = "https://bucket.s3.amazonaws.com/job/1.json?X-Amz-Signature=abc123"
    result = await run(ex, plan(Step(id="s", capability="social_data", inputs={"url": url})))
    assert result.outcomes["s"].ok and ex.http.urls == [url]
    assert result.evidence[0].request == {
        "method": "GET",
        "url": "https://bucket.s3.amazonaws.com/job/1.json",
    }
    assert "abc123" not in str(result.receipts[0].model_dump()) + str(result.evidence[0].model_dump())


@pytest.mark.parametrize(
    "url",
    [
        "http://bucket.s3.amazonaws.com/x",  # not https
        "https://127.0.0.1/admin",  # loopback
        "https://10.0.0.5/metadata",  # private
        "https://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
        "https://user:pw@bucket.example/x",  # credentials in the URL
        "file:///etc/passwd",
        "https://127.1/x",  # shorthand IPv4 loopback
        "https://2130706433/x",
        "https://0x7f000001/x",
        "https://localhost./x",
        "https://[::ffff:127.0.0.1]/x",  # IPv4-mapped IPv6
        "https://[64:ff9b::a00:5]/x",  # NAT64 of 10.0.0.5
        "https://100.64.0.1/x",  # shared address space
    ],
)
async def test_a_producer_cannot_make_the_miner_fetch_internal_urls(url: str) -> None:
    ex = fetching()
    result = await run(ex, plan(Step(id="s", capability="social_data", inputs={"url": url})))
    error = result.outcomes["s"].error
    assert error is not None and "refusing to fetch" in error.message
    assert ex.http.urls == [] and result.receipts == []


async def test_a_loopback_route_may_fetch_from_its_own_host_only_as_the_devnet_does() -> None:
    ex = fetching("http://127.0.0.1:8000")
    url = "http://127.0.0.1:8001/devnet-s3/1.json"
    result = await run(ex, plan(Step(id="s", capability="social_data", inputs={"url": url})))
    assert result.outcomes["s"].ok and ex.http.urls == [url]
    elsewhere = "http://169.254.169.254/latest/meta-data"
    refused = await run(ex, plan(Step(id="s", capability="social_data", inputs={"url": elsewhere})))
    assert refused.outcomes["s"].error is not None and ex.http.urls == [url]


class PollingAdapter(EchoAdapter):
    """Waits between calls, as a job API's poller does."""

    async def run(self, step: Step, caller: Caller) -> list[Record]:
        await caller.http("POST", "/jobs", json_body={})
        await asyncio.sleep(30)  # far past any limit in these tests
        return []


async def test_a_step_that_waits_between_calls_is_stopped_at_its_step_timeout() -> None:
    ex = Executor(
        Router([route("a", "web_search")], lambda _: None),
        {"echo": PollingAdapter()},
        http=cast(HttpTransport, ScriptedHttp(lambda *_: {})),
        step_timeout_s=0.05,
    )
    result = await run(ex, plan(Step(id="web", capability="web_search")), seconds=10)
    error = result.outcomes["web"].error
    assert error is not None and error.code is ErrorCode.DEADLINE_EXCEEDED
    assert "step timeout" in error.message and len(result.receipts) == 1


async def test_a_step_is_stopped_at_the_job_deadline_too() -> None:
    ex = Executor(
        Router([route("a", "web_search")], lambda _: None),
        {"echo": PollingAdapter()},
        http=cast(HttpTransport, ScriptedHttp(lambda *_: {})),
    )
    result = await run(ex, plan(Step(id="web", capability="web_search")), seconds=0.2)
    error = result.outcomes["web"].error
    assert error is not None and error.code is ErrorCode.DEADLINE_EXCEEDED and "job deadline" in error.message
