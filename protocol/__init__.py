"""Orchestra wire contracts: the `OrchestrationTask` synapse and the models it carries."""

from protocol.models import (
    MAX_OBJECTIVE_CHARS,
    CallEvidence,
    CallReceipt,
    CallStatus,
    Constraints,
    DendriteProof,
    ErrorCode,
    Plan,
    Provider,
    RouteKind,
    Step,
    TaskError,
    TaskResult,
    TaskSpec,
    Timings,
)
from protocol.version import PROTOCOL_VERSION, SPEC_VERSION

__all__ = [
    "MAX_OBJECTIVE_CHARS",
    "PROTOCOL_VERSION",
    "SPEC_VERSION",
    "CallEvidence",
    "CallReceipt",
    "CallStatus",
    "Constraints",
    "DendriteProof",
    "ErrorCode",
    "Plan",
    "Provider",
    "RouteKind",
    "Step",
    "TaskError",
    "TaskResult",
    "TaskSpec",
    "Timings",
]
