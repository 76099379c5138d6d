"""Curation: quorum arithmetic, and a validator re-probing miners' proposals against a live stand-in."""

import copy
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ledger.curation import Curator, QuorumRule, activity, decide
from ledger.entry import SubnetStatus, Verification
from ledger.probes import Prober, ProbeRunner, drift_proposal
from ledger.store import LedgerStore, VerdictRecord
from orchestra.devnet.desearch import DesearchEmulator
from orchestra.devnet.ledger import open_devnet_ledger
from orchestra.ports import free_port
from orchestra.transports.http import HttpTransport
from protocol.ledger_sync import LedgerProposal, ProbeEvidence, ProposalKind

T0 = datetime(2026, 8, 1, tzinfo=timezone.utc)


# decide


def verdict(validator: str, accept: bool, stake: float) -> VerdictRecord:
    return VerdictRecord("p", validator, stake, accept, "", None, T0)


@pytest.mark.parametrize(
    ("verdicts", "rule", "outcome"),
    [
        ([], QuorumRule(), "pending"),
        ([("a", True, 10.0)], QuorumRule(), "accepted"),
        ([("a", False, 10.0)], QuorumRule(), "rejected"),
        ([("a", True, 10.0)], QuorumRule(min_verdicts=2), "pending"),
        ([("a", True, 10.0), ("b", True, 1.0)], QuorumRule(min_verdicts=2), "accepted"),
        ([("a", True, 10.0), ("b", False, 30.0)], QuorumRule(min_verdicts=2), "rejected"),
        ([("a", True, 30.0), ("b", False, 10.0)], QuorumRule(min_verdicts=2), "pending"),  # one acceptor
        ([("a", True, 30.0), ("b", False, 10.0)], QuorumRule(), "accepted"),
        ([("a", True, 60.0), ("b", False, 40.0)], QuorumRule(stake_fraction=2 / 3), "rejected"),
        ([("a", True, 70.0), ("b", False, 30.0)], QuorumRule(stake_fraction=2 / 3), "accepted"),
        ([("a", True, 50.0), ("b", False, 50.0)], QuorumRule(), "accepted"),  # exactly half is enough
        # With no stake at all, heads are counted.
        ([("a", True, 0.0), ("b", True, 0.0), ("c", False, 0.0)], QuorumRule(), "accepted"),
        ([("a", True, 0.0), ("b", False, 0.0), ("c", False, 0.0)], QuorumRule(), "rejected"),
        # Negative stake counts as none.
        ([("a", True, 10.0), ("b", False, -100.0)], QuorumRule(), "accepted"),
    ],
)
def test_decide(verdicts: list[tuple[str, bool, float]], rule: QuorumRule, outcome: str) -> None:
    assert decide([verdict(*v) for v in verdicts], rule) == outcome


# Curator end to end


@pytest.fixture
def emulator() -> Iterator[DesearchEmulator]:
    running = DesearchEmulator(api_key="k").start()
    yield running
    running.stop()


@pytest.fixture
def ledger(tmp_path: Path, emulator: DesearchEmulator) -> Iterator[LedgerStore]:
    store = open_devnet_ledger(tmp_path / "validator.db", emulator.url)
    yield store
    store.close()


@pytest.fixture
async def prober() -> AsyncIterator[Prober]:
    http = HttpTransport()
    yield Prober(http, lambda n, r: "k")
    await http.aclose()


async def miner_proposals(tmp_path: Path, emulator: DesearchEmulator, prober: Prober) -> list[LedgerProposal]:
    """What a miner with its own Ledger (seeded as the validator's) proposes while SN22 has drifted."""
    store = open_devnet_ledger(tmp_path / "miner.db", emulator.url)
    try:
        was = emulator.drifted
        emulator.drifted = True
        runner = ProbeRunner(store, prober, proposer="miner-a")
        await runner.run_once()
        emulator.drifted = was
        proposals = runner.outbox(10)
    finally:
        store.close()
    assert len(proposals) == 1
    return proposals


