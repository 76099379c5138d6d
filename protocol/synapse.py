"""The `OrchestrationTask` synapse: validator or gateway -> miner, over bittensor 10.5 Axon/Dendrite.

The request fields are deliberately loose on the wire (`Any`): an Axon answers a request that fails
pydantic validation with an opaque HTTP 500, so strict validation happens in the miner's forward,
which returns a typed `TaskError` instead. `TaskSpec` holds the strict form.
"""

from typing import Any, ClassVar

import bittensor as bt
from pydantic import Field, ValidationError

from protocol.models import (
    CallEvidence,
    CallReceipt,
    Plan,
    TaskError,
    TaskResult,
    TaskSpec,
    Timings,
)
from protocol.version import PROTOCOL_VERSION


class OrchestrationTask(bt.Synapse):  # type: ignore[misc]
    """One objective + target schema in; a validated result, plan and receipts out."""

    # bittensor 10.5 signs only the fields named here: without them a relay could rewrite the body.
    required_hash_fields: ClassVar[tuple[str, ...]] = (
        "task_id",
        "objective",
        "target_schema",
        "constraints",
        "protocol_version",
    )

    # Request (filled by the caller).
    task_id: str = ""
    objective: str = ""
    target_schema: Any = None
    constraints: Any = None
    protocol_version: str = PROTOCOL_VERSION

    # Response (filled by the miner).
    result: dict[str, Any] | None = None
    summary: str | None = None
    plan: Plan | None = None
    receipts: list[CallReceipt] = Field(default_factory=list)
    evidence: list[CallEvidence | None] = Field(default_factory=list)
    provenance: dict[str, list[int]] = Field(default_factory=dict)
    proof_root: str | None = None
    cost: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    timings: Timings | None = None
    error: TaskError | None = None

    @classmethod
    def from_spec(cls, spec: TaskSpec) -> "OrchestrationTask":
        return cls(
            task_id=spec.task_id,
            objective=spec.objective,
            target_schema=spec.target_schema,
            constraints=spec.constraints.model_dump(mode="json"),
        )

    def to_spec(self) -> TaskSpec:
        """The strict request. Raises `pydantic.ValidationError` when the caller sent a malformed one."""
        return TaskSpec.model_validate(
            {
                "task_id": self.task_id,
                "objective": self.objective,
                "target_schema": self.target_schema,
                "constraints": self.constraints if self.constraints is not None else {},
            }
        )

    def fill(self, outcome: TaskResult) -> "OrchestrationTask":
        """Copy a miner's outcome into the response fields."""
        self.result = outcome.result
        self.summary = outcome.summary
        self.plan = outcome.plan
        self.receipts = list(outcome.receipts)
        self.evidence = list(outcome.evidence)
        self.provenance = dict(outcome.provenance)
        self.proof_root = outcome.proof_root
        self.cost = outcome.cost
        self.timings = outcome.timings
        self.error = outcome.error
        self.protocol_version = outcome.protocol_version
        return self

    def to_result(self) -> TaskResult:
        """The response as a `TaskResult`; raises `pydantic.ValidationError` when it is inconsistent."""
        return TaskResult(
            task_id=self.task_id,
            result=self.result,
            summary=self.summary,
            plan=self.plan,
            receipts=self.receipts,
            evidence=self.evidence,
            provenance=self.provenance,
            proof_root=self.proof_root,
            cost=self.cost,
            timings=self.timings or Timings(),
            error=self.error,
            protocol_version=self.protocol_version,
        )

    def deserialize(self) -> TaskResult | None:
        try:
            return self.to_result()
        except ValidationError:
            return None
