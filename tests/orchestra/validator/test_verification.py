from orchestra.proofs import ReceiptFault, TimeWindow, compute_proof_root, digest
from orchestra.schema import compile_schema
from orchestra.validator.challenges import ChallengeGenerator
from orchestra.validator.verification import ResponseCheck, check_response
from protocol.models import CallEvidence, CallReceipt, CallStatus, Provider, RouteKind, TaskResult, TaskSpec

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
