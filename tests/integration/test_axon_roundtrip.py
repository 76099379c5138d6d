"""Real Axon <-> Dendrite round trips of `OrchestrationTask` on 127.0.0.1."""

import pytest

from orchestra.devnet.network import LocalNetwork
from orchestra.transports import ProducerRejected
from orchestra.transports.dendrite import DendriteTransport
from protocol.models import TaskSpec
from protocol.synapse import OrchestrationTask

SPEC = TaskSpec(
    task_id="roundtrip-1",
    objective="Research the H100 GPU cloud pricing of the top 3 competitors",
    target_schema={"competitors": [{"name": "str", "pricing": "dict"}]},
)


async def test_a_validator_gets_a_full_answer_over_loopback(network: LocalNetwork) -> None:
    miner = network.add_miner("miner-1")
    network.refresh()
    validator = network.validators[0]
    uid = validator.miner_uids()[0]
    answer = await validator.query(uid, SPEC)
    assert answer.failure is None and answer.response is not None
    assert answer.hotkey == miner.hotkey
    response = answer.response
    assert response.task_id == SPEC.task_id and response.error is None
    assert response.result is not None and response.result["competitors"]
    assert response.plan is not None and {s.id for s in response.plan.steps} == {"web", "social"}
    assert len(response.receipts) == len(response.evidence) > 0
    assert response.proof_root and response.timings.total_ms > 0


async def test_an_unregistered_caller_is_refused_with_403(network: LocalNetwork) -> None:
    miner = network.add_miner("miner-1")
    network.refresh()
    stranger = DendriteTransport(network.wallet("stranger"))
    axon = network.validators[0].graphs.get(network.netuid).by_hotkey(miner.hotkey).axon  # type: ignore[union-attr]
    with pytest.raises(ProducerRejected, match="403") as caught:
        await stranger.call(axon, OrchestrationTask.from_spec(SPEC), uid=1, timeout=5)
    await stranger.aclose()
    assert "Unrecognized hotkey" in str(caught.value)


async def test_a_registered_caller_without_a_validator_permit_is_refused(network: LocalNetwork) -> None:
    miner = network.add_miner("miner-1")
    other = network.add_miner("miner-2")  # registered on the subnet, no validator permit
    network.refresh()
    axon = network.validators[0].graphs.get(network.netuid).by_hotkey(miner.hotkey).axon  # type: ignore[union-attr]
    transport = DendriteTransport(other.wallet)
    with pytest.raises(ProducerRejected, match="Non-validator hotkey"):
        await transport.call(axon, OrchestrationTask.from_spec(SPEC), uid=1, timeout=5)
    await transport.aclose()
