"""Checking a miner's answer: proof root, every receipt, receipt reuse, and the result against the schema.

The validator recomputes the root from the task it sent (never the copy the miner echoes back), the
receipts and the result; verifies each receipt against the miner's hotkey, the time window of this
query and the producer metagraphs; refuses receipts already claimed for another task or by another
miner (`ReplayGuard`); and validates the result against the compiled target schema. Re-query spot
checks (`spotcheck.py`) and logic traps (`challenges.py`) come on top, in the neuron.
"""

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from orchestra.errors import CanonicalizationError, FieldError, ResultValidationError
from orchestra.proofs import (
    ProducerHotkeys,
    ReceiptFault,
    ReceiptVerdict,
    TimeWindow,
    proof_root,
    receipt_digest,
    result_digest,
    task_digest,
    verify_receipt,
)
from orchestra.schema import CompiledSchema
from protocol.models import CallReceipt, RouteKind, TaskError, TaskResult, TaskSpec

DEFAULT_REPLAY_MEMORY_S = 3_600.0
DEFAULT_REPLAY_ENTRIES = 1_000_000


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

    @property
    def usable(self) -> bool:
        """A result a user could rely on: present, schema-valid and hash-locked to its receipts."""
        return self.answered and self.result_valid and self.root_ok

    def with_faults(self, faults: dict[int, ReceiptFault]) -> "ResponseCheck":
        """The same check with more faults on the receipts at the given indexes."""
        verdicts = tuple(
            replace(v, faults=(*v.faults, faults[i]), producer_signed=False) if i in faults else v
            for i, v in enumerate(self.verdicts)
        )
        return replace(self, verdicts=verdicts)


def fingerprints(receipt: CallReceipt, digest: str | None = None) -> tuple[str, ...]:
    """Ways to recognise a receipt again, even when a copier edits the fields it thinks are unchecked.

    The whole receipt's digest; for dendrite calls the Dendrite's signature, which only the signing
    hotkey can make and which covers its nonce and uuid; for other calls the request and response
    digests with the start time, which two independent calls do not share to the nanosecond.
    `digest` is the receipt's digest when the caller already has it.
    """
    marks = [digest if digest is not None else receipt_digest(receipt)]
    if receipt.route is RouteKind.DENDRITE and receipt.dendrite is not None:
        marks.append(f"sig:{receipt.dendrite.dendrite_signature}")
    else:
        marks.append(f"call:{receipt.request_digest}:{receipt.response_digest}:{receipt.started_ns}")
    return tuple(marks)


class ReplayGuard:
    """Remembers which task and miner first claimed each receipt, so that no receipt is paid twice.

    A receipt is reused when it was claimed before for another task, by another miner, or earlier in
    the same answer. Entries expire after `memory_s`: a receipt older than that is outside any new
    task's time window anyway, and fails there. The oldest entries go first when `max_entries` is hit.
    """

    def __init__(
        self, *, memory_s: float = DEFAULT_REPLAY_MEMORY_S, max_entries: int = DEFAULT_REPLAY_ENTRIES
    ) -> None:
        self.memory_s = memory_s
        self.max_entries = max_entries
        self._claims: OrderedDict[str, tuple[str, str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._claims)

    def claim(
        self,
        receipts: Sequence[CallReceipt],
        *,
        task_id: str,
        miner: str,
        now: float | None = None,
        digests: Sequence[str] | None = None,
    ) -> list[bool]:
        """Record the receipts of one answer; True at the indexes of receipts seen before. `digests`
        are the receipts' digests when the caller has computed them already."""
        now = time.monotonic() if now is None else now
        self._expire(now)
        reused = []
        claimed_here: set[str] = set()
        for index, receipt in enumerate(receipts):
            marks = fingerprints(receipt, digests[index] if digests is not None else None)
            seen = any(m in claimed_here or m in self._claims for m in marks)
            reused.append(seen)
            if receipt.dendrite is not None and receipt.dendrite.dendrite_hotkey != miner:
                continue  # signed by someone else: it fails as `wrong_miner` and claims nothing for them
            for mark in marks:
                claimed_here.add(mark)
                if mark not in self._claims:
                    self._claims[mark] = (task_id, miner, now)
        while len(self._claims) > self.max_entries:
            self._claims.popitem(last=False)
        return reused

    def _expire(self, now: float) -> None:
        while self._claims:
            _, (_, _, when) = next(iter(self._claims.items()))
            if now - when <= self.memory_s:
                return
            self._claims.popitem(last=False)


def check_response(
    spec: TaskSpec,
    schema: CompiledSchema,
    response: TaskResult | None,
    *,
    miner_hotkey: str,
    window: TimeWindow,
    producer_hotkeys: ProducerHotkeys,
    replays: ReplayGuard | None = None,
) -> ResponseCheck:
    if response is None:
        return ResponseCheck(answered=False)
    # Each receipt's digest serves the root and the replay guard alike.
    digests = [receipt_digest(receipt) for receipt in response.receipts]
    try:
        root_ok = response.proof_root == proof_root(
            task_digest(spec), digests, result_digest(response.result)
        )
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
    check = ResponseCheck(
        answered=True,
        root_ok=root_ok,
        verdicts=verdicts,
        result_valid=valid,
        schema_errors=errors,
        error=response.error,
    )
    if replays is not None:
        reused = replays.claim(response.receipts, task_id=spec.task_id, miner=miner_hotkey, digests=digests)
        check = check.with_faults({i: ReceiptFault.REUSED for i, seen in enumerate(reused) if seen})
    return check
