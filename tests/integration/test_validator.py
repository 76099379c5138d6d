"""The validator's loop on a real local network: scoring, weights on chain, state, hotkey turnover."""

from pathlib import Path

import pytest

from orchestra.config import SN13_NETUID, ValidatorSettings
from orchestra.devnet.network import LocalNetwork
from orchestra.errors import ConfigError
from orchestra.ports import free_port
from orchestra.validator.neuron import Validator


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
