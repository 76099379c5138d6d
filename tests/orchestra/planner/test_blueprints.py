"""The blueprint library: every blueprint plans a realistic request, choice, fan-out and its bounds."""

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.errors import PlanningError
from orchestra.planner import (
    Blueprint,
    BlueprintPlanner,
    analyse,
    check_step_inputs,
    load_blueprints,
    validate_plan,
)
from orchestra.schema import compile_schema
from protocol.models import Plan, TaskSpec

TODAY = dt.date(2026, 8, 15)
ENGINE = {"web_search", "social_search", "social_data", "llm_inference", "chain_rpc"}
WEB_ONLY = {"web_search"}

REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "market_research": (
        "Research the H100 GPU cloud pricing of the top 3 competitors",
        {"competitors": [{"name": "str", "pricing": "dict"}]},
    ),
    "competitive_analysis": (
        'Compare Notion, Coda and "Microsoft Loop" on strengths, weaknesses and positioning',
        {"rivals": [{"name": "str", "strengths": "list[str]", "weaknesses": "list[str]"}]},
    ),
    "data_aggregation": (
        "Collect tweets and Reddit posts about Solana and Avalanche from the last 7 days",
        {"posts": [{"text": "str", "url": "str", "sentiment": "float"}]},
    ),
    "content_synthesis": (
        "Write a 600-word explainer on zero-knowledge proofs for product managers",
        {"title": "str", "body": "str", "sources": ["str"]},
    ),
    "deep_market_intelligence": (
        "Deep market intelligence on the decentralised compute landscape: Akash and Render in Q2 2026",
        {"players": [{"name": "str", "revenue": "float?", "sentiment": "str"}], "outlook": "str"},
    ),
    "software_lifecycle": (
        "Upgrade our FastAPI service from Pydantic v1 to v2 and list the bugs to expect",
        {"repository": "str", "bugs": ["str"], "tests": ["str"]},
    ),
    "topic_research": ("A brief on the history of tomatoes", {"summary": "str"}),
}


def spec(objective: str, schema: dict[str, Any] | None = None, blueprint: str | None = None) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "task_id": "t-1",
            "objective": objective,
            "target_schema": schema or {"a": "str"},
            "constraints": {"blueprint": blueprint},
        }
    )


def planner(**kwargs: Any) -> BlueprintPlanner:
    return BlueprintPlanner(load_blueprints(), today=lambda: TODAY, **kwargs)


def plan_for(name: str, capabilities: set[str] = ENGINE, **kwargs: Any) -> Plan:
    objective, schema = REQUESTS[name]
    return planner(**kwargs).plan(spec(objective, schema), compile_schema(schema), capabilities=capabilities)


def by_id(plan: Plan) -> dict[str, Any]:
    return {s.id: s for s in plan.steps}


def test_the_library_has_every_blueprint_the_issue_names() -> None:
    # chain_lookup needs a chain_rpc route to plan at all: tests/orchestra/planner/test_chain_lookup.py
    assert set(load_blueprints()) == set(REQUESTS) | {"chain_lookup"}


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_each_blueprint_is_chosen_for_its_request_and_gives_adapters_the_inputs_they_need(name: str) -> None:
    plan = plan_for(name)
    assert plan.blueprint == name
    check_step_inputs(plan)
    validate_plan(plan, ENGINE)


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_each_blueprint_still_plans_when_only_web_search_is_routable(name: str) -> None:
    plan = plan_for(name, WEB_ONLY)
    assert {s.capability for s in plan.steps if s.required} == {"web_search"}


