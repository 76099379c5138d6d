"""Resilience end to end: emulated producers failing, a real miner's engine still answering validly.

The miner's engine runs against every devnet stand-in (SN13, SN22 API and miner axons, SN64, SN4,
SN19) with faults injected into the providers of `web_search`, the capability every challenge's
blueprint requires. Each job's result must validate and its proof root must check out, or the job
must fail with a typed error: no job may return an invalid result.
"""

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from orchestra.config import MinerSettings
from orchestra.devnet.faults import parse_faults
from orchestra.devnet.localnet import DEMO_OBJECTIVE
from orchestra.devnet.network import LocalNetwork
from orchestra.miner.neuron import Miner
from orchestra.proofs import compute_proof_root
from orchestra.schema import compile_schema
from orchestra.validator.challenges import ChallengeGenerator
from protocol.models import CallStatus, Constraints, TaskSpec

JOBS = 100


@pytest_asyncio.fixture
async def devnet() -> AsyncIterator[LocalNetwork]:
    net = LocalNetwork()
    try:
        net.start_producers(sn22_miners=2, extended=True, seed=11)
        yield net
    finally:
        await net.aclose()


async def run_jobs(miner: Miner, jobs: int, *, seed: int, concurrency: int = 4) -> dict[str, int]:
    generator = ChallengeGenerator(seed=seed)
    counts = {"valid": 0, "invalid": 0, "failed": 0}
    slots = asyncio.Semaphore(concurrency)

    async def one() -> None:
        spec = generator.next().spec
        async with slots:
            result = await miner.service.handle(spec)
        if result.result is None:
            assert result.error is not None  # a failure is always a typed error
            counts["failed"] += 1
        elif compile_schema(spec.target_schema).is_valid(result.result) and result.proof_root == (
            compute_proof_root(spec, result.receipts, result.result)
        ):
            counts["valid"] += 1
        else:
            counts["invalid"] += 1

    await asyncio.gather(*(one() for _ in range(jobs)))
    return counts


@pytest.mark.parametrize(
    "faults",
    [
        # every web_search provider fails 30 % of its calls, each in its own way
        "desearch=5xx:0.3,sn22-miner-1=garbage:0.3,sn22-miner-2=schema:0.3",
        # one of the three web_search providers (a third of them) is down for good
        "desearch=down",
    ],
    ids=["each-fails-30%", "one-of-three-down"],
)
async def test_jobs_stay_valid_while_a_capabilitys_providers_fail(devnet: LocalNetwork, faults: str) -> None:
    devnet.set_faults(parse_faults(faults, devnet.faults))
    # Seeded faults, jobs one at a time and no hedging (whose timing would reorder the draws): the
    # same faults hit the same calls on every run, so the figure is reproducible, not lucky.
    settings = MinerSettings(sn13_requests_per_hour=600, llm_planner=False, llm_synthesis=False, hedge=False)
    miner = devnet.add_miner("resilient", settings=settings)
    counts = await run_jobs(miner, JOBS, seed=5, concurrency=1)
    assert counts["invalid"] == 0
    assert counts["valid"] >= 0.99 * JOBS, counts
    assert sum(devnet.faults["desearch"].counts.get(k, 0) for k in ("5xx", "down")) > 0  # faults did fire


async def test_the_llm_planner_and_synthesiser_fall_back_and_their_calls_are_receipted(
    devnet: LocalNetwork,
) -> None:
    # The inference stand-ins cannot plan or cite (they answer extractively), so both LLM paths must
    # fall back to blueprints and rules, with every model call in the proof.
    miner = devnet.add_miner(
        "llm", settings=MinerSettings(sn13_requests_per_hour=600, llm_planner=True, llm_synthesis=True)
    )
    spec = TaskSpec(
        task_id="llm-path",
        objective=DEMO_OBJECTIVE,
        target_schema={"providers": [{"name": "str", "pricing": "dict"}], "summary": "str"},
        constraints=Constraints(deadline_ms=30_000),
    )
    result = await miner.service.handle(spec)
    assert result.result is not None and compile_schema(spec.target_schema).is_valid(result.result)
    assert result.proof_root == compute_proof_root(spec, result.receipts, result.result)
    llm_steps = {r.step_id.split(".")[0] for r in result.receipts if ".llm-" in r.step_id}
    assert llm_steps == {"plan", "synthesis"}
    assert {r.netuid for r in result.receipts if ".llm-" in r.step_id} <= {4, 64}


async def test_an_llm_step_of_a_blueprint_reads_its_dependencies_records(devnet: LocalNetwork) -> None:
    miner = devnet.add_miner("writer")
    spec = TaskSpec(
        task_id="content",
        objective="Write a short brief on H100 GPU cloud pricing for our blog",
        target_schema={"title": "str?", "body": "str"},
        constraints=Constraints(deadline_ms=30_000, blueprint="content_synthesis"),
    )
    result = await miner.service.handle(spec)
    assert result.error is None and result.plan is not None
    llm = [s for s in result.plan.steps if s.capability == "llm_inference"]
    assert llm and all(s.depends_on for s in llm)
    answered = [r for r in result.receipts if r.step_id == llm[0].id and r.status is CallStatus.OK]
    assert answered and answered[0].netuid in (4, 64)
