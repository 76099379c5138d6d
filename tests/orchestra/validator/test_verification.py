from orchestra.proofs import ReceiptFault, TimeWindow, compute_proof_root, digest
from orchestra.schema import compile_schema
from orchestra.validator.challenges import ChallengeGenerator
from orchestra.validator.verification import ReplayGuard, ResponseCheck, check_response
from protocol.models import (
    CallEvidence,
    CallReceipt,
    CallStatus,
    DendriteProof,
    Provider,
    RouteKind,
    TaskResult,
    TaskSpec,
)

SPEC = TaskSpec(task_id="t-1", objective="GPU prices", target_schema={"price": "float"})
SCHEMA = compile_schema(SPEC.target_schema)
WINDOW = TimeWindow(start_ns=1_000, end_ns=2_000, skew_ns=0)


def consistent() -> TaskResult:
    request, response = {"q": "gpu"}, {"price": "$1.99"}
    receipt = CallReceipt(
        step_id="web",
        attempt=1,
        netuid=22,
        route=RouteKind.HTTP,
        operation="POST /x",
        provider=Provider(host="h"),
        request_digest=digest(request),
        response_digest=digest(response),
        started_ns=1_500,
        latency_ms=1,
        status=CallStatus.OK,
    )
    result = {"price": 1.99}
    return TaskResult(
        task_id="t-1",
        result=result,
        receipts=[receipt],
        evidence=[CallEvidence(request=request, response=response)],
        proof_root=compute_proof_root(SPEC, [receipt], result),
    )


def check(answer: TaskResult | None, spec: TaskSpec = SPEC) -> ResponseCheck:
    return check_response(
        spec, SCHEMA, answer, miner_hotkey="5M", window=WINDOW, producer_hotkeys=lambda _: set()
    )


def test_a_consistent_answer_checks_out() -> None:
    # Consistent, not proven honest: without producer signatures or re-queries this could be made up.
    result = check(consistent())
    assert result.answered and result.root_ok and result.result_valid
    assert result.receipts_verified == 1


def test_a_result_changed_after_the_fact_breaks_the_root() -> None:
    tampered = consistent().model_copy(update={"result": {"price": 0.99}})
    assert not check(tampered).root_ok


def test_the_root_is_recomputed_from_the_task_the_validator_sent() -> None:
    # The miner answered a different task (or echoes a rewritten one): the root does not match ours.
    other = SPEC.model_copy(update={"objective": "CPU prices"})
    assert not check(consistent(), spec=other).root_ok


def test_swapped_evidence_fails_its_receipt() -> None:
    answer = consistent()
    swapped = answer.model_copy(
        update={"evidence": [CallEvidence(request={"q": "gpu"}, response={"price": "$0.01"})]}
    )
    result = check(swapped)
    assert result.verdicts[0].faults == (ReceiptFault.EVIDENCE_MISMATCH,)


def test_an_invalid_result_is_flagged_with_paths() -> None:
    answer = consistent()
    wrong = answer.model_copy(update={"result": {"price": "cheap"}})
    result = check(wrong)
    assert not result.result_valid
    assert [e.path for e in result.schema_errors] == ["$.price"]


def test_no_answer() -> None:
    assert not check(None).answered


def test_challenges_vary_and_are_reproducible_with_a_seed() -> None:
    first = [ChallengeGenerator(seed=5).next().spec for _ in range(1)]
    again = [ChallengeGenerator(seed=5).next().spec for _ in range(1)]
    assert first == again
    generator = ChallengeGenerator(seed=9)
    specs = [generator.next().spec for _ in range(12)]
    assert len({s.task_id for s in specs}) == 12
    assert len({s.objective for s in specs}) > 3
    assert len({str(s.target_schema) for s in specs}) > 1
    for spec in specs:
        compile_schema(spec.target_schema)


def test_a_non_finite_number_breaks_the_root_instead_of_the_validator() -> None:
    smuggled = consistent().model_copy(update={"result": {"price": 1.0, "extra": {"x": float("nan")}}})
    result = check(smuggled)
    assert result.answered and not result.root_ok


def guarded(
    answer: TaskResult, guard: ReplayGuard, *, miner: str = "5M", spec: TaskSpec = SPEC
) -> ResponseCheck:
    return check_response(
        spec,
        SCHEMA,
        answer,
        miner_hotkey=miner,
        window=WINDOW,
        producer_hotkeys=lambda _: set(),
        replays=guard,
    )


