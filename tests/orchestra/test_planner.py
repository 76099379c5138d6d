import pytest

from orchestra.errors import PlanningError
from orchestra.planner import Blueprint, BlueprintPlanner, analyse, load_blueprints, validate_plan
from orchestra.schema import compile_schema
from protocol.models import Constraints, Plan, Step, TaskSpec

ROUTABLE = {"web_search", "social_data", "social_search"}
SCHEMA = compile_schema({"competitors": [{"name": "str", "pricing": "dict"}], "price_point": "float"})


def spec(objective: str, blueprint: str | None = None) -> TaskSpec:
    return TaskSpec(
        task_id="t-1",
        objective=objective,
        target_schema={"a": "str"},
        constraints=Constraints(blueprint=blueprint),
    )


def test_analysis_extracts_terms_names_counts_and_years() -> None:
    facts = analyse(
        'Compare the H100 pricing of the top 3 GPU clouds like "Vast.ai" and RunPod in 2026', SCHEMA.root
    )
    assert {"h100", "pricing", "gpu", "clouds"} <= set(facts.keywords)
    assert "compare" not in facts.keywords and "the" not in facts.keywords
    assert "Vast.ai" in facts.entities and "RunPod" in facts.entities
    assert facts.count == 3
    assert facts.years == ("2026",)
    assert {"competitors", "name", "pricing", "price", "point"} <= set(facts.schema_terms)


@pytest.mark.parametrize(
    ("text", "count"), [("the top five vendors", 5), ("best 10 tools", 10), ("some vendors", None)]
)
def test_counts(text: str, count: int | None) -> None:
    assert analyse(text).count == count


def test_bundled_blueprints_load_and_are_valid_dags() -> None:
    library = load_blueprints()
    assert {"market_research", "topic_research"} <= set(library)
    for blueprint in library.values():
        # An account lookup plans only with the chain, account and block it reads.
        objective = (
            f"on Ethereum at block 5, the balance of 0x{'ab' * 20}" if blueprint.deterministic else "x y z"
        )
        plan = blueprint.instantiate(analyse(objective), objective)
        validate_plan(plan, ROUTABLE | {"chain_rpc"})


def test_market_objectives_get_the_market_blueprint_filled_in() -> None:
    planner = BlueprintPlanner(load_blueprints())
    plan = planner.plan(
        spec("Research competitor pricing for H100 GPU clouds"), SCHEMA, capabilities=ROUTABLE
    )
    assert plan.blueprint == "market_research"
    web, social = plan.steps
    assert web.inputs["query"] == "Research competitor pricing for H100 GPU clouds"
    assert social.inputs["keywords"][:3] == ["competitor", "pricing", "h100"]
    assert not web.depends_on and not social.depends_on  # independent: they run in parallel


def test_other_objectives_fall_back_to_the_default_blueprint() -> None:
    planner = BlueprintPlanner(load_blueprints())
    assert planner.choose("Tell me about tomatoes").name == "topic_research"


def test_a_requested_blueprint_is_used_and_an_unknown_one_is_a_typed_error() -> None:
    planner = BlueprintPlanner(load_blueprints())
    assert (
        planner.plan(spec("prices", blueprint="topic_research"), SCHEMA, capabilities=ROUTABLE).blueprint
        == "topic_research"
    )
    with pytest.raises(
        PlanningError,
        match="unknown blueprint 'nope'; known blueprints: chain_lookup, competitive_analysis, ",
    ):
        planner.plan(spec("prices", blueprint="nope"), SCHEMA, capabilities=ROUTABLE)


def test_a_required_capability_without_a_route_fails_planning() -> None:
    planner = BlueprintPlanner(load_blueprints())
    with pytest.raises(PlanningError, match="no configured route provides") as caught:
        planner.plan(spec("competitor pricing"), SCHEMA, capabilities={"social_data"})
    assert caught.value.step_id == "web"


@pytest.mark.parametrize("objective", ["a brief on tomatoes", "competitor pricing for GPU clouds"])
def test_social_data_is_optional_so_miners_without_sn13_access_can_serve(objective: str) -> None:
    planner = BlueprintPlanner(load_blueprints())
    plan = planner.plan(spec(objective), SCHEMA, capabilities={"web_search"})
    assert [s.id for s in plan.steps if not s.required] == ["social"]


def test_unknown_capabilities_are_refused() -> None:
    with pytest.raises(PlanningError, match="unknown capability"):
        validate_plan(Plan(steps=[Step(id="a", capability="telepathy")]), ROUTABLE)


def test_blueprint_placeholders_fill_whole_values_and_text() -> None:
    blueprint = Blueprint.model_validate(
        {
            "name": "t",
            "description": "d",
            "steps": [
                {
                    "id": "a",
                    "capability": "web_search",
                    "inputs": {"k": "{keywords}", "q": "about {keywords}", "n": "{count}"},
                }
            ],
        }
    )
    [step] = blueprint.instantiate(analyse("top 2 gpu clouds"), "top 2 gpu clouds").steps
    assert step.inputs == {"k": ["gpu", "clouds"], "q": "about gpu clouds", "n": 2}
