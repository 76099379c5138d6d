"""The `LedgerSync` synapse: what a validator takes from a miner's answer, and what it signs."""

from types import SimpleNamespace
from typing import Any

import bittensor as bt
import pytest

from protocol.ledger_sync import MAX_PROPOSALS, LedgerProposal, LedgerSync, ProposalKind


def proposal(netuid: int = 22, **overrides: Any) -> dict[str, Any]:
    """A well-formed proposal as it travels on the wire (JSON)."""
    raw: dict[str, Any] = {
        "kind": "schema_change",
        "netuid": netuid,
        "base_version": 1,
        "entry": {"netuid": netuid, "name": "Desearch"},
        "evidence": {
            "route": "desearch-api",
            "request_digest": "ab" * 32,
            "response_digest": "cd" * 32,
            "violations": ["$.search[0]: 'link' is a required property"],
            "status_code": 200,
            "latency_ms": 12.5,
            "observed_ns": 1_700_000_000_000_000_000,
        },
        "note": "route desearch-api drifted",
    }
    raw.update(overrides)
    return raw


MALFORMED: list[Any] = [
    {"foo": 1},
    "schema_change",
    42,
    None,
    [],
    proposal(kind="rename"),
    proposal(netuid=70_000),
    proposal(netuid="twenty-two"),
    proposal(base_version=-1),
    proposal(entry="not an object"),
    proposal(evidence={"route": "desearch-api"}),
    proposal(evidence={**proposal()["evidence"], "latency_ms": -1.0}),
    proposal(evidence={**proposal()["evidence"], "violations": ["v"] * 21}),
    proposal(note="x" * 1_001),
    proposal(extra="field"),
    proposal(evidence={**proposal()["evidence"], "secret": "field"}),
]


def test_well_formed_proposals_are_parsed() -> None:
    synapse = LedgerSync(proposals=[proposal(22), proposal(13, kind="deprecation")])

    good, bad = synapse.parsed_proposals()

    assert bad == 0
    assert [(p.kind, p.netuid) for p in good] == [
        (ProposalKind.SCHEMA_CHANGE, 22),
        (ProposalKind.DEPRECATION, 13),
    ]
    assert good[0].evidence.violations == ["$.search[0]: 'link' is a required property"]
    assert good[0].entry == {"netuid": 22, "name": "Desearch"}
    assert synapse.deserialize() == good


@pytest.mark.parametrize("raw", MALFORMED, ids=range(len(MALFORMED)))
def test_each_malformed_proposal_is_counted_not_kept(raw: Any) -> None:
    good, bad = LedgerSync(proposals=[proposal(), raw, proposal(13)]).parsed_proposals()

    assert [p.netuid for p in good] == [22, 13]
    assert bad == 1


def test_a_garbage_answer_gives_nothing_and_counts_everything() -> None:
    good, bad = LedgerSync(proposals=MALFORMED).parsed_proposals()

    assert good == [] and bad == len(MALFORMED)
    assert LedgerSync().parsed_proposals() == ([], 0)


def test_at_most_max_proposals_are_read() -> None:
    flood = [proposal(netuid) for netuid in range(MAX_PROPOSALS + 10)]

    good, bad = LedgerSync(proposals=flood).parsed_proposals()
    assert len(good) == MAX_PROPOSALS and bad == 0
    assert [p.netuid for p in good] == list(range(MAX_PROPOSALS))

    few, bad = LedgerSync(max_proposals=3, proposals=[{"x": 1}, *flood]).parsed_proposals()
    assert (len(few), bad) == (2, 1)


def test_proposals_survive_the_wire() -> None:
    sent = LedgerSync(ledger_head=7, proposals=[LedgerProposal.model_validate(proposal())])

    received = LedgerSync(**sent.model_dump())
    good, bad = received.parsed_proposals()

    assert bad == 0 and good == [LedgerProposal.model_validate(proposal())]
    assert received.ledger_head == 7


def test_a_miner_cannot_lift_the_cap_in_its_answer() -> None:
    request = LedgerSync(ledger_head=3)
    answer = LedgerSync(
        ledger_head=3,
        max_proposals=10_000,
        proposals=[proposal(netuid) for netuid in range(MAX_PROPOSALS * 3)],
    ).model_dump()
    http_response = SimpleNamespace(status=200, headers={})

    bt.Dendrite.process_server_response(None, http_response, answer, request)  # what the validator gets

    good, _ = request.parsed_proposals()
    assert len(good) <= MAX_PROPOSALS


def test_every_request_field_is_signed() -> None:
    request_fields = set(LedgerSync.model_fields) - set(bt.Synapse.model_fields) - {"proposals"}

    assert request_fields == {"ledger_head", "max_proposals", "protocol_version"}
    assert set(LedgerSync.required_hash_fields) == request_fields
    assert "proposals" not in LedgerSync.required_hash_fields, "the answer is not part of the request hash"


def test_the_body_hash_changes_with_each_request_field() -> None:
    base = LedgerSync(ledger_head=1).body_hash

    assert LedgerSync(ledger_head=2).body_hash != base
    assert LedgerSync(ledger_head=1, max_proposals=5).body_hash != base
    assert LedgerSync(ledger_head=1, protocol_version="0.0.0").body_hash != base
    assert LedgerSync(ledger_head=1, proposals=[proposal()]).body_hash == base