def test_competitive_analysis_searches_each_rival_and_compares_them_with_context() -> None:
    steps = by_id(plan_for("competitive_analysis"))
    rivals = [f"rival-{i}" for i in (1, 2, 3)]
    assert [steps[r].inputs["query"] for r in rivals] == [
        "Microsoft Loop pricing features strengths weaknesses",
        "Notion pricing features strengths weaknesses",
        "Coda pricing features strengths weaknesses",
    ]
    assert not any(steps[r].required for r in rivals)
    compare = steps["compare"]
    assert compare.capability == "llm_inference" and not compare.required
    assert compare.depends_on == ["web", *rivals, "social"] == compare.inputs["context_from"]
    assert compare.inputs["prompt"].startswith("Compare Microsoft Loop, Notion, Coda for this request:")


def test_deep_market_intelligence_fans_out_per_player_and_writes_a_dated_brief() -> None:
    steps = by_id(plan_for("deep_market_intelligence"))
    assert steps["player-web-1"].inputs["query"] == "Akash market share revenue pricing 2026"
    assert steps["player-social-2"].inputs == {
        "query": "Render",
        "count": 20,
        "sources": ["x", "reddit"],
        "sort": "Latest",
    }
    assert steps["web"].inputs["date_filter"] == "PAST_YEAR"  # Q2 2026 seen from mid-August
    brief = steps["brief"]
    assert set(brief.depends_on) == set(steps) - {"brief"}
    assert "Period: 2026-04-01 to 2026-06-30." in brief.inputs["prompt"]
    waves = plan_for("deep_market_intelligence").topological_waves()
    assert [len(w) for w in waves] == [len(steps) - 1, 1]  # everything in parallel, then the brief


def test_data_aggregation_gathers_in_parallel_within_the_period() -> None:
    plan = plan_for("data_aggregation")
    steps = by_id(plan)
    assert len(plan.topological_waves()) == 1
    assert {s.capability for s in plan.steps} == {"web_search", "social_search", "social_data"}
    assert steps["web"].inputs["date_filter"] == "PAST_WEEK"
    assert [steps["subject-posts-1"].inputs["query"], steps["subject-posts-2"].inputs["query"]] == [
        "Solana",
        "Avalanche",
    ]


def test_software_lifecycle_runs_docs_then_code_then_review() -> None:
    plan = plan_for("software_lifecycle")
    assert [[s.id for s in wave] for wave in plan.topological_waves()] == [
        ["docs", "issues"],
        ["code"],
        ["review"],
    ]
    steps = by_id(plan)
    assert steps["code"].capability == "code_generation" and not steps["code"].required
    assert steps["review"].inputs["context_from"] == ["docs", "issues", "code"]


def test_content_synthesis_drafts_from_the_research() -> None:
    steps = by_id(plan_for("content_synthesis"))
    assert steps["draft"].depends_on == ["research", "background"]
    assert steps["draft"].inputs["prompt"].startswith("Write a 600-word explainer")


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"competitors": [{"name": "str", "pricing": "dict"}]}, "market_research"),
        ({"rivals": [{"strengths": "list", "weaknesses": "list"}]}, "competitive_analysis"),
        ({"tweets": ["str"], "sentiment": "float"}, "data_aggregation"),
        ({"repository": "str", "tests": ["str"], "bugs": ["str"]}, "software_lifecycle"),
        ({"headline": "str", "body": "str"}, "content_synthesis"),
        ({"colour": "str"}, "topic_research"),
    ],
)
def test_schema_field_names_choose_the_blueprint_when_the_objective_is_silent(
    schema: dict[str, Any], expected: str
) -> None:
    plan = planner().plan(spec("Acme", schema), compile_schema(schema), capabilities=ENGINE)
    assert plan.blueprint == expected


def test_the_objective_outweighs_the_schema() -> None:
    schema = {"tweets": ["str"]}
    objective = "Compare the strengths and weaknesses of Notion versus Coda"
    plan = planner().plan(spec(objective, schema), compile_schema(schema), capabilities=ENGINE)
    assert plan.blueprint == "competitive_analysis"