def altered(proposal: LedgerProposal, change: Any, **fields: Any) -> LedgerProposal:
    entry = copy.deepcopy(proposal.entry)
    change(entry)
    return proposal.model_copy(update={"entry": entry, **fields})


def evidence() -> ProbeEvidence:
    return ProbeEvidence(route="desearch-api", request_digest="r", observed_ns=0)


async def test_a_confirmed_drift_becomes_a_verified_breaking_version(
    tmp_path: Path, emulator: DesearchEmulator, ledger: LedgerStore, prober: Prober
) -> None:
    proposals = await miner_proposals(tmp_path, emulator, prober)
    curator = Curator(ledger, prober, validator="val-1")
    emulator.drifted = True

    ingested = curator.ingest("miner-a", proposals)
    curator.ingest("miner-b", proposals)
    report = await curator.review(stake=100.0)

    assert (ingested.received, ingested.malformed) == (1, 0)
    [pid] = report.accepted
    assert report.rejected == [] and report.reviewed == 1
    current = ledger.get(22)
    assert current.version == 2
    assert current.entry.verification is Verification.VERIFIED
    provenance = current.entry.provenance
    assert provenance.proposed_by == "miner-a"
    assert provenance.verified_by == ("val-1",)
    assert provenance.verified_at is not None
    route = current.entry.route("desearch-api")
    assert route is not None and route.response_schema is not None
    assert "link" not in route.response_schema["properties"]["search"]["items"].get("required", [])
    [version] = ledger.history(22, limit=1)
    assert version.compatibility.value == "breaking"
    assert version.proposal_id == pid
    assert version.evidence["proposal"] == proposals[0].evidence.model_dump(mode="json")
    [seen] = version.evidence["verdicts"]
    assert seen["validator"] == "val-1" and seen["accept"] is True and seen["evidence"]
    record = ledger.proposal(pid)
    assert (record.status, record.version_id) == ("accepted", version.id)
    [vote] = ledger.verdicts(pid)
    assert (vote.validator, vote.stake, vote.accept) == ("val-1", 100.0, True)


async def test_an_accepted_proposal_is_not_reviewed_again(
    tmp_path: Path, emulator: DesearchEmulator, ledger: LedgerStore, prober: Prober
) -> None:
    proposals = await miner_proposals(tmp_path, emulator, prober)
    curator = Curator(ledger, prober, validator="val-1")
    emulator.drifted = True
    curator.ingest("miner-a", proposals)
    await curator.review(stake=1.0)
    head = ledger.head()

    curator.ingest("miner-b", proposals)
    again = await curator.review(stake=1.0)

    assert again.accepted == [] and again.reviewed == 0
    assert ledger.head() == head


async def test_no_drift_no_change(
    tmp_path: Path, emulator: DesearchEmulator, ledger: LedgerStore, prober: Prober
) -> None:
    proposals = await miner_proposals(tmp_path, emulator, prober)
    curator = Curator(ledger, prober, validator="val-1")
    curator.ingest("miner-a", proposals)

    report = await curator.review(stake=1.0)

    [pid] = report.rejected
    record = ledger.proposal(pid)
    assert record.status == "rejected" and "no drift" in record.reason
    assert ledger.get(22).version == 1


async def test_a_proposal_on_a_stale_version_is_rejected(
    tmp_path: Path, emulator: DesearchEmulator, ledger: LedgerStore, prober: Prober
) -> None:
    proposals = await miner_proposals(tmp_path, emulator, prober)
    current = ledger.get(22).entry
    ledger.apply(current.model_copy(update={"description": "edited since"}), source="test")
    emulator.drifted = True
    curator = Curator(ledger, prober, validator="val-1")
    curator.ingest("miner-a", proposals)

    report = await curator.review(stake=1.0)

    [pid] = report.rejected
    assert "stale" in ledger.proposal(pid).reason
    assert ledger.get(22).version == 2


