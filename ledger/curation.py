"""Validators' side of the Ledger: take miners' proposals, re-probe, vote, and apply what a quorum accepts.

A proposal is only a claim. Each validator repeats the probe the evidence describes and records a
verdict with its stake. A proposal is accepted when the validators that voted on it and accept hold
at least `QuorumRule.stake_fraction` of the voting stake, with at least `min_verdicts` votes; it is
rejected when enough stake rejects that acceptance is out of reach. Validators that share one
database (PostgreSQL) therefore reach quorum together; a lone validator with `min_verdicts=1` decides
alone. The accepted change becomes a new, `verified` version that credits the first submitter.
"""

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from ledger.entry import Provenance, Route, SubnetEntry, SubnetStatus, Verification
from ledger.errors import StaleVersion
from ledger.probes import ProbeOutcome, Prober, content_id, probeable
from ledger.store import LedgerStore, ProposalRecord, StoredEntry, VerdictRecord
from ledger.versioning import conforms, diff_entries
from orchestra.proofs import digest
from protocol.ledger_sync import LedgerProposal, ProposalKind

log = logging.getLogger(__name__)

MAX_PENDING_REVIEWS = 64
SCHEMA_FIELDS = ("request_schema", "response_schema")


@dataclass(frozen=True)
class QuorumRule:
    min_verdicts: int = 1
    stake_fraction: float = 0.5


@dataclass(frozen=True)
class Verdict:
    accept: bool
    reason: str
    evidence_digest: str | None = None


@dataclass
class ReviewReport:
    received: int = 0
    malformed: int = 0
    reviewed: int = 0
    accepted: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def decide(verdicts: list[VerdictRecord], rule: QuorumRule) -> str:
    """ "accepted", "rejected" or "pending" from the verdicts so far (pure)."""
    if len(verdicts) < rule.min_verdicts:
        return "pending"
    total = sum(max(v.stake, 0.0) for v in verdicts)
    accepting = [v for v in verdicts if v.accept]
    accept_stake = sum(max(v.stake, 0.0) for v in accepting)
    # With no stake at all, count heads.
    share = len(accepting) / len(verdicts) if total <= 0 else accept_stake / total
    if share >= rule.stake_fraction and len(accepting) >= rule.min_verdicts:
        return "accepted"
    if share < rule.stake_fraction:
        return "rejected"
    return "pending"


