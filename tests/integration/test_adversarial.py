"""Adversarial miners on a real local network: what each cheat sends, what the validator makes of it,
and `orchestra localnet --scenario adversarial` end to end."""

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from orchestra.cli import main
from orchestra.config import SN13_NETUID, SN22_NETUID, ValidatorSettings
from orchestra.devnet.adversaries import MinerKind
from orchestra.devnet.network import LocalNetwork
from orchestra.proofs import ReceiptFault
from orchestra.validator.challenges import ChallengeGenerator
from orchestra.validator.neuron import Evaluation, Validator
from protocol.models import Constraints, RouteKind, TaskSpec

DEADLINE_MS = 6_000
OBJECTIVE = (
    "Research the H100 GPU cloud rental pricing and strengths of the top 3 competitors and recommend a "
    "price point for a new GPU cloud service."
)
SCHEMA: dict[str, Any] = {
    "competitors": [{"name": "str", "pricing": "dict", "strengths": "list"}],
    "recommendation": {"price_point": "float", "rationale": "str"},
}


def task(task_id: str, objective: str = OBJECTIVE) -> TaskSpec:
    return TaskSpec(
        task_id=task_id,
        objective=objective,
        target_schema=SCHEMA,
        constraints=Constraints(deadline_ms=DEADLINE_MS),
    )


@pytest_asyncio.fixture
async def network() -> AsyncIterator[LocalNetwork]:
    """Producers and a validator that re-queries every receipt a result cites; tests add miners."""
    net = LocalNetwork()
    try:
        net.start_producers()
        net.add_validator(
            settings=ValidatorSettings(
                step_interval_s=0,
                producer_netuids=[SN13_NETUID, SN22_NETUID],
                seed=5,
                deadline_ms=DEADLINE_MS,
                spot_check_rate=1.0,
                spot_checks_per_answer=16,
            )
        )
        yield net
    finally:
        await net.aclose()


def uid_of(network: LocalNetwork, validator: Validator, kind: MinerKind) -> int:
    [miner] = [m for m in network.miners if m.kind is kind]
    return validator.hotkeys.index(miner.hotkey)


def faults(evaluation: Evaluation) -> set[ReceiptFault]:
    return {fault for verdict in evaluation.check.verdicts for fault in verdict.faults}


async def test_every_miner_remembers_its_kind_and_honest_is_the_default(network: LocalNetwork) -> None:
    plain = network.add_miner("plain")
    lazy = network.add_miner("lazy", kind="lazy")
    assert plain.kind is MinerKind.HONEST and lazy.kind is MinerKind.LAZY
    assert network.kind_of(lazy.hotkey) is MinerKind.LAZY
    assert network.kind_of("5NotAMinerOfThisNetwork") is MinerKind.HONEST


async def test_a_replay_seconds_later_reuses_signed_receipts_and_is_caught(network: LocalNetwork) -> None:
    network.add_miner("replayer", kind=MinerKind.REPLAYER)
    # No re-queries between the two tasks: the second must follow the first within the time window.
    validator = network.add_validator(
        "quick",
        settings=ValidatorSettings(
            step_interval_s=0, producer_netuids=[SN13_NETUID, SN22_NETUID], spot_check_rate=0
        ),
    )
    network.refresh()
    uid = uid_of(network, validator, MinerKind.REPLAYER)
    [first] = await validator.ask([uid], task("first-task"))
    [again] = await validator.ask([uid], task("second-task"))
    first_response, replayed = first.answer.response, again.answer.response
    assert first_response is not None and replayed is not None and replayed.ok
    signed = {r.dendrite.dendrite_signature for r in first_response.receipts if r.dendrite is not None}
    assert signed, "the honest first job called SN13 by dendrite"
    assert {r.dendrite.dendrite_signature for r in replayed.receipts if r.dendrite is not None} == signed
    assert again.check.root_ok and again.check.result_valid
    assert ReceiptFault.REUSED in faults(again)
    assert again.score.receipts < first.score.receipts


async def test_a_replayer_answers_a_new_objective_from_its_first_jobs_calls(network: LocalNetwork) -> None:
    network.add_miner("replayer", kind=MinerKind.REPLAYER)
    network.refresh()
    validator = network.validators[0]
    uid = uid_of(network, validator, MinerKind.REPLAYER)
    [first] = await validator.ask([uid], task("first-task"))
    other = "Research the managed vector database pricing and strengths of the top 3 competitors."
    [later] = await validator.ask([uid], task("later-task", other))
    assert first.answer.response is not None and later.answer.response is not None
    old_calls = {(r.request_digest, r.response_digest) for r in first.answer.response.receipts}
    new_calls = {(r.request_digest, r.response_digest) for r in later.answer.response.receipts}
    assert new_calls and new_calls <= old_calls, "no call was made for the second objective"
    assert later.check.root_ok and later.check.result_valid


