from typing import Any

import numpy as np
import pytest

from orchestra.proofs import ReceiptFault, ReceiptVerdict
from orchestra.schema import compile_schema
from orchestra.validator.challenges import TrapKind, TrapOutcome
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
CITES_ALL = {"$": [0]}  # the whole result cites receipt 0
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
        provenance=CITES_ALL,
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
    assert fidelity(SCHEMA, RESULT, CITES_ALL, {0: EVIDENCE[0]}) == 1.0
    invented = {
        "vendors": [{"name": "Imaginary Corp", "price": 0.42, "notes": ["Spot capacity is cheap"]}],
        "summary": "VoltStack lists H100 at $1.99/hr",
    }
    assert fidelity(SCHEMA, invented, CITES_ALL, {0: EVIDENCE[0]}) == pytest.approx(2 / 4)
    assert fidelity(SCHEMA, RESULT, CITES_ALL, {}) == 0.0


def test_fidelity_rejects_prose_with_a_made_up_number() -> None:
    altered = {**RESULT, "summary": "VoltStack lists H100 at $0.99/hr"}
    assert fidelity(SCHEMA, altered, CITES_ALL, {0: EVIDENCE[0]}) == pytest.approx(3 / 4)


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
    assert fidelity(schema, {"code": "a", "tier": "pro"}, CITES_ALL, {0: evidence[0]}) == pytest.approx(1 / 2)


def test_a_value_counts_only_against_the_receipts_its_provenance_names() -> None:
    other = CallEvidence(request={}, response={"text": "Imaginary Corp charges $0.42/hr."})
    verified = {0: EVIDENCE[0], 1: other}
    result = {"vendors": [{"name": "Imaginary Corp", "price": 0.42, "notes": []}], "summary": "s"}
    # Cited to the receipt that says it: supported. Cited to one that does not: not, even though
    # another receipt of the same answer would back it.
    right = {"$.vendors[0]": [1], "$.summary": [0]}
    wrong = {"$.vendors[0]": [0], "$.summary": [0]}
    assert fidelity(SCHEMA, result, right, verified) == pytest.approx(2 / 3)
    assert fidelity(SCHEMA, result, wrong, verified) == 0.0


def test_values_without_provenance_are_unsupported() -> None:
    assert fidelity(SCHEMA, RESULT, {}, {0: EVIDENCE[0]}) == 0.0
    assert fidelity(SCHEMA, RESULT, {"$.summary": [0]}, {0: EVIDENCE[0]}) == pytest.approx(1 / 4)


def test_nothing_quotable_is_faithful_only_with_verified_evidence() -> None:
    counts = compile_schema({"count": "int"})
    assert fidelity(counts, {"count": 3}, CITES_ALL, {0: EVIDENCE[0]}) == 1.0
    assert fidelity(counts, {"count": 3}, {}, {}) == 0.0


def test_a_fabricated_receipt_costs_the_whole_orchestration_share() -> None:
    caught = good_check((ReceiptVerdict((ReceiptFault.SPOT_MISMATCH,)),))
    assert score_answer(caught, SCHEMA, response(), latency_s=0, deadline_s=30).total == 0


def test_failed_logic_traps_scale_fidelity_down() -> None:
    half = (TrapOutcome(TrapKind.COUNT, 1.0, "ok"), TrapOutcome(TrapKind.ORDER_ASC, 0.0, "unordered"))
    score = score_answer(good_check(), SCHEMA, response(), latency_s=0, deadline_s=30, traps=half)
    assert score.fidelity == pytest.approx(0.5)
    assert score.completeness == 1.0


def test_enum_choices_and_small_counts_in_prose_are_not_held_against_the_writer() -> None:
    schema = compile_schema(
        {
            "type": "object",
            "properties": {
                "currency": {"type": "string", "enum": ["USD", "EUR"]},
                "summary": {"type": "string"},
            },
        }
    )
    evidence = {0: EVIDENCE[0]}
    # "USD" is a choice among the schema's values; "3" counts what the writer listed.
    honest = {"currency": "USD", "summary": "VoltStack is the cheapest of the 3 providers at $1.99/hr"}
    assert fidelity(schema, honest, CITES_ALL, evidence) == 1.0
    invented = {"currency": "USD", "summary": "VoltStack is the cheapest of the 3 providers at $0.99/hr"}
    assert fidelity(schema, invented, CITES_ALL, evidence) == 0.0


def test_contradicting_a_pre_queried_value_costs_every_orchestration_component() -> None:
    wrong = (TrapOutcome(TrapKind.EXACT, 1.0, "ok"), TrapOutcome(TrapKind.EXACT, 0.0, "wrong"))
    half = score_answer(good_check(), SCHEMA, response(), latency_s=0, deadline_s=30, traps=wrong)
    assert half.receipts == half.schema == half.completeness == half.latency == 0.5
    assert half.fidelity == pytest.approx(0.25)  # by the trap mean, and by the share right
    assert half.total == pytest.approx(0.275)


def test_values_the_validator_pre_queried_and_found_right_count_as_supported() -> None:
    schema = compile_schema({"balance_wei": "str", "block_hash": "str"})
    result = {"balance_wei": "1000000000000000000", "block_hash": "0xabc"}
    evidence = {0: CallEvidence(request={}, response={"result": "0xde0b6b3a7640000"})}
    assert fidelity(schema, result, CITES_ALL, evidence) == 0.0  # hex in the evidence, decimal in the result
    right = (
        TrapOutcome(TrapKind.EXACT, 1.0, "ok", ("balance_wei",)),
        TrapOutcome(TrapKind.EXACT, 0.0, "wrong", ("block_hash",)),
    )
    score = score_answer(
        good_check(),
        schema,
        response(result=result, evidence=[evidence[0]]),
        latency_s=0,
        deadline_s=30,
        traps=right,
    )
    assert score.fidelity == pytest.approx(0.5 * 0.5 * 0.5)  # 1 of 2 supported, trap mean, share right
