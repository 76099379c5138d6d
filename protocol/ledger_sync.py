"""The `LedgerSync` synapse: a validator collects miners' proposed Ledger changes.

A miner answers with the proposals it made recently (new subnet, route or schema change,
deprecation), each with the evidence of the probe that justified it. Validators re-probe before
they accept anything, so the evidence is a claim to check, not a proof. The proposed entry travels
as JSON and is validated against the Ledger's model by the validator.
"""

from enum import Enum
from typing import Any, ClassVar

import bittensor as bt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from protocol.version import PROTOCOL_VERSION

MAX_PROPOSALS = 32


class ProposalKind(str, Enum):
    NEW_SUBNET = "new_subnet"
    ROUTE_CHANGE = "route_change"
    SCHEMA_CHANGE = "schema_change"
    DEPRECATION = "deprecation"


class ProbeEvidence(BaseModel):
    """What a probe saw: enough for anyone to repeat the call and compare."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    route: str = Field(min_length=1, max_length=64)
    request_digest: str = Field(min_length=1, max_length=128)
    response_digest: str | None = Field(default=None, max_length=128)
    inferred_schema: dict[str, Any] | None = None
    violations: list[str] = Field(default_factory=list, max_length=20)
    status_code: int | None = None
    latency_ms: float | None = Field(default=None, ge=0)
    error: str | None = Field(default=None, max_length=512)
    observed_ns: int = Field(ge=0)


class LedgerProposal(BaseModel):
    """One proposed change: the whole new entry, the version it was computed on, and the evidence."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    kind: ProposalKind
    netuid: int = Field(ge=0, le=65_535)
    base_version: int | None = Field(default=None, ge=0, description="None for a new subnet.")
    entry: dict[str, Any]
    evidence: ProbeEvidence
    note: str = Field(default="", max_length=1_000)


class LedgerSync(bt.Synapse):  # type: ignore[misc]
    """Validator -> miner: "what changes to the Ledger do you propose?"."""

    required_hash_fields: ClassVar[tuple[str, ...]] = ("ledger_head", "max_proposals", "protocol_version")

    # Request.
    ledger_head: int = 0
    max_proposals: int = MAX_PROPOSALS
    protocol_version: str = PROTOCOL_VERSION

    # Response: loose on the wire (see OrchestrationTask), validated by `parsed_proposals`.
    proposals: list[Any] = Field(default_factory=list)

    def parsed_proposals(self) -> tuple[list[LedgerProposal], int]:
        """The well-formed proposals (at most `max_proposals`) and how many were malformed.

        `MAX_PROPOSALS` bounds it too: the dendrite copies every field of the miner's answer back into
        this synapse, so a miner could raise `max_proposals`, never the protocol's cap.
        """
        good: list[LedgerProposal] = []
        bad = 0
        asked = self.max_proposals if isinstance(self.max_proposals, int) else MAX_PROPOSALS
        raw_list = self.proposals if isinstance(self.proposals, list) else []
        for raw in raw_list[: max(0, min(asked, MAX_PROPOSALS))]:
            try:
                good.append(LedgerProposal.model_validate(raw))
            except ValidationError:
                bad += 1
        return good, bad

    def deserialize(self) -> list[LedgerProposal]:
        return self.parsed_proposals()[0]
