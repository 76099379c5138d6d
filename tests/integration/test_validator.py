"""The validator's loop on a real local network: scoring, weights on chain, state, hotkey turnover."""

import dataclasses
from pathlib import Path

import bittensor as bt
import pytest
from aiohttp import web

from orchestra.config import SN13_NETUID, ValidatorSettings
from orchestra.devnet.network import LocalNetwork
from orchestra.devnet.servers import ThreadedAiohttpServer
from orchestra.errors import ConfigError
from orchestra.ports import LOOPBACK, free_port
from orchestra.proofs import ReceiptFault
from orchestra.validator.challenges import ChallengeGenerator
from orchestra.validator.neuron import Validator
from protocol.models import TaskSpec


async def test_steps_score_miners_and_weights_land_on_chain(network: LocalNetwork) -> None:
    honest = network.add_miner("honest")
    broken = network.add_miner(
        "broken", routes=network.routes(desearch_url=f"http://127.0.0.1:{free_port()}")
    )
    network.refresh()
    validator = network.validators[0]
    for _ in range(3):
        report = await validator.step()
        assert len(report.evaluations) == 2
    outcome = validator.set_weights()
    assert outcome.success
    graph = validator.graphs.get(network.netuid)
    assert graph is not None
    honest_uid, broken_uid = graph.uid_of(honest.hotkey), graph.uid_of(broken.hotkey)
    assert honest_uid is not None and broken_uid is not None
    assert validator.scores[honest_uid] > 0 and validator.scores[broken_uid] == 0
    on_chain = network.chain.weights(network.netuid)[validator.uid or 0]
    assert on_chain[honest_uid] == pytest.approx(1.0) and on_chain.get(broken_uid, 0.0) == 0.0


async def test_weights_are_set_every_n_steps(network: LocalNetwork) -> None:
    network.add_miner("honest")
    validator = network.add_validator(
        "validator-2",
        settings=ValidatorSettings(
            step_interval_s=0, weights_interval_steps=2, producer_netuids=[SN13_NETUID]
        ),
    )
    network.refresh()
    first, second = await validator.step(), await validator.step()
    assert first.weights is None
    assert second.weights is not None and second.weights.success


async def test_scores_survive_a_restart(network: LocalNetwork, tmp_path: Path) -> None:
    network.add_miner("honest")
    state = tmp_path / "state.json"
    settings = ValidatorSettings(step_interval_s=0, producer_netuids=[SN13_NETUID], state_path=state)
    first = network.add_validator("persistent", settings=settings)
    network.refresh()
    await first.step()
    assert state.exists()

    restarted = Validator(wallet=first.wallet, chain=network.chain, netuid=network.netuid, settings=settings)
    restarted.load_state()
    restarted.sync()
    assert restarted.step_count == 1
    assert restarted.scores.tolist() == pytest.approx(first.scores.tolist())
    await restarted.transport.aclose()


async def test_a_new_hotkey_on_a_uid_starts_from_zero(network: LocalNetwork) -> None:
    network.add_miner("honest")
    network.refresh()
    validator = network.validators[0]
    await validator.step()
    uid = validator.miner_uids()[0]
    assert validator.scores[uid] > 0
    validator.hotkeys[uid] = "5SomeoneElse"  # as if the uid had been re-registered since the last sync
    validator.sync()
    assert validator.scores[uid] == 0


def test_an_unregistered_validator_fails_with_a_clear_error(network: LocalNetwork) -> None:
    stranger = Validator(
        wallet=network.wallet("stranger"),
        chain=network.chain,
        netuid=network.netuid,
        settings=ValidatorSettings(),
    )
    with pytest.raises(ConfigError, match="not registered"):
        stranger.sync()