class Curator:
    """One validator's view: ingests proposals into its store and reviews the pending ones."""

    def __init__(
        self,
        store: LedgerStore,
        prober: Prober,
        *,
        validator: str,
        quorum: QuorumRule | None = None,
    ) -> None:
        self.store = store
        self.prober = prober
        self.validator = validator
        self.quorum = quorum or QuorumRule()

    def ingest(self, proposer: str, proposals: list[LedgerProposal], *, malformed: int = 0) -> ReviewReport:
        """Record what one miner sent. Entries that do not even parse are rejected on the spot."""
        report = ReviewReport(received=len(proposals) + malformed, malformed=malformed)
        for proposal in proposals:
            try:
                entry = SubnetEntry.model_validate(proposal.entry)
            except ValidationError:
                report.malformed += 1
                continue
            if entry.netuid != proposal.netuid:
                report.malformed += 1
                continue
            proposal_id = content_id(proposal.kind, proposal.netuid, proposal.base_version, entry)
            self.store.submit_proposal(
                proposal_id=proposal_id,
                kind=proposal.kind.value,
                netuid=proposal.netuid,
                proposer=proposer,
                base_version=proposal.base_version,
                entry=proposal.entry,
                evidence=proposal.evidence.model_dump(mode="json"),
            )
        return report

    async def review(self, *, stake: float, report: ReviewReport | None = None) -> ReviewReport:
        """Vote on every pending proposal this validator has not voted on, then settle quorums."""
        report = report or ReviewReport()
        pending = await asyncio.to_thread(self.store.proposals, status="pending", limit=MAX_PENDING_REVIEWS)
        for record in pending:
            voted = await asyncio.to_thread(self.store.verdicts, record.id)
            if not any(v.validator == self.validator for v in voted):
                verdict = await self.verify(record)
                await asyncio.to_thread(
                    self.store.add_verdict,
                    record.id,
                    validator=self.validator,
                    stake=stake,
                    accept=verdict.accept,
                    reason=verdict.reason,
                    evidence_digest=verdict.evidence_digest,
                )
                report.reviewed += 1
            outcome = await asyncio.to_thread(self.settle, record.id)
            if outcome == "accepted":
                report.accepted.append(record.id)
            elif outcome == "rejected":
                report.rejected.append(record.id)
        return report

    async def verify(self, record: ProposalRecord) -> Verdict:
        """Check one proposal against the live subnet. Never raises: a failure is a rejection."""
        try:
            entry = SubnetEntry.model_validate(record.entry)
        except ValidationError as exc:
            return Verdict(False, f"entry does not validate: {exc.errors()[0]['msg']}")
        current = await asyncio.to_thread(self.store.find, record.netuid)
        kind = ProposalKind(record.kind)
        if kind is ProposalKind.NEW_SUBNET:
            if current is not None:
                return Verdict(False, f"subnet {record.netuid} is already in the Ledger")
            return await self._routes_answer(entry, entry.routes)
        if current is None:
            return Verdict(False, f"subnet {record.netuid} is not in the Ledger; propose it as new_subnet")
        if record.base_version != current.version:
            return Verdict(False, f"stale: computed on version {record.base_version}, now {current.version}")
        changed = _changed_routes(current.entry, entry)
        if kind is ProposalKind.SCHEMA_CHANGE:
            return await self._verify_schema_change(current, entry, changed, record.evidence)
        if kind is ProposalKind.ROUTE_CHANGE:
            return await self._routes_answer(entry, [r for r in entry.routes if r.name in changed])
        return await self._verify_deprecation(current, entry)

    async def _verify_schema_change(
        self, current: StoredEntry, entry: SubnetEntry, changed: set[str], evidence: dict[str, Any]
    ) -> Verdict:
        if not changed:
            return Verdict(False, "the proposal changes no route")
        if _without_schemas(current.entry) != _without_schemas(entry):
            return Verdict(False, "a schema_change may only change request or response schemas")
        digests = []
        for name in sorted(changed):
            old_route, new_route = current.entry.route(name), entry.route(name)
            if old_route is None or new_route is None:
                return Verdict(False, f"a schema_change may not add or remove route {name}")
            if not probeable(old_route, self.prober.secrets, entry.netuid):
                return Verdict(False, f"route {name} cannot be probed by this validator")
            outcome = await self.prober.probe(entry.netuid, old_route, expect=new_route.response_schema)
            if not outcome.ok:
                return Verdict(False, f"route {name} did not answer: {outcome.evidence.error}")
            if outcome.evidence.violations:
                return Verdict(
                    False,
                    f"live answer does not match the proposed schema: {outcome.evidence.violations[0]}",
                )
            if old_route.response_schema is not None and not conforms(
                outcome.payload, old_route.response_schema
            ):
                return Verdict(False, f"route {name} still matches its stored schema: no drift")
            digests.append(_digest(outcome))
        log.info(
            "schema change on %d/%s confirmed (miner evidence %s)",
            entry.netuid,
            ", ".join(sorted(changed)),
            evidence.get("response_digest"),
        )
        return Verdict(True, "live answers match the proposed schema", digest(digests))

    async def _routes_answer(self, entry: SubnetEntry, routes: "tuple[Route, ...] | list[Route]") -> Verdict:
        checked = [r for r in routes if probeable(r, self.prober.secrets, entry.netuid)]
        if not checked:
            return Verdict(False, "no route this validator can probe")
        digests = []
        for route in checked:
            outcome = await self.prober.probe(entry.netuid, route)
            if not outcome.ok:
                return Verdict(False, f"route {route.name} did not answer: {outcome.evidence.error}")
            if outcome.evidence.violations:
                return Verdict(
                    False, f"route {route.name} breaks its schema: {outcome.evidence.violations[0]}"
                )
            digests.append(_digest(outcome))
        return Verdict(True, f"{len(checked)} route(s) answered as described", digest(digests))

    async def _verify_deprecation(self, current: StoredEntry, entry: SubnetEntry) -> Verdict:
        if entry.status is not SubnetStatus.DEPRECATED:
            return Verdict(False, "a deprecation must set status to deprecated")
        if _without_status(current.entry) != _without_status(entry):
            return Verdict(False, "a deprecation may only change the status")
        checked = [r for r in current.entry.routes if probeable(r, self.prober.secrets, entry.netuid)]
        if not checked:
            return Verdict(False, "no route this validator can probe")
        for route in checked:
            outcome = await self.prober.probe(entry.netuid, route)
            if outcome.ok:
                return Verdict(False, f"route {route.name} still answers")
        return Verdict(True, f"none of {len(checked)} route(s) answers")

    def settle(self, proposal_id: str) -> str:
        """Apply or reject the proposal once its verdicts reach a decision; otherwise leave it pending."""
        record = self.store.proposal(proposal_id)
        if record.status != "pending":
            return record.status
        verdicts = self.store.verdicts(proposal_id)
        outcome = decide(verdicts, self.quorum)
        if outcome == "rejected":
            reasons = "; ".join(f"{v.validator[:8]}: {v.reason}" for v in verdicts if not v.accept)
            self.store.close_proposal(proposal_id, status="rejected", reason=reasons)
        elif outcome == "accepted":
            self._apply(record, verdicts)
        return outcome

    def _apply(self, record: ProposalRecord, verdicts: list[VerdictRecord]) -> None:
        submitters = self.store.submitters(record.id)
        first = submitters[0][0] if submitters else record.proposer
        now = datetime.now(timezone.utc)
        proposed = SubnetEntry.model_validate(record.entry)
        entry = proposed.model_copy(
            update={
                "verification": Verification.VERIFIED,
                "provenance": Provenance(
                    source=f"proposal:{record.kind}",
                    evidence_digest=digest(record.evidence),
                    proposed_by=first,
                    verified_by=tuple(sorted(v.validator for v in verdicts if v.accept)),
                    verified_at=now,
                ),
            }
        )
        evidence = {
            "proposal": record.evidence,
            "verdicts": [
                {
                    "validator": v.validator,
                    "accept": v.accept,
                    "reason": v.reason,
                    "evidence": v.evidence_digest,
                }
                for v in verdicts
            ],
        }
        try:
            written = self.store.apply(
                entry,
                source=f"proposal:{record.kind}",
                evidence=evidence,
                proposal_id=record.id,
                expected_version=record.base_version or 0,
                now=now,
            )
        except StaleVersion as exc:
            self.store.close_proposal(record.id, status="rejected", reason=str(exc))
            return
        self.store.close_proposal(
            record.id,
            status="accepted",
            reason="quorum accepted",
            version_id=written.id if written is not None else None,
            now=now,
        )


