"""Checking a miner's answer: proof root, every receipt, and the result against the schema.

The validator recomputes the root from the task it sent (never the copy the miner echoes back), the
receipts and the result; verifies each receipt against the miner's hotkey, the time window of this
query and the producer metagraphs; and validates the result against the compiled target schema.
"""

from dataclasses import dataclass, field

from orchestra.errors import CanonicalizationError, FieldError, ResultValidationError
from orchestra.proofs import ProducerHotkeys, ReceiptVerdict, TimeWindow, compute_proof_root, verify_receipt
from orchestra.schema import CompiledSchema
from protocol.models import TaskError, TaskResult, TaskSpec


@dataclass(frozen=True)
class ResponseCheck:
    answered: bool
    root_ok: bool = False
    verdicts: tuple[ReceiptVerdict, ...] = ()
    result_valid: bool = False
    schema_errors: tuple[FieldError, ...] = field(default_factory=tuple)
    error: TaskError | None = None

    @property
    def receipts_verified(self) -> int:
        return sum(1 for verdict in self.verdicts if verdict.ok)


def check_response(
    spec: TaskSpec,
    schema: CompiledSchema,
    response: TaskResult | None,
    *,
    miner_hotkey: str,
    window: TimeWindow,
    producer_hotkeys: ProducerHotkeys,
) -> ResponseCheck:
    if response is None:
        return ResponseCheck(answered=False)
    try:
        root_ok = response.proof_root == compute_proof_root(spec, response.receipts, response.result)
    except CanonicalizationError:  # e.g. a NaN smuggled into a free-form field: nothing to hash, no proof
        root_ok = False
    evidence = response.evidence or [None] * len(response.receipts)
    verdicts = tuple(
        verify_receipt(
            receipt,
            miner_hotkey=miner_hotkey,
            window=window,
            producer_hotkeys=producer_hotkeys,
            evidence=item,
        )
        for receipt, item in zip(response.receipts, evidence, strict=True)
    )
    errors: tuple[FieldError, ...] = ()
    valid = False
    if response.result is not None:
        try:
            schema.validate(response.result)
            valid = True
        except ResultValidationError as exc:
            errors = tuple(exc.errors)
    return ResponseCheck(
        answered=True,
        root_ok=root_ok,
        verdicts=verdicts,
        result_valid=valid,
        schema_errors=errors,
        error=response.error,
    )