async def test_a_schema_change_that_also_moves_the_endpoint_is_rejected(
    tmp_path: Path, emulator: DesearchEmulator, ledger: LedgerStore, prober: Prober
) -> None:
    [proposal] = await miner_proposals(tmp_path, emulator, prober)
    moved = altered(proposal, lambda e: e["routes"][0].update(endpoint="https://attacker.example"))
    assert moved.entry["routes"][0]["name"] == "desearch-api"
    emulator.drifted = True
    curator = Curator(ledger, prober, validator="val-1")
    curator.ingest("miner-a", [moved])

    report = await curator.review(stake=1.0)

    [pid] = report.rejected
    assert "only change request or response schemas" in ledger.proposal(pid).reason
    assert ledger.get(22).version == 1


async def test_a_proposed_schema_the_live_answer_breaks_is_rejected(
    tmp_path: Path, emulator: DesearchEmulator, ledger: LedgerStore, prober: Prober
) -> None:
    [proposal] = await miner_proposals(tmp_path, emulator, prober)
    invented = altered(
        proposal, lambda e: e["routes"][0].update(response_schema={"type": "object", "required": ["answers"]})
    )
    emulator.drifted = True
    curator = Curator(ledger, prober, validator="val-1")
    curator.ingest("miner-a", [invented])

    report = await curator.review(stake=1.0)

    [pid] = report.rejected
    assert "does not match the proposed schema" in ledger.proposal(pid).reason
    assert ledger.get(22).version == 1


async def test_every_changed_route_of_a_schema_change_is_checked(
    emulator: DesearchEmulator, ledger: LedgerStore, prober: Prober
) -> None:
    current = ledger.get(22)
    [route] = current.entry.routes
    mirror = route.model_copy(update={"name": "zz-mirror"})
    ledger.apply(current.entry.model_copy(update={"routes": (route, mirror)}), source="test")
    stored = ledger.get(22)
    emulator.drifted = True
    outcome = await prober.probe(22, route)
    proposal = drift_proposal(stored, outcome, proposer="miner-a")
    assert proposal is not None
    # The first route's change is real; the second route's schema is made up.
    invented = altered(
        proposal, lambda e: e["routes"][1].update(response_schema={"type": "object", "required": ["answers"]})
    )
    curator = Curator(ledger, prober, validator="val-1")
    curator.ingest("miner-a", [invented])

    report = await curator.review(stake=1.0)

    assert report.accepted == []
    assert ledger.get(22).version == stored.version


async def test_malformed_entries_are_counted_and_never_stored(
    tmp_path: Path, emulator: DesearchEmulator, ledger: LedgerStore, prober: Prober
) -> None:
    [proposal] = await miner_proposals(tmp_path, emulator, prober)
    garbage = proposal.model_copy(update={"entry": {"netuid": 22, "name": ""}})
    elsewhere = proposal.model_copy(update={"netuid": 23})  # the entry says 22
    curator = Curator(ledger, prober, validator="val-1")

    report = curator.ingest("miner-a", [garbage, elsewhere], malformed=2)

    assert (report.received, report.malformed) == (4, 4)
    assert ledger.proposals() == []


async def test_a_new_subnet_proposal_for_a_known_netuid_is_rejected(
    emulator: DesearchEmulator, ledger: LedgerStore, prober: Prober
) -> None:
    current = ledger.get(22).entry
    proposal = LedgerProposal(
        kind=ProposalKind.NEW_SUBNET,
        netuid=22,
        entry=current.model_copy(update={"description": "mine now"}).model_dump(mode="json"),
        evidence=evidence(),
    )
    curator = Curator(ledger, prober, validator="val-1")
    curator.ingest("miner-a", [proposal])

    report = await curator.review(stake=1.0)

    [pid] = report.rejected
    assert "already in the Ledger" in ledger.proposal(pid).reason
    assert ledger.get(22).entry.description != "mine now"


def deprecation(store: LedgerStore) -> LedgerProposal:
    stored = store.get(22)
    entry = stored.entry.model_copy(update={"status": SubnetStatus.DEPRECATED})
    return LedgerProposal(
        kind=ProposalKind.DEPRECATION,
        netuid=22,
        base_version=stored.version,
        entry=entry.model_dump(mode="json"),
        evidence=evidence(),
    )


