"""The LLM planner with a scripted chat model: sound answers are used, anything else falls back."""

import asyncio
import datetime as dt
import json
from typing import Any

import pytest

from orchestra.errors import PlanningError
from orchestra.llm import ChatModel, LlmUnavailable
from orchestra.planner import BlueprintPlanner, LlmPlanner, Planner, load_blueprints
from orchestra.schema import CompiledSchema, compile_schema
from protocol.models import TaskSpec

ROUTABLE = {"web_search", "social_search", "llm_inference"}
SCHEMA_SPEC = {"competitors": [{"name": "str", "pricing": "dict"}]}
SCHEMA: CompiledSchema = compile_schema(SCHEMA_SPEC)
OBJECTIVE = "Research the H100 GPU cloud pricing of the top 3 competitors"

GOOD_PLAN: dict[str, Any] = {
    "steps": [
        {
            "id": "web",
            "capability": "web_search",
            "inputs": {"query": "H100 cloud pricing"},
            "depends_on": [],
            "required": True,
        },
        {
            "id": "x",
            "capability": "social_search",
            "inputs": {"query": "H100 price"},
            "depends_on": [],
            "required": False,
        },
        {
            "id": "table",
            "capability": "llm_inference",
            "inputs": {"prompt": "Tabulate prices", "context_from": ["web", "x"]},
            "depends_on": ["web", "x"],
            "required": False,
        },
    ]
}


class ScriptedChat:
    """Answers each `complete` with the next scripted reply (text, or an exception to raise)."""

    def __init__(self, *replies: str | BaseException) -> None:
        self.replies = list(replies)
        self.calls: list[dict[str, Any]] = []

    async def complete(
        self, messages: list[dict[str, str]], *, purpose: str, json_schema: dict[str, Any] | None = None
    ) -> str:
        self.calls.append({"messages": messages, "purpose": purpose, "json_schema": json_schema})
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply


class SilentChat:
    """Never answers."""

    async def complete(
        self, messages: list[dict[str, str]], *, purpose: str, json_schema: dict[str, Any] | None = None
    ) -> str:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def spec(objective: str = OBJECTIVE, **constraints: Any) -> TaskSpec:
    return TaskSpec.model_validate(
        {"task_id": "t-1", "objective": objective, "target_schema": SCHEMA_SPEC, "constraints": constraints}
    )


def llm_planner(chat: ChatModel, **kwargs: Any) -> LlmPlanner:
    fallback = BlueprintPlanner(load_blueprints(), today=lambda: dt.date(2026, 8, 15))
    return LlmPlanner(chat, fallback, **kwargs)


def with_step(**changes: Any) -> dict[str, Any]:
    plan: dict[str, Any] = json.loads(json.dumps(GOOD_PLAN))
    plan["steps"][2].update(changes)
    return plan


async def test_a_sound_answer_becomes_the_plan() -> None:
    chat = ScriptedChat(json.dumps(GOOD_PLAN))
    planner = llm_planner(chat)
    outcome = await planner.plan_with_reason(spec(), SCHEMA, capabilities=ROUTABLE)
    assert outcome.source == "llm" and outcome.fallback_reason is None
    assert outcome.plan.blueprint == "llm"
    assert [(s.id, s.capability, s.required) for s in outcome.plan.steps] == [
        ("web", "web_search", True),
        ("x", "social_search", False),
        ("table", "llm_inference", False),
    ]
    assert outcome.plan.steps[2].inputs["context_from"] == ["web", "x"]
    assert planner.last_fallback_reason is None


async def test_the_model_is_told_what_it_may_use_and_must_answer() -> None:
    chat = ScriptedChat(json.dumps(GOOD_PLAN))
    await llm_planner(chat, max_steps=7).plan(spec(), SCHEMA, capabilities=ROUTABLE | {"telepathy"})
    [call] = chat.calls
    system, user = (m["content"] for m in call["messages"])
    assert call["purpose"] == "plan"
    assert "- web_search: Search the web for a query" in system and '"query": str (required)' in system
    assert "- llm_inference: Complete a prompt" in system and "context_from" in system
    assert "social_data" not in system.split("Known plan shapes")[0] and "telepathy" not in system
    assert "- deep_market_intelligence:" in system and "- software_lifecycle:" in system
    schema = call["json_schema"]
    assert schema["properties"]["steps"]["maxItems"] == 7
    assert schema["properties"]["steps"]["items"]["properties"]["capability"]["enum"] == sorted(ROUTABLE)
    request = json.loads(user[user.index("{") :])
    assert request["objective"] == OBJECTIVE and request["target_schema"] == SCHEMA_SPEC
    assert request["blueprint_plan"]["blueprint"] == "market_research"
    assert request["facts"]["count"] == 3


@pytest.mark.parametrize(
    "answer",
    [
        "```json\n" + json.dumps(GOOD_PLAN) + "\n```",
        "Here is the plan:\n```\n" + json.dumps(GOOD_PLAN, indent=2) + "\n```\nGood luck.",
    ],
)
async def test_fenced_json_is_accepted(answer: str) -> None:
    outcome = await llm_planner(ScriptedChat(answer)).plan_with_reason(spec(), SCHEMA, capabilities=ROUTABLE)
    assert outcome.source == "llm" and len(outcome.plan.steps) == 3


