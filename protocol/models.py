"""Pydantic models carried by the Orchestra wire protocol.

These models are the contract between a validator (or the gateway) and a miner. They import nothing
from the engine: anyone can validate a response with `protocol` alone.
"""

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from protocol.version import PROTOCOL_VERSION

MAX_OBJECTIVE_CHARS = 4_000
MAX_STEPS = 64
MAX_RECEIPTS = 512
MIN_DEADLINE_MS = 1_000
MAX_DEADLINE_MS = 600_000
DEFAULT_DEADLINE_MS = 30_000

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"


class ErrorCode(str, Enum):
    """Why a task produced no result. Stable strings: clients switch on them."""

    INVALID_REQUEST = "invalid_request"
    OBJECTIVE_TOO_LONG = "objective_too_long"
    INVALID_SCHEMA = "invalid_schema"
    PLANNING_FAILED = "planning_failed"
    NO_ROUTE = "no_route"
    PRODUCER_UNAVAILABLE = "producer_unavailable"
    PRODUCER_ERROR = "producer_error"
    SYNTHESIS_FAILED = "synthesis_failed"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    BUDGET_EXCEEDED = "budget_exceeded"
    OVERLOADED = "overloaded"
    INTERNAL = "internal"


class RouteKind(str, Enum):
    """How a producer subnet is reached (see DESIGN.md, "What the outside world really looks like")."""

    DENDRITE = "dendrite"
    HTTP = "http"
    OPENAI = "openai"
    SIGNED_HTTP = "signed-http"


class CallStatus(str, Enum):
    """Outcome of one call to a producer."""

    OK = "ok"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    REJECTED = "rejected"
    ERROR = "error"
    INVALID_RESPONSE = "invalid_response"
    CANCELLED = "cancelled"  # a hedged call that lost the race; it was sent, its answer was not used


class _Model(BaseModel):
    # NaN and infinities have no canonical JSON form, so they could never be hashed into a proof root.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TaskError(_Model):
    """A typed failure: `code` is machine-readable, `message` is for people."""

    code: ErrorCode
    message: str = Field(max_length=2_000)
    step_id: str | None = None


class Constraints(_Model):
    """Limits the requester puts on a task."""

    deadline_ms: int = Field(default=DEFAULT_DEADLINE_MS, ge=MIN_DEADLINE_MS, le=MAX_DEADLINE_MS)
    max_cost: float | None = Field(default=None, ge=0)
    allowed_netuids: list[int] | None = Field(default=None, max_length=256)
    blueprint: str | None = Field(default=None, pattern=_ID_PATTERN)

    @field_validator("allowed_netuids")
    @classmethod
    def _netuids_in_range(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(not 0 <= netuid <= 65_535 for netuid in value):
            raise ValueError("netuids are between 0 and 65535")
        return value


class TaskSpec(_Model):
    """One orchestration request: an objective and the shape its answer must take."""

    task_id: str = Field(pattern=_ID_PATTERN)
    objective: str = Field(min_length=1, max_length=MAX_OBJECTIVE_CHARS)
    target_schema: dict[str, Any]
    constraints: Constraints = Field(default_factory=Constraints)

    @field_validator("objective")
    @classmethod
    def _objective_has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("objective is blank")
        return value


class Step(_Model):
    """One node of a plan: a capability to obtain from some producer subnet."""

    id: str = Field(pattern=_ID_PATTERN)
    capability: str = Field(min_length=1, max_length=64)
    netuid: int | None = Field(default=None, ge=0, le=65_535)
    route: RouteKind | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list)
    required: bool = True