def test_fan_out_is_bounded_to_eight_entities() -> None:
    names = ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel", "India", "Juliet"]
    objective = "Compare " + ", ".join(names)
    plan = planner().plan(
        spec(objective, blueprint="competitive_analysis"), compile_schema({"a": "str"}), capabilities=ENGINE
    )
    rivals = [s for s in plan.steps if s.id.startswith("rival-")]
    assert [s.inputs["query"].split()[0] for s in rivals] == names[:8]
    assert [s.id for s in rivals][-1] == "rival-8"


def test_fan_out_shrinks_to_keep_a_lower_step_cap() -> None:
    objective, schema = REQUESTS["deep_market_intelligence"]
    objective += " versus Aethir, Gensyn and Nosana"
    plan = planner(max_steps=10).plan(spec(objective, schema), compile_schema(schema), capabilities=ENGINE)
    assert len(plan.steps) <= 10
    assert sorted(s.id for s in plan.steps if s.id.startswith("player-web")) == [
        "player-web-1",
        "player-web-2",
        "player-web-3",
    ]


def test_without_entities_fan_out_steps_vanish_and_dependents_still_plan() -> None:
    plan = planner().plan(
        spec("compare note taking apps", blueprint="competitive_analysis"),
        compile_schema({"a": "str"}),
        capabilities=ENGINE,
    )
    steps = by_id(plan)
    assert set(steps) == {"web", "social", "compare"}
    assert steps["compare"].depends_on == ["web", "social"] == steps["compare"].inputs["context_from"]
    assert steps["compare"].inputs["prompt"].startswith("Compare the main competitors for this request")


def test_a_missing_value_drops_its_key_and_a_default_fills_in() -> None:
    blueprint = Blueprint.model_validate(
        {
            "name": "t",
            "description": "d",
            "steps": [
                {
                    "id": "a",
                    "capability": "web_search",
                    "inputs": {
                        "query": "{query}",
                        "date_filter": "{date_filter}",
                        "count": "{count|12}",
                        "note": "top {count|5} since {start_date|ever}",
                    },
                }
            ],
        }
    )
    [step] = blueprint.instantiate(analyse("gpu clouds"), "gpu clouds").steps
    assert step.inputs == {"query": "gpu clouds", "count": 12, "note": "top 5 since ever"}


def test_a_required_step_without_a_route_names_the_step() -> None:
    with pytest.raises(PlanningError, match="no configured route provides") as caught:
        plan_for("software_lifecycle", {"social_data", "llm_inference"})
    assert caught.value.step_id == "docs"


@pytest.mark.parametrize(
    ("steps", "fragment"),
    [
        ([{"id": "a", "capability": "web_search", "depends_on": ["a"]}], "depends on itself"),
        (
            [
                {"id": "a", "capability": "web_search", "depends_on": ["b"]},
                {"id": "b", "capability": "web_search", "depends_on": ["a"]},
            ],
            "cycle",
        ),
        ([{"id": "a", "capability": "telepathy"}], "unknown capability"),
        (
            [
                {"id": "a", "capability": "web_search"},
                {"id": "b", "capability": "llm_inference", "inputs": {"context_from": ["a"]}},
            ],
            "context_from must list steps it depends on",
        ),
        ([{"id": "a", "capability": "web_search", "inputs": {"query": "{entity}"}}], "has no for_each"),
        ([{"id": "a", "capability": "web_search", "for_each": "entities"}], "not a fan-out template"),
    ],
)
def test_unsound_blueprints_are_refused_when_loaded(steps: list[dict[str, Any]], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Blueprint.model_validate({"name": "bad", "description": "d", "steps": steps})


@given(st.text(min_size=1, max_size=300).filter(lambda t: t.strip() != ""), st.sampled_from(sorted(REQUESTS)))
def test_any_objective_gives_a_valid_plan_from_any_blueprint(objective: str, name: str) -> None:
    plan = planner().plan(spec(objective, blueprint=name), compile_schema({"a": "str"}), capabilities=ENGINE)
    validate_plan(plan, ENGINE)
    assert len([s for s in plan.steps if s.id.startswith(("rival-", "player-web-"))]) <= 8
