"""The Ledger end to end on a real local network: a producer changes its schema, miners' probes notice,
the validator verifies over LedgerSync, a `breaking` version lands, a webhook hears of it, scores rise."""

import pytest

from orchestra.config import SN22_NETUID
from orchestra.devnet.localnet import drift_followed, schema_drift
from orchestra.devnet.network import LocalNetwork
from orchestra.transports.base import ProducerRejected
from orchestra.transports.dendrite import DendriteTransport
from protocol.ledger_sync import LedgerSync


async def test_a_schema_change_travels_from_probe_to_webhook(network: LocalNetwork) -> None:
    network.add_miner("miner-a")
    network.add_miner("miner-b")
    network.refresh()
    validator = network.validators[0]
    await validator.step()
    assert validator.ledger.get(SN22_NETUID).version == 1

    outcome = await schema_drift(network, validator, lambda _: None)

    assert drift_followed(outcome), outcome
    assert outcome["compatibility"] == "breaking"
    assert any(path.endswith("/items/properties/link") for path in outcome["changes"])
    stored = validator.ledger.get(SN22_NETUID)
    assert stored.version == 2
    assert stored.entry.verification.value == "verified"
    route = stored.entry.route("desearch-api")
    assert route is not None and route.response_schema is not None
    items = route.response_schema["properties"]["search"]["items"]
    assert "url" in items["properties"] and "link" not in items.get("required", [])
    [version] = validator.ledger.history(SN22_NETUID, limit=1)
    assert version.evidence["proposal"]["violations"], "the miner's probe evidence is kept"
    assert version.evidence["verdicts"][0]["validator"] == validator.hotkey
    # Both miners found it; the first to be heard gets the discovery, both gain Ledger score.
    scores = outcome["ledger_scores"]
    assert len(outcome["detected_by"]) == 2
    assert all(scores[str(uid)]["after"] > scores[str(uid)]["before"] for uid in outcome["detected_by"])
    assert version.proposed_by in {validator.hotkeys[uid] for uid in outcome["detected_by"]}


async def test_an_accepted_change_is_not_applied_twice(network: LocalNetwork) -> None:
    network.add_miner("miner-a")
    network.refresh()
    validator = network.validators[0]
    await schema_drift(network, validator, lambda _: None)
    head = validator.ledger.head()
    network.desearch.drifted = True  # type: ignore[union-attr]
    report = await validator.ledger_round(validator.miner_uids())
    assert report.accepted == [] and validator.ledger.head() == head


async def test_miners_answer_ledger_sync_only_to_validators(network: LocalNetwork) -> None:
    miner = network.add_miner("miner-a")
    outsider = network.wallet("outsider")
    network.refresh()
    transport = DendriteTransport(outsider)
    try:
        graph = network.validators[0].graphs.get(network.netuid)
        assert graph is not None
        uid = graph.uid_of(miner.hotkey)
        assert uid is not None
        with pytest.raises(ProducerRejected):
            await transport.call(graph.neuron(uid).axon, LedgerSync(), uid=uid, timeout=5)
    finally:
        await transport.aclose()