async def test_a_fabricated_answer_passes_every_hash_but_not_a_re_query(network: LocalNetwork) -> None:
    network.add_miner("fabricator", kind=MinerKind.FABRICATOR)
    network.refresh()
    validator = network.validators[0]
    [evaluation] = await validator.ask([uid_of(network, validator, MinerKind.FABRICATOR)], task("t-1"))
    response = evaluation.answer.response
    assert response is not None and response.ok and response.receipts
    assert evaluation.check.root_ok and evaluation.check.result_valid
    assert ReceiptFault.EVIDENCE_MISMATCH not in faults(evaluation), "its digests match its evidence"
    assert ReceiptFault.SPOT_MISMATCH in faults(evaluation)
    assert evaluation.score.total == 0


async def test_a_copier_sends_an_honest_answer_under_its_own_task_id(network: LocalNetwork) -> None:
    network.add_miner("honest")
    network.add_miner("copier", kind=MinerKind.COPIER)
    network.refresh()
    validator = network.validators[0]
    honest_uid, copier_uid = (uid_of(network, validator, k) for k in (MinerKind.HONEST, MinerKind.COPIER))
    challenge = ChallengeGenerator(seed=11, deadline_ms=DEADLINE_MS).next()
    honest, copier = await validator.ask([honest_uid, copier_uid], challenge)
    assert honest.answer.response is not None and copier.answer.response is not None
    assert copier.answer.response.result == honest.answer.response.result
    assert copier.answer.response.task_id != honest.answer.response.task_id
    assert copier.check.root_ok, "the root is recomputed for the copier's own task"
    foreign = [
        r for r in copier.answer.response.receipts if r.route is RouteKind.DENDRITE and r.dendrite is not None
    ]
    assert all(r.dendrite.dendrite_hotkey != honest.answer.hotkey for r in foreign if r.dendrite)


async def test_lazy_and_schema_only_answers_are_valid_and_score_below_an_honest_one(
    network: LocalNetwork,
) -> None:
    for kind in (MinerKind.HONEST, MinerKind.LAZY, MinerKind.SCHEMA_ONLY):
        network.add_miner(kind.value, kind=kind)
    network.refresh()
    validator = network.validators[0]
    uids = [uid_of(network, validator, k) for k in (MinerKind.HONEST, MinerKind.LAZY, MinerKind.SCHEMA_ONLY)]
    honest, lazy, junk = await validator.ask(uids, task("t-1"))
    for cheat in (lazy, junk):
        assert cheat.answer.response is not None and cheat.answer.response.receipts == []
        assert cheat.check.root_ok and cheat.check.result_valid
        assert cheat.score.total < honest.score.total


async def test_the_slow_miner_answers_late_but_inside_the_deadline(network: LocalNetwork) -> None:
    network.add_miner("slow", kind=MinerKind.SLOW, slow_share=0.4)
    network.refresh()
    validator = network.validators[0]
    [evaluation] = await validator.ask([uid_of(network, validator, MinerKind.SLOW)], task("t-1"))
    assert evaluation.answer.response is not None and evaluation.answer.response.ok
    assert evaluation.answer.latency_s >= 0.4 * DEADLINE_MS / 1000
    assert evaluation.check.receipts_verified == len(evaluation.answer.response.receipts)


def test_localnet_adversarial_ends_with_every_honest_miner_above_every_cheater(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["localnet", "--scenario", "adversarial", "--steps", "10", "--json"])
    out = json.loads(capsys.readouterr().out)
    miners = out["miners"]
    assert sorted(m["kind"] for m in miners) == sorted(
        ["honest", "honest", "slow", "lazy", "fabricator", "replayer", "copier", "schema-only"]
    )
    paid = [m["weight"] for m in miners if m["kind"] in ("honest", "slow")]
    cheated = {m["kind"]: m["weight"] for m in miners if m["kind"] not in ("honest", "slow")}
    summary = out["adversarial"]
    assert min(paid) > max(cheated.values()), f"scores by kind: {summary['mean_score_by_kind']}"
    assert summary["separated"] is True and code == 0
