"""Plan validation: each rule, with a plan that breaks it."""

from typing import Any

import pytest

from orchestra.errors import PlanningError
from orchestra.planner import InvalidPlanError, check_step_inputs, validate_plan
from orchestra.planner.validation import MAX_INPUT_BYTES, check_graph
from protocol.models import MAX_STEPS, Plan, Step

ROUTABLE = {"web_search", "llm_inference"}


def step(step_id: str, capability: str = "web_search", **fields: Any) -> Step:
    return Step(id=step_id, capability=capability, inputs=fields.pop("inputs", {"query": "q"}), **fields)


def chain(length: int) -> Plan:
    return Plan(steps=[step(f"s{i}", depends_on=[f"s{i - 1}"] if i else []) for i in range(length)])


def broken(plan: Plan, capabilities: set[str] = ROUTABLE, **limits: Any) -> InvalidPlanError:
    with pytest.raises(InvalidPlanError) as caught:
        validate_plan(plan, capabilities, **limits)
    assert isinstance(caught.value, PlanningError)  # the service maps it to planning_failed
    return caught.value


def test_a_sound_plan_passes() -> None:
    validate_plan(
        Plan(
            steps=[
                step("web"),
                step(
                    "llm",
                    "llm_inference",
                    inputs={"prompt": "p", "context_from": ["web"]},
                    depends_on=["web"],
                ),
            ]
        ),
        ROUTABLE,
    )


def test_more_steps_than_the_cap_are_refused() -> None:
    plan = Plan(steps=[step(f"s{i}") for i in range(5)])
    validate_plan(plan, ROUTABLE, max_steps=5)
    assert broken(plan, max_steps=4).rule == "too_many_steps"


def test_a_cap_above_the_protocol_limit_is_lowered_to_it() -> None:
    plan = Plan.model_construct(steps=[step(f"s{i}") for i in range(MAX_STEPS + 1)])
    assert broken(plan, max_steps=10 * MAX_STEPS).rule == "too_many_steps"


def test_unknown_capabilities_are_refused() -> None:
    error = broken(Plan(steps=[step("a", "telepathy")]), {"telepathy"})
    assert (error.rule, error.step_id) == ("unknown_capability", "a")


def test_a_required_step_needs_a_route_and_an_optional_one_may_lack_it() -> None:
    optional = Plan(steps=[step("web"), step("code", "code_generation", required=False)])
    validate_plan(optional, ROUTABLE)
    assert broken(optional, all_routable=True).step_id == "code"
    error = broken(Plan(steps=[step("code", "code_generation")]))
    assert (error.rule, error.step_id) == ("unroutable", "code")


def test_a_step_depending_on_itself_is_refused() -> None:
    plan = Plan.model_construct(steps=[step("a", depends_on=["a"])])
    error = broken(plan)
    assert (error.rule, error.step_id) == ("self_dependency", "a")


def test_a_cycle_is_refused_even_when_plan_checks_were_bypassed() -> None:
    plan = Plan.model_construct(steps=[step("a", depends_on=["b"]), step("b", depends_on=["a"]), step("c")])
    error = broken(plan)
    assert error.rule == "cycle" and "['a', 'b']" in error.message


@pytest.mark.parametrize(
    ("graph", "rule"),
    [
        ([("a", []), ("a", [])], "duplicate_id"),
        ([("a", ["ghost"])], "unknown_dependency"),
        ([("a", ["c"]), ("b", ["a"]), ("c", ["b"])], "cycle"),
    ],
)
def test_graph_rules(graph: list[tuple[str, list[str]]], rule: str) -> None:
    with pytest.raises(InvalidPlanError) as caught:
        check_graph(graph)
    assert caught.value.rule == rule


def test_plans_deeper_than_the_bound_are_refused() -> None:
    validate_plan(chain(3), ROUTABLE, max_depth=3)
    error = broken(chain(4), max_depth=3)
    assert error.rule == "too_deep" and "4 steps deep" in error.message


def test_oversized_inputs_are_refused() -> None:
    big = Plan(steps=[step("a", inputs={"query": "x" * MAX_INPUT_BYTES})])
    error = broken(big)
    assert (error.rule, error.step_id) == ("inputs_too_large", "a")
    assert broken(Plan(steps=[step("a", inputs={"query": "é" * 600})]), max_input_bytes=1_000).rule == (
        "inputs_too_large"  # bytes, not characters
    )


def test_inputs_that_are_not_plain_json_are_refused() -> None:
    assert (
        broken(Plan(steps=[step("a", inputs={"query": "q", "weight": float("nan")})])).rule
        == "inputs_not_json"
    )


@pytest.mark.parametrize("context_from", [["web"], "web", [1]])
def test_context_may_only_come_from_dependencies(context_from: Any) -> None:
    plan = Plan(
        steps=[
            step("web"),
            step("other"),
            step(
                "llm",
                "llm_inference",
                inputs={"prompt": "p", "context_from": context_from},
                depends_on=["other"],
            ),
        ]
    )
    error = broken(plan)
    assert (error.rule, error.step_id) == ("context_from", "llm")


@pytest.mark.parametrize(
    ("capability", "inputs"),
    [
        ("web_search", {}),
        ("web_search", {"query": "  "}),
        ("social_search", {"query": 3}),
        ("social_data", {"keywords": []}),
        ("social_data", {"keywords": "solana"}),
        ("social_data", {"keywords": ["solana", 1]}),
        ("llm_inference", {"system": "s"}),
        ("chain_rpc", {"chain": "eth"}),
    ],
)
def test_steps_must_carry_the_input_their_capability_needs(capability: str, inputs: dict[str, Any]) -> None:
    with pytest.raises(InvalidPlanError) as caught:
        check_step_inputs(Plan(steps=[step("a", capability, inputs=inputs)]))
    assert (caught.value.rule, caught.value.step_id) == ("missing_input", "a")


def test_capabilities_without_a_convention_take_any_inputs() -> None:
    check_step_inputs(Plan(steps=[step("a", "code_generation", inputs={})]))


@pytest.mark.parametrize(
    "inputs",
    [{"method": "eth_blockNumber"}, {"calls": [{"method": "eth_blockNumber"}, {"method": "eth_chainId"}]}],
)
def test_a_chain_rpc_step_needs_a_method_or_a_batch_of_calls(inputs: dict[str, Any]) -> None:
    check_step_inputs(Plan(steps=[step("a", "chain_rpc", inputs=inputs)]))
    with pytest.raises(InvalidPlanError, match=r"needs 'method' .* or 'calls'"):
        check_step_inputs(Plan(steps=[step("a", "chain_rpc", inputs={"calls": ["eth_blockNumber"]})]))