def oversized() -> dict[str, Any]:
    return {
        "steps": [
            {
                "id": f"s{i}",
                "capability": "web_search",
                "inputs": {"query": "q"},
                "depends_on": [],
                "required": True,
            }
            for i in range(17)
        ]
    }


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (LlmUnavailable("no inference route answered"), "llm_unavailable: no inference route answered"),
        ("I think you should search the web.", "invalid_json"),
        ('{"steps": [{"id": "web", "capability": "web_search", "inputs": {"query": NaN}}]}', "invalid_json"),
        (json.dumps({"plan": GOOD_PLAN["steps"]}), "invalid_shape"),
        (json.dumps({"steps": []}), "invalid_shape"),
        (json.dumps(with_step(capability="telepathy")), "unknown_capability"),
        (json.dumps(with_step(capability="social_data", inputs={"keywords": ["h100"]})), "unroutable"),
        (json.dumps(with_step(depends_on=["table"])), "self_dependency"),
        (json.dumps(with_step(depends_on=["ghost"])), "unknown_dependency"),
        (
            json.dumps(
                {
                    "steps": [
                        {
                            "id": "a",
                            "capability": "web_search",
                            "inputs": {"query": "q"},
                            "depends_on": ["b"],
                        },
                        {
                            "id": "b",
                            "capability": "web_search",
                            "inputs": {"query": "q"},
                            "depends_on": ["a"],
                        },
                    ]
                }
            ),
            "cycle",
        ),
        (json.dumps(oversized()), "too_many_steps"),
        (json.dumps(with_step(inputs={"prompt": "p" * 20_000})), "inputs_too_large"),
        ("x" * 70_000, "oversize"),
        (json.dumps(with_step(inputs={"prompt": "p", "context_from": ["web", "elsewhere"]})), "context_from"),
        (json.dumps(with_step(inputs={"system": "no prompt"})), "missing_input"),
        (
            json.dumps({"steps": [{**s, "required": False} for s in GOOD_PLAN["steps"]]}),
            "no_required_step",
        ),
        (RuntimeError("socket closed"), "error: RuntimeError: socket closed"),
    ],
)
async def test_every_bad_answer_falls_back_to_the_blueprint_with_its_reason(
    reply: str | BaseException, reason: str
) -> None:
    planner = llm_planner(ScriptedChat(reply))
    outcome = await planner.plan_with_reason(spec(), SCHEMA, capabilities=ROUTABLE)
    assert outcome.source == "blueprint" and outcome.plan.blueprint == "market_research"
    assert outcome.fallback_reason is not None and outcome.fallback_reason.startswith(reason)
    assert planner.last_fallback_reason == outcome.fallback_reason
    assert (await llm_planner(ScriptedChat(reply)).plan(spec(), SCHEMA, capabilities=ROUTABLE)).blueprint == (
        "market_research"
    )


async def test_deeper_plans_than_the_bound_fall_back() -> None:
    steps = [
        {
            "id": f"s{i}",
            "capability": "web_search",
            "inputs": {"query": "q"},
            "depends_on": [f"s{i - 1}"] if i else [],
        }
        for i in range(3)
    ]
    planner = llm_planner(ScriptedChat(json.dumps({"steps": steps})), max_depth=2)
    outcome = await planner.plan_with_reason(spec(), SCHEMA, capabilities=ROUTABLE)
    assert outcome.source == "blueprint" and outcome.fallback_reason is not None
    assert outcome.fallback_reason.startswith("too_deep")


async def test_a_model_that_does_not_answer_in_time_falls_back() -> None:
    planner = llm_planner(SilentChat(), timeout_s=0.01)
    outcome = await planner.plan_with_reason(spec(), SCHEMA, capabilities=ROUTABLE)
    assert (
        outcome.source == "blueprint"
        and outcome.fallback_reason == "timeout: the model did not answer in time"
    )


async def test_a_requested_blueprint_is_used_without_asking_the_model() -> None:
    chat = ScriptedChat(json.dumps(GOOD_PLAN))
    outcome = await llm_planner(chat).plan_with_reason(
        spec(blueprint="topic_research"), SCHEMA, capabilities=ROUTABLE
    )
    assert outcome.plan.blueprint == "topic_research" and chat.calls == []
    assert outcome.fallback_reason == "the request names a blueprint"


async def test_the_model_can_plan_what_no_blueprint_can() -> None:
    answer = {"steps": [{"id": "ask", "capability": "llm_inference", "inputs": {"prompt": "Prices?"}}]}
    chat = ScriptedChat(json.dumps(answer))
    plan = await llm_planner(chat).plan(spec(), SCHEMA, capabilities={"llm_inference"})
    assert plan.blueprint == "llm" and [s.id for s in plan.steps] == ["ask"]
    assert "blueprint_plan" not in chat.calls[0]["messages"][1]["content"]


async def test_when_both_planners_fail_the_blueprint_error_is_raised() -> None:
    planner = llm_planner(ScriptedChat("not json"))
    with pytest.raises(PlanningError, match="no configured route provides") as caught:
        await planner.plan(spec(), SCHEMA, capabilities={"llm_inference"})
    assert caught.value.step_id == "web"
    assert planner.last_fallback_reason is not None and planner.last_fallback_reason.startswith(
        "invalid_json"
    )


async def test_both_planners_serve_the_planner_protocol() -> None:
    fallback = BlueprintPlanner(load_blueprints())
    planners: list[Planner] = [fallback, LlmPlanner(ScriptedChat(json.dumps(GOOD_PLAN)), fallback)]
    plans = [await p.aplan(spec(), SCHEMA, capabilities=ROUTABLE) for p in planners]
    assert [p.blueprint for p in plans] == ["market_research", "llm"]
    assert all(p.blueprints is fallback.blueprints for p in planners)
