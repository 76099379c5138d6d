import pytest
from pydantic import ValidationError

from protocol.models import (
    MAX_OBJECTIVE_CHARS,
    CallEvidence,
    CallReceipt,
    CallStatus,
    Constraints,
    ErrorCode,
    Plan,
    Provider,
    RouteKind,
    Step,
    TaskError,
    TaskResult,
    TaskSpec,
)
from protocol.version import PROTOCOL_VERSION, SPEC_VERSION, spec_version


def receipt(**overrides: object) -> CallReceipt:
    fields: dict[str, object] = {
        "step_id": "web",
        "attempt": 1,
        "netuid": 22,
        "route": RouteKind.HTTP,
        "operation": "POST /desearch/ai/search",
        "provider": Provider(host="api.example"),
        "request_digest": "00" * 32,
        "response_digest": "11" * 32,
        "started_ns": 1,
        "latency_ms": 2.5,
        "status": CallStatus.OK,
    }
    fields.update(overrides)
    return CallReceipt.model_validate(fields)


def test_spec_version_is_the_weights_version_key() -> None:
    assert spec_version("1.2.3") == 1023
    assert spec_version(PROTOCOL_VERSION) == SPEC_VERSION


def test_task_spec_accepts_a_well_formed_task() -> None:
    spec = TaskSpec(task_id="t-1", objective="Find GPU prices", target_schema={"price": "float"})
    assert spec.constraints.deadline_ms == 30_000


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("objective", ""),
        ("objective", "   "),
        ("objective", "x" * (MAX_OBJECTIVE_CHARS + 1)),
        ("task_id", ""),
        ("task_id", "has spaces"),
        ("task_id", "x" * 200),
        ("target_schema", ["not", "an", "object"]),
    ],
)
def test_task_spec_rejects_malformed_fields(field: str, value: object) -> None:
    fields: dict[str, object] = {"task_id": "t-1", "objective": "Find prices", "target_schema": {"a": "str"}}
    fields[field] = value
    with pytest.raises(ValidationError):
        TaskSpec.model_validate(fields)


@pytest.mark.parametrize(
    "constraints",
    [
        {"deadline_ms": 10},
        {"deadline_ms": 10**9},
        {"max_cost": -1},
        {"allowed_netuids": [70_000]},
        {"blueprint": "bad name"},
        {"unknown": 1},
    ],
)
def test_constraints_reject_values_out_of_range(constraints: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Constraints.model_validate(constraints)


def test_plan_orders_steps_into_dependency_waves() -> None:
    plan = Plan(
        steps=[
            Step(id="c", capability="web_search", depends_on=["a", "b"]),
            Step(id="a", capability="web_search"),
            Step(id="b", capability="social_data", depends_on=["a"]),
        ]
    )
    assert [[s.id for s in wave] for wave in plan.topological_waves()] == [["a"], ["b"], ["c"]]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([Step(id="a", capability="x"), Step(id="a", capability="y")], "unique"),
        ([Step(id="a", capability="x", depends_on=["missing"])], "unknown steps"),
        (
            [Step(id="a", capability="x", depends_on=["b"]), Step(id="b", capability="x", depends_on=["a"])],
            "cycle",
        ),
        ([], "at least 1"),
    ],
)
def test_plan_rejects_invalid_graphs(steps: list[Step], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Plan(steps=steps)


def test_task_result_cannot_carry_both_result_and_error() -> None:
    with pytest.raises(ValidationError, match="either a result or an error"):
        TaskResult(task_id="t", result={"a": 1}, error=TaskError(code=ErrorCode.INTERNAL, message="boom"))


def test_task_result_evidence_must_align_with_receipts() -> None:
    with pytest.raises(ValidationError, match="aligned"):
        TaskResult(task_id="t", receipts=[receipt(), receipt(attempt=2)], evidence=[CallEvidence(request={})])


def test_receipts_are_immutable() -> None:
    with pytest.raises(ValidationError):
        receipt().status = CallStatus.ERROR  # type: ignore[misc]
