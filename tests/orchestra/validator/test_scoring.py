from typing import Any

import numpy as np
import pytest

from orchestra.proofs import ReceiptFault, ReceiptVerdict
from orchestra.schema import compile_schema
from orchestra.validator.scoring import WEIGHTS, ScoreBreakdown, completeness, ema, fidelity, score_answer
from orchestra.validator.verification import ResponseCheck
from protocol.models import CallEvidence, CallReceipt, CallStatus, Provider, RouteKind, TaskResult

SCHEMA = compile_schema({"vendors": [{"name": "str", "price": "float", "notes": "list"}], "summary": "str"})
EVIDENCE = [
    CallEvidence(
        request={},
        response={"search": [{"snippet": "VoltStack lists H100 at $1.99/hr. Spot capacity is cheap."}]},
    )
]
RESULT = {
    "vendors": [{"name": "VoltStack", "price": 1.99, "notes": ["Spot capacity is cheap"]}],
    "summary": "VoltStack lists H100 at $1.99/hr",
}


def receipt() -> CallReceipt:
    return CallReceipt(
        step_id="web",
        attempt=1,
        route=RouteKind.HTTP,
        operation="POST /x",
        provider=Provider(host="h"),
        request_digest="0" * 64,
        started_ns=1,
        latency_ms=1,
        status=CallStatus.OK,
    )


def response(
    result: dict[str, Any] | None = RESULT, evidence: list[CallEvidence] | None = None
) -> TaskResult:
    return TaskResult(
        task_id="t",
        result=result,
        receipts=[receipt()],
        evidence=evidence if evidence is not None else EVIDENCE,
    )


def good_check(verdicts: tuple[ReceiptVerdict, ...] = (ReceiptVerdict(),), **overrides: Any) -> ResponseCheck:
    fields: dict[str, Any] = {"answered": True, "root_ok": True, "verdicts": verdicts, "result_valid": True}
    fields.update(overrides)
    return ResponseCheck(**fields)


def test_weights_match_the_design() -> None:
    assert WEIGHTS == {
        "receipts": 0.20,
        "schema": 0.15,
        "completeness": 0.10,
        "fidelity": 0.10,
        "latency": 0.05,
        "ledger": 0.40,
    }
    assert ScoreBreakdown(1, 1, 1, 1, 1, 1).total == pytest.approx(1.0)
    assert ScoreBreakdown(1, 1, 1, 1, 1, 0).total == pytest.approx(0.60)


def test_a_complete_faithful_fast_answer_earns_the_whole_orchestration_share() -> None:
    score = score_answer(good_check(), SCHEMA, response(), latency_s=0.0, deadline_s=30)
    assert score.as_dict() == {
        "receipts": 1.0,
        "schema": 1.0,
        "completeness": 1.0,
        "fidelity": 1.0,
        "latency": 1.0,
        "ledger": 0.0,
        "total": 0.6,
    }


@pytest.mark.parametrize(
    "check",
    [
        ResponseCheck(answered=False),
        good_check(result_valid=False),
    ],
)
def test_no_valid_result_scores_zero(check: ResponseCheck) -> None:
    assert score_answer(check, SCHEMA, response(), latency_s=0.1, deadline_s=30).total == 0


def test_an_error_response_scores_zero_even_with_verified_receipts() -> None:
    assert score_answer(good_check(), SCHEMA, response(result=None), latency_s=0.1, deadline_s=30).total == 0


def test_failed_receipts_cost_the_receipt_share_and_a_wrong_root_costs_everything() -> None:
    half = good_check((ReceiptVerdict(), ReceiptVerdict((ReceiptFault.WRONG_MINER,))))
    two = TaskResult(task_id="t", result=RESULT, receipts=[receipt(), receipt()], evidence=EVIDENCE * 2)
    assert score_answer(half, SCHEMA, two, latency_s=0, deadline_s=30).receipts == 0.5
    # A root that does not recompute means nothing in the answer is locked to anything: no score at all.
    assert score_answer(good_check(root_ok=False), SCHEMA, response(), latency_s=0, deadline_s=30).total == 0


def test_latency_is_linear_in_the_deadline() -> None:
    assert score_answer(good_check(), SCHEMA, response(), latency_s=15, deadline_s=30).latency == 0.5
    assert score_answer(good_check(), SCHEMA, response(), latency_s=45, deadline_s=30).latency == 0


def test_completeness_counts_filled_leaves() -> None:
    assert completeness(SCHEMA, RESULT) == 1.0
    partial = {"vendors": [{"name": "A", "price": 1.0, "notes": []}], "summary": ""}
    assert completeness(SCHEMA, partial) == pytest.approx(2 / 4)
    assert completeness(SCHEMA, {"vendors": [], "summary": "s"}) == pytest.approx(1 / 2)


def test_fidelity_finds_values_in_the_evidence_and_flags_invented_ones() -> None:
    assert fidelity(SCHEMA, RESULT, EVIDENCE) == 1.0
    invented = {
        "vendors": [{"name": "Imaginary Corp", "price": 0.42, "notes": ["Spot capacity is cheap"]}],
        "summary": "VoltStack lists H100 at $1.99/hr",
    }
    assert fidelity(SCHEMA, invented, EVIDENCE) == pytest.approx(2 / 4)
    assert fidelity(SCHEMA, RESULT, []) == 0.0


def test_fidelity_rejects_prose_with_a_made_up_number() -> None:
    altered = {**RESULT, "summary": "VoltStack lists H100 at $0.99/hr"}
    assert fidelity(SCHEMA, altered, EVIDENCE) == pytest.approx(3 / 4)


def test_only_verified_evidence_counts_for_fidelity() -> None:
    bad = good_check((ReceiptVerdict((ReceiptFault.EVIDENCE_MISMATCH,)),))
    assert score_answer(bad, SCHEMA, response(), latency_s=0, deadline_s=30).fidelity == 0


def test_ema_updates_only_the_queried_uids() -> None:
    scores = np.array([0.5, 0.5, 0.5])
    updated = ema(scores, [0, 2], [1.0, float("nan")], alpha=0.1)
    assert updated.tolist() == pytest.approx([0.55, 0.5, 0.45])
    assert scores.tolist() == [0.5, 0.5, 0.5]


def test_short_values_must_be_whole_words_of_the_evidence() -> None:
    schema = compile_schema({"code": "str", "tier": "str"})
    evidence = [CallEvidence(request={}, response={"text": "Plan tier: pro. Latency is low."})]
    assert fidelity(schema, {"code": "a", "tier": "pro"}, evidence) == pytest.approx(1 / 2)