def _changed_routes(old: SubnetEntry, new: SubnetEntry) -> set[str]:
    changes = diff_entries(old, new).changes
    names = {r.name for r in old.routes} | {r.name for r in new.routes}
    return {
        name
        for name in names
        if any(
            change.path == f"routes/{name}" or change.path.startswith(f"routes/{name}/") for change in changes
        )
    }


def _without_schemas(entry: SubnetEntry) -> dict[str, Any]:
    content = entry.content()
    for route in content["routes"]:
        for name in SCHEMA_FIELDS:
            route.pop(name, None)
    return content


def _without_status(entry: SubnetEntry) -> dict[str, Any]:
    content = entry.content()
    content.pop("status")
    return content


def _digest(outcome: ProbeOutcome) -> str:
    return digest(outcome.evidence.model_dump(mode="json"))


@dataclass(frozen=True)
class LedgerActivity:
    """What one miner contributed to the Ledger in a scoring window, as this validator saw it."""

    accepted: int = 0
    rejected: int = 0
    discoveries: int = 0
    netuids: frozenset[int] = frozenset()
    last_accepted_age_s: float | None = None


def activity(
    store: LedgerStore, proposer: str, *, since: datetime, now: datetime | None = None
) -> LedgerActivity:
    """Accepted and rejected submissions, discoveries (first submitter of an accepted change), the
    subnets covered and how long ago the newest accepted one was sent."""
    now = now or datetime.now(timezone.utc)
    accepted = rejected = discoveries = 0
    netuids: set[int] = set()
    newest: datetime | None = None
    for record, sent in store.submissions_by(proposer, since=since):
        if record.status == "rejected":
            rejected += 1
        elif record.status == "accepted":
            accepted += 1
            netuids.add(record.netuid)
            newest = sent if newest is None or sent > newest else newest
            first = store.submitters(record.id)
            if first and first[0][0] == proposer:
                discoveries += 1
    return LedgerActivity(
        accepted=accepted,
        rejected=rejected,
        discoveries=discoveries,
        netuids=frozenset(netuids),
        last_accepted_age_s=(now - newest).total_seconds() if newest is not None else None,
    )