def test_a_receipt_claimed_for_one_task_is_refused_for_the_next() -> None:
    guard = ReplayGuard()
    assert guarded(consistent(), guard).receipts_verified == 1
    later = SPEC.model_copy(update={"task_id": "t-2"})
    replayed = consistent()
    replayed = replayed.model_copy(
        update={"proof_root": compute_proof_root(later, replayed.receipts, replayed.result)}
    )
    again = guarded(replayed, guard, spec=later)
    assert again.root_ok  # a replayer recomputes the root: only the guard catches it
    assert again.verdicts[0].faults == (ReceiptFault.REUSED,)


def test_a_copy_of_another_miners_receipt_is_refused_to_the_copier() -> None:
    guard = ReplayGuard()
    assert guarded(consistent(), guard, miner="5Honest").receipts_verified == 1
    assert guarded(consistent(), guard, miner="5Copier").verdicts[0].faults == (ReceiptFault.REUSED,)


def test_a_copier_that_edits_the_latency_is_still_recognised() -> None:
    guard = ReplayGuard()
    original = consistent()
    guarded(original, guard, miner="5Honest")
    [receipt] = original.receipts
    edited = receipt.model_copy(update={"latency_ms": 7.0})
    copy = original.model_copy(
        update={"receipts": [edited], "proof_root": compute_proof_root(SPEC, [edited], original.result)}
    )
    assert ReceiptFault.REUSED in guarded(copy, guard, miner="5Copier").verdicts[0].faults


def test_the_same_receipt_twice_in_one_answer_counts_once() -> None:
    answer = consistent()
    doubled = answer.model_copy(
        update={
            "receipts": answer.receipts * 2,
            "evidence": answer.evidence * 2,
            "proof_root": compute_proof_root(SPEC, answer.receipts * 2, answer.result),
        }
    )
    result = guarded(doubled, ReplayGuard())
    assert [v.faults for v in result.verdicts] == [(), (ReceiptFault.REUSED,)]


def test_two_independent_calls_with_identical_answers_are_not_a_replay() -> None:
    # Two honest miners asking a deterministic producer the same thing get the same bytes back; their
    # receipts differ in when the call started.
    guard = ReplayGuard()
    first = consistent()
    [receipt] = first.receipts
    twin = receipt.model_copy(update={"started_ns": receipt.started_ns + 1})
    second = first.model_copy(
        update={"receipts": [twin], "proof_root": compute_proof_root(SPEC, [twin], first.result)}
    )
    assert guarded(first, guard, miner="5A").receipts_verified == 1
    assert guarded(second, guard, miner="5B").receipts_verified == 1


def test_the_guard_forgets_after_its_memory_and_holds_at_most_its_bound() -> None:
    guard = ReplayGuard(memory_s=10, max_entries=4)
    [receipt] = consistent().receipts
    assert guard.claim([receipt], task_id="a", miner="m", now=0.0) == [False]
    assert guard.claim([receipt], task_id="b", miner="m", now=5.0) == [True]
    assert guard.claim([receipt], task_id="c", miner="m", now=100.0) == [False]
    others = [receipt.model_copy(update={"started_ns": 10 + i}) for i in range(5)]
    guard.claim(others, task_id="d", miner="m", now=101.0)
    assert len(guard) <= 4


def test_a_copier_holding_another_miners_signed_receipt_first_does_not_take_it_from_them() -> None:
    guard = ReplayGuard()
    [receipt] = consistent().receipts
    signed = receipt.model_copy(
        update={
            "route": RouteKind.DENDRITE,
            "dendrite": DendriteProof(
                synapse="GetMinerIndex",
                dendrite_hotkey="5Honest",
                dendrite_nonce=1_500,
                dendrite_uuid="u",
                body_hash="b",
                dendrite_signature="0xsig",
                axon_hotkey="5Axon",
            ),
        }
    )
    # The copy arrives first: its claim does not count, and the signer's own answer keeps the receipt.
    assert guard.claim([signed], task_id="t-copy", miner="5Copier") == [False]
    assert guard.claim([signed], task_id="t-1", miner="5Honest") == [False]
    assert guard.claim([signed], task_id="t-2", miner="5Honest") == [True]
