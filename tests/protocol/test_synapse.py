import pytest
from pydantic import ValidationError

from protocol.models import TaskResult, TaskSpec
from protocol.synapse import OrchestrationTask

REQUEST_FIELDS = ("task_id", "objective", "target_schema", "constraints", "protocol_version")


def spec() -> TaskSpec:
    return TaskSpec(task_id="t-1", objective="Find GPU prices", target_schema={"price": "float"})


def test_every_request_field_is_covered_by_the_signed_body_hash() -> None:
    request_fields = {name for name in OrchestrationTask.model_fields if name in REQUEST_FIELDS}
    assert set(OrchestrationTask.required_hash_fields) == request_fields == set(REQUEST_FIELDS)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("task_id", "t-2"),
        ("objective", "Find GPU prices now"),
        ("target_schema", {"price": "int"}),
        ("constraints", {"deadline_ms": 5_000}),
        ("protocol_version", "9.0.0"),
    ],
)
def test_changing_any_request_field_changes_the_body_hash(field: str, value: object) -> None:
    original = OrchestrationTask.from_spec(spec())
    tampered = OrchestrationTask.from_spec(spec())
    setattr(tampered, field, value)
    assert tampered.body_hash != original.body_hash


def test_response_fields_do_not_change_the_body_hash() -> None:
    original = OrchestrationTask.from_spec(spec())
    answered = OrchestrationTask.from_spec(spec()).fill(TaskResult(task_id="t-1", result={"price": 1.0}))
    assert answered.body_hash == original.body_hash


def test_round_trip_between_spec_and_synapse() -> None:
    assert OrchestrationTask.from_spec(spec()).to_spec() == spec()


def test_a_malformed_request_is_reported_by_to_spec_not_by_construction() -> None:
    # The axon must be able to build the synapse so the miner can answer with a typed error.
    synapse = OrchestrationTask(task_id="", objective="x" * 5_000, target_schema=[1, 2], constraints="nope")
    with pytest.raises(ValidationError):
        synapse.to_spec()


def test_deserialize_returns_none_for_an_inconsistent_response() -> None:
    synapse = OrchestrationTask.from_spec(spec())
    synapse.result = {"price": 1.0}
    synapse.evidence = [None]  # one evidence item, zero receipts
    assert synapse.deserialize() is None