async def test_a_hostile_answer_costs_its_miner_not_the_validator(network: LocalNetwork) -> None:
    honest = network.add_miner("honest")
    network.register("hostile", network.netuid, stake_tao=10.0)
    port = free_port()
    network.chain.serve_axon(
        network.netuid,
        bt.Axon(wallet=network.wallet("hostile"), port=port, external_ip=LOOPBACK, external_port=port),
    )

    async def answer(_: web.Request) -> web.Response:
        return web.Response(
            text='{"result": {"price": NaN}, "proof_root": "00"}', content_type="application/json"
        )

    app = web.Application()
    app.router.add_post("/OrchestrationTask", answer)
    server = ThreadedAiohttpServer(app, port=port).start()
    try:
        network.refresh()
        report = await network.validators[0].step()
    finally:
        server.stop()
    by_hotkey = {e.answer.hotkey: e for e in report.evaluations}
    hostile = by_hotkey[network.wallet("hostile").hotkey.ss58_address]
    assert hostile.score.total == 0 and hostile.answer.failure
    assert by_hotkey[honest.hotkey].score.total > 0


async def test_each_step_samples_miners_at_random(network: LocalNetwork) -> None:
    for name in ("m1", "m2", "m3", "m4"):
        network.add_miner(name)
    validator = network.add_validator(
        "sampler",
        settings=ValidatorSettings(step_interval_s=0, sample_size=1, producer_netuids=[SN13_NETUID], seed=11),
    )
    network.refresh()
    queried = set()
    for _ in range(8):
        report = await validator.step()
        assert len(report.evaluations) == 1
        queried.add(report.evaluations[0].answer.uid)
    assert len(queried) > 1


def test_receipts_may_name_only_the_configured_producer_subnets(network: LocalNetwork) -> None:
    network.add_miner("honest")
    network.refresh()
    validator = network.validators[0]
    assert validator.producer_hotkeys(SN13_NETUID)  # the SN13 stand-ins
    assert validator.producer_hotkeys(network.netuid) == set()  # Orchestra's own neurons are no producers


async def test_each_miner_gets_its_own_variant_of_a_steps_challenge(network: LocalNetwork) -> None:
    network.add_miner("m1")
    network.add_miner("m2")
    network.refresh()
    validator = network.validators[0]
    report = await validator.step()
    specs = [e.answer.response for e in report.evaluations]
    assert all(s is not None for s in specs)
    task_ids = {s.task_id for s in specs if s is not None}
    assert len(task_ids) == 2  # one task id per miner
    assert all(e.check.usable for e in report.evaluations)


async def test_an_organic_task_is_sent_and_scored_like_a_challenge(network: LocalNetwork) -> None:
    network.add_miner("m1")
    network.refresh()
    validator = network.validators[0]
    spec = TaskSpec(
        task_id="organic-1",
        objective="Which GPU cloud vendors are cheapest for H100 GPU cloud rental? List the top 3.",
        target_schema={"vendors": [{"name": "str", "pricing": "dict"}]},
    )
    future = validator.submit_organic(spec)
    report = await validator.step()
    assert report.family == "organic"
    [evaluation] = await future
    assert evaluation.traps == ()  # its right answer is not known in advance
    response = evaluation.answer.response
    assert response is not None
    # Miners see a fresh random id, drawn like a synthetic task's: nothing tells them it is organic.
    assert response.task_id != "organic-1" and len(response.task_id) == 32
    assert response.result is not None and response.result["vendors"]
    assert evaluation.check.usable and evaluation.score.total > 0


async def test_receipts_made_for_another_subject_do_not_count(network: LocalNetwork) -> None:
    network.add_miner("m1")
    network.refresh()
    validator = network.validators[0]
    gpu = ChallengeGenerator(seed=1).next()
    [honest] = await validator.ask([validator.miner_uids()[0]], gpu)
    assert honest.check.receipts_verified == len(honest.check.verdicts) > 0
    # The same calls, offered as the answer to a task about another market.
    elsewhere = dataclasses.replace(gpu, subject=("kubernetes", "observability"))
    [replayed] = await validator.ask([validator.miner_uids()[0]], elsewhere)
    assert replayed.check.verdicts and all(ReceiptFault.UNBOUND in v.faults for v in replayed.check.verdicts)
    assert replayed.score.receipts == 0 and replayed.score.fidelity == 0