class Plan(_Model):
    """A DAG of steps. Construction fails on duplicate ids, unknown dependencies and cycles."""

    blueprint: str | None = None
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)

    @model_validator(mode="after")
    def _is_a_dag(self) -> "Plan":
        ids = [step.id for step in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError("step ids must be unique")
        known = set(ids)
        for step in self.steps:
            missing = [dep for dep in step.depends_on if dep not in known]
            if missing:
                raise ValueError(f"step {step.id!r} depends on unknown steps {missing}")
        self.topological_waves()
        return self

    def topological_waves(self) -> list[list[Step]]:
        """Steps grouped so that every step's dependencies sit in earlier groups."""
        remaining = {step.id: step for step in self.steps}
        done: set[str] = set()
        waves: list[list[Step]] = []
        while remaining:
            wave = [s for s in remaining.values() if all(dep in done for dep in s.depends_on)]
            if not wave:
                raise ValueError(f"plan has a dependency cycle among {sorted(remaining)}")
            waves.append(wave)
            for step in wave:
                done.add(step.id)
                del remaining[step.id]
        return waves


class Provider(_Model):
    """Who answered a call: an axon (hotkey and uid on the producer subnet) or an API host."""

    hotkey: str | None = None
    uid: int | None = None
    host: str | None = None


class DendriteProof(_Model):
    """The signatures bittensor 10.5 already produces around one Dendrite -> Axon call.

    `dendrite_signature` signs `{dendrite_nonce}.{dendrite_hotkey}.{axon_hotkey}.{dendrite_uuid}.{body_hash}`;
    `axon_signature` signs `{axon_nonce}.{dendrite_hotkey}.{axon_hotkey}.{axon_uuid}` and comes back in the
    response headers. Either can be checked against the hotkeys on the chain.
    """

    synapse: str
    dendrite_hotkey: str
    dendrite_nonce: int
    dendrite_uuid: str
    body_hash: str
    dendrite_signature: str
    axon_hotkey: str
    axon_nonce: int | None = None
    axon_uuid: str | None = None
    axon_signature: str | None = None


class CallReceipt(_Model):
    """One attempted call to a producer, failures included, hash-locked into the proof root."""

    step_id: str
    attempt: int = Field(ge=1)
    netuid: int | None = Field(default=None, ge=0, le=65_535)
    route: RouteKind
    operation: str = Field(max_length=256)
    provider: Provider
    request_digest: str
    response_digest: str | None = None
    started_ns: int = Field(ge=0)
    latency_ms: float = Field(ge=0)
    status: CallStatus
    status_code: int | None = None
    cost: float = Field(default=0.0, ge=0)
    dendrite: DendriteProof | None = None


class CallEvidence(_Model):
    """The payloads behind a receipt, so a verifier can recompute its digests and trace values."""

    request: Any
    response: Any = None


class Timings(_Model):
    """Where the time of a task went, in milliseconds."""

    plan_ms: float = Field(default=0.0, ge=0)
    execute_ms: float = Field(default=0.0, ge=0)
    synthesize_ms: float = Field(default=0.0, ge=0)
    total_ms: float = Field(default=0.0, ge=0)


class TaskResult(_Model):
    """Everything a miner returns for a task.

    `evidence[i]` belongs to `receipts[i]` (or is null when the miner withheld it), and `provenance` maps a
    JSON path of the result to the indices of the receipts its value came from.
    """

    task_id: str
    result: dict[str, Any] | None = None
    summary: str | None = None
    plan: Plan | None = None
    receipts: list[CallReceipt] = Field(default_factory=list, max_length=MAX_RECEIPTS)
    evidence: list[CallEvidence | None] = Field(default_factory=list, max_length=MAX_RECEIPTS)
    provenance: dict[str, list[int]] = Field(default_factory=dict)
    proof_root: str | None = None
    cost: float = Field(default=0.0, ge=0)
    timings: Timings = Field(default_factory=Timings)
    error: TaskError | None = None
    protocol_version: str = PROTOCOL_VERSION

    @model_validator(mode="after")
    def _result_xor_error(self) -> "TaskResult":
        if self.result is not None and self.error is not None:
            raise ValueError("a task result carries either a result or an error, not both")
        if self.evidence and len(self.evidence) != len(self.receipts):
            raise ValueError("evidence must be aligned with receipts")
        return self

    @property
    def ok(self) -> bool:
        return self.result is not None and self.error is None