async def test_a_deprecation_of_a_subnet_that_still_answers_is_rejected(
    ledger: LedgerStore, prober: Prober
) -> None:
    curator = Curator(ledger, prober, validator="val-1")
    curator.ingest("miner-a", [deprecation(ledger)])

    report = await curator.review(stake=1.0)

    [pid] = report.rejected
    assert "still answers" in ledger.proposal(pid).reason
    assert ledger.get(22).entry.status is SubnetStatus.ACTIVE


async def test_a_deprecation_of_a_dead_subnet_is_accepted(tmp_path: Path, prober: Prober) -> None:
    store = open_devnet_ledger(tmp_path / "dead.db", f"http://127.0.0.1:{free_port()}")
    try:
        curator = Curator(store, prober, validator="val-1")
        curator.ingest("miner-a", [deprecation(store)])

        report = await curator.review(stake=1.0)

        [pid] = report.accepted
        current = store.get(22)
        assert current.entry.status is SubnetStatus.DEPRECATED
        assert current.entry.verification is Verification.VERIFIED
        assert store.history(22, limit=1)[0].compatibility.value == "breaking"
        assert store.proposal(pid).status == "accepted"
    finally:
        store.close()


async def test_a_quorum_of_two_waits_for_the_second_validator(
    tmp_path: Path, emulator: DesearchEmulator, ledger: LedgerStore, prober: Prober
) -> None:
    proposals = await miner_proposals(tmp_path, emulator, prober)
    emulator.drifted = True
    rule = QuorumRule(min_verdicts=2)
    first = Curator(ledger, prober, validator="val-1", quorum=rule)
    second = Curator(ledger, prober, validator="val-2", quorum=rule)
    first.ingest("miner-a", proposals)

    waiting = await first.review(stake=10.0)
    [record] = ledger.proposals()
    assert waiting.accepted == [] and waiting.rejected == [] and waiting.reviewed == 1
    assert record.status == "pending" and ledger.get(22).version == 1
    again = await first.review(stake=10.0)
    assert again.reviewed == 0 and len(ledger.verdicts(record.id)) == 1

    decided = await second.review(stake=20.0)

    assert decided.accepted == [record.id]
    current = ledger.get(22)
    assert current.version == 2
    assert current.entry.provenance.verified_by == ("val-1", "val-2")


async def test_activity_credits_the_first_submitter_with_the_discovery(
    tmp_path: Path, emulator: DesearchEmulator, ledger: LedgerStore, prober: Prober
) -> None:
    since = datetime.now(timezone.utc) - timedelta(hours=1)
    proposals = await miner_proposals(tmp_path, emulator, prober)
    emulator.drifted = True
    curator = Curator(ledger, prober, validator="val-1")
    curator.ingest("miner-a", proposals)
    curator.ingest("miner-b", proposals)
    spam = LedgerProposal(
        kind=ProposalKind.NEW_SUBNET,
        netuid=22,
        entry=ledger.get(22).entry.model_dump(mode="json"),
        evidence=evidence(),
    )
    curator.ingest("miner-b", [spam])
    report = await curator.review(stake=1.0)
    assert len(report.accepted) == 1 and len(report.rejected) == 1

    a = activity(ledger, "miner-a", since=since)
    b = activity(ledger, "miner-b", since=since)
    nobody = activity(ledger, "miner-c", since=since)
    later = activity(ledger, "miner-a", since=datetime.now(timezone.utc) + timedelta(minutes=1))

    assert (a.accepted, a.rejected, a.discoveries, a.netuids) == (1, 0, 1, frozenset({22}))
    assert (b.accepted, b.rejected, b.discoveries, b.netuids) == (1, 1, 0, frozenset({22}))
    assert a.last_accepted_age_s is not None and a.last_accepted_age_s >= 0
    assert (nobody.accepted, nobody.rejected, nobody.last_accepted_age_s) == (0, 0, None)
    assert later.accepted == 0
    aged = activity(ledger, "miner-a", since=since, now=datetime.now(timezone.utc) + timedelta(hours=24))
    assert aged.last_accepted_age_s is not None and aged.last_accepted_age_s >= 24 * 3600
