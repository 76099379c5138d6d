"""A miner on a real local network: honest answers, failing producers and bad input."""

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from orchestra.config import MinerSettings
from orchestra.devnet.network import LocalNetwork
from orchestra.devnet.servers import ThreadedAiohttpServer
from orchestra.ports import free_port
from orchestra.schema import compile_schema
from protocol.models import MAX_OBJECTIVE_CHARS, CallStatus, ErrorCode, TaskResult, TaskSpec
from protocol.synapse import OrchestrationTask

SPEC = TaskSpec(
    task_id="miner-1",
    objective=(
        "Research the H100 GPU cloud pricing and strengths of the top 3 competitors "
        "and recommend a price point"
    ),
    target_schema={
        "competitors": [{"name": "str", "pricing": "dict", "strengths": "list"}],
        "recommendation": {"price_point": "float", "rationale": "str"},
    },
)


@pytest.fixture
def garbage_desearch() -> Iterator[ThreadedAiohttpServer]:
    """Answers 200 with JSON that is not Desearch's shape."""

    async def answer(_: web.Request) -> web.Response:
        return web.json_response({"results": "sure, here are some", "search": 42})

    app = web.Application()
    app.router.add_post("/desearch/ai/search", answer)
    server = ThreadedAiohttpServer(app).start()
    yield server
    server.stop()


@pytest.fixture
def slow_desearch() -> Iterator[ThreadedAiohttpServer]:
    async def answer(_: web.Request) -> web.Response:
        await asyncio.sleep(1.0)
        return web.json_response(
            {"search": [{"title": "t", "link": "https://x.example", "snippet": "GPU at $1/hr"}]}
        )

    app = web.Application()
    app.router.add_post("/desearch/ai/search", answer)
    server = ThreadedAiohttpServer(app).start()
    yield server
    server.stop()


async def ask_all(network: LocalNetwork, spec: TaskSpec = SPEC) -> dict[str, Any]:
    validator = network.validators[0]
    evaluations = await validator.ask(validator.miner_uids(), spec)
    return {e.answer.hotkey: e for e in evaluations}


async def test_an_honest_miner_returns_a_valid_verified_result(network: LocalNetwork) -> None:
    miner = network.add_miner("honest")
    network.refresh()
    evaluation = (await ask_all(network))[miner.hotkey]
    response = evaluation.answer.response
    assert response is not None and response.error is None
    assert compile_schema(SPEC.target_schema).is_valid(response.result)
    assert evaluation.check.root_ok and evaluation.check.result_valid
    assert evaluation.check.receipts_verified == len(response.receipts) >= 3
    assert {r.netuid for r in response.receipts} == {13, 22}
    assert evaluation.score.receipts == 1 and evaluation.score.fidelity > 0.9
    assert evaluation.score.total > 0.55


async def test_a_dead_producer_gives_an_error_not_a_made_up_result_and_scores_lower(
    network: LocalNetwork,
) -> None:
    honest = network.add_miner("honest")
    dead = network.add_miner(
        "dead-producer", routes=network.routes(desearch_url=f"http://127.0.0.1:{free_port()}")
    )
    network.refresh()
    evaluations = await ask_all(network)
    failing = evaluations[dead.hotkey].answer.response
    assert failing is not None and failing.result is None
    assert failing.error is not None and failing.error.code is ErrorCode.PRODUCER_UNAVAILABLE
    assert failing.error.step_id == "web"
    # The failed attempt is still on record, hash-locked into the root.
    assert any(r.status is CallStatus.UNAVAILABLE for r in failing.receipts)
    assert evaluations[dead.hotkey].check.root_ok
    assert evaluations[dead.hotkey].score.total < evaluations[honest.hotkey].score.total


async def test_a_producer_answering_garbage_is_a_producer_error(
    network: LocalNetwork, garbage_desearch: ThreadedAiohttpServer
) -> None:
    miner = network.add_miner("fooled", routes=network.routes(desearch_url=garbage_desearch.url))
    network.refresh()
    response = (await ask_all(network))[miner.hotkey].answer.response
    assert response is not None and response.result is None
    assert response.error is not None and response.error.code is ErrorCode.PRODUCER_ERROR
    assert "documented shape" in response.error.message


async def send(network: LocalNetwork, miner_hotkey: str, **fields: Any) -> TaskResult:
    validator = network.validators[0]
    graph = validator.graphs.get(network.netuid)
    assert graph is not None
    neuron = graph.by_hotkey(miner_hotkey)
    assert neuron is not None
    synapse = OrchestrationTask(
        **{"task_id": "bad-1", "objective": "GPU prices", "target_schema": {"p": "float"}, **fields}
    )
    answered, _ = await validator.transport.call(neuron.axon, synapse, uid=neuron.uid, timeout=10)
    result = answered.deserialize()
    assert result is not None
    return result


@pytest.mark.parametrize(
    ("fields", "code", "fragment"),
    [
        ({"target_schema": {"p": "money"}}, ErrorCode.INVALID_SCHEMA, "unknown type 'money'"),
        ({"target_schema": ["p"]}, ErrorCode.INVALID_SCHEMA, "must be an object"),
        ({"objective": "x" * (MAX_OBJECTIVE_CHARS + 1)}, ErrorCode.OBJECTIVE_TOO_LONG, "limit is 4000"),
        ({"objective": "   "}, ErrorCode.INVALID_REQUEST, "objective"),
        ({"constraints": {"deadline_ms": -1}}, ErrorCode.INVALID_REQUEST, "deadline_ms"),
        ({"constraints": {"blueprint": "nope"}}, ErrorCode.PLANNING_FAILED, "unknown blueprint"),
        ({"protocol_version": "2.0.0"}, ErrorCode.INVALID_REQUEST, "not compatible"),
    ],
)
async def test_bad_input_gets_a_typed_error_over_the_wire(
    network: LocalNetwork, fields: dict[str, Any], code: ErrorCode, fragment: str
) -> None:
    miner = network.add_miner("strict")
    network.refresh()
    result = await send(network, miner.hotkey, **fields)
    assert result.result is None and result.error is not None
    assert result.error.code is code and fragment in result.error.message


async def test_an_overloaded_miner_says_so(
    network: LocalNetwork, slow_desearch: ThreadedAiohttpServer
) -> None:
    settings = MinerSettings(max_concurrent_jobs=1, queue_timeout_s=0.1)
    miner = network.add_miner(
        "busy", routes=network.routes(desearch_url=slow_desearch.url), settings=settings
    )
    network.refresh()
    results = await asyncio.gather(*(send(network, miner.hotkey, task_id=f"load-{i}") for i in range(2)))
    codes = sorted(r.error.code.value if r.error else "ok" for r in results)
    assert "overloaded" in codes


async def test_with_no_queue_a_free_slot_is_still_taken(network: LocalNetwork) -> None:
    miner = network.add_miner("no-queue", settings=MinerSettings(max_concurrent_jobs=1, queue_timeout_s=0))
    network.refresh()
    result = await send(network, miner.hotkey)
    assert result.error is None or result.error.code is not ErrorCode.OVERLOADED


async def test_without_social_data_the_job_still_answers_and_says_what_was_skipped(
    network: LocalNetwork,
) -> None:
    web_only = [r for r in network.routes() if r.capabilities != ("social_data",)]
    miner = network.add_miner("web-only", routes=web_only)
    network.refresh()
    evaluation = (await ask_all(network))[miner.hotkey]
    response = evaluation.answer.response
    assert response is not None and response.error is None and evaluation.check.result_valid
    assert (
        response.summary is not None
        and "Optional step 'social' (social_data) failed: no_route" in response.summary
    )
