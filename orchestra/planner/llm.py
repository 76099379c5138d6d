"""LLM planner: asks a language model (an `openai` route) for a plan, falls back to the blueprints.

The model gets the routable capabilities with their definitions and input conventions, the blueprint
library as examples, the facts analysis found, and the blueprint plan as a starting point; it must
answer with JSON in `plan_json_schema`'s shape. The answer is held to stricter bounds than a
blueprint (fewer steps, shallower, smaller inputs, routable capabilities only, the inputs each
capability needs). Anything wrong — no model, a timeout, prose, a cycle, an unknown capability — and
the blueprint plan is used instead, with the reason logged and returned.
"""

import asyncio
import json
import logging
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ledger.vocabulary import DEFINITIONS, Capability, is_capability
from orchestra.errors import PlanningError
from orchestra.llm import ChatModel, LlmUnavailable
from orchestra.planner.analysis import analyse
from orchestra.planner.blueprints import Blueprint, BlueprintPlanner
from orchestra.planner.validation import (
    INPUT_CONVENTIONS,
    InvalidPlanError,
    check_graph,
    check_step_inputs,
    validate_plan,
)
from orchestra.schema import CompiledSchema
from protocol.models import Plan, Step, TaskSpec

log = logging.getLogger(__name__)

LLM_MAX_STEPS = 16
LLM_MAX_DEPTH = 4
LLM_MAX_INPUT_BYTES = 16 * 1024
DEFAULT_TIMEOUT_S = 20.0
# Planning may spend at most this share of the task deadline waiting for the model.
DEADLINE_SHARE = 0.25
MAX_ANSWER_CHARS = 64 * 1024
LLM_PLAN_NAME = "llm"
STEP_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n?(.*?)```", re.S)


class _StepAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(pattern=STEP_ID_PATTERN)
    capability: str
    inputs: dict[str, Any]
    depends_on: list[str] = Field(default_factory=list)
    required: bool = True


class _PlanAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    steps: list[_StepAnswer] = Field(min_length=1)


@dataclass(frozen=True)
class PlanOutcome:
    """A plan, where it came from, and why the LLM's plan was not used (None when it was)."""

    plan: Plan
    source: Literal["llm", "blueprint"]
    fallback_reason: str | None = None


class LlmPlanner:
    """Plans with a chat model, bounded and validated; the blueprint planner is the fallback.

    A request naming a blueprint (`constraints.blueprint`) gets that blueprint without asking the model,
    and so does a request a `deterministic` blueprint answers (a block-pinned read).
    `last_fallback_reason` holds the reason of the most recent fallback (for logs and tests; concurrent
    callers should use `plan_with_reason`).
    """

    def __init__(
        self,
        chat: ChatModel,
        fallback: BlueprintPlanner,
        *,
        max_steps: int = LLM_MAX_STEPS,
        max_depth: int = LLM_MAX_DEPTH,
        max_input_bytes: int = LLM_MAX_INPUT_BYTES,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.chat = chat
        self.fallback = fallback
        self.max_steps = min(max_steps, fallback.max_steps)
        self.max_depth = max_depth
        self.max_input_bytes = max_input_bytes
        self.timeout_s = timeout_s
        self.last_fallback_reason: str | None = None

    @property
    def blueprints(self) -> dict[str, Blueprint]:
        return self.fallback.blueprints

    async def plan(self, spec: TaskSpec, schema: CompiledSchema, *, capabilities: Collection[str]) -> Plan:
        """A validated plan for `spec`: the model's if it is sound, else the blueprint's."""
        return (await self.plan_with_reason(spec, schema, capabilities=capabilities)).plan

    async def aplan(self, spec: TaskSpec, schema: CompiledSchema, *, capabilities: Collection[str]) -> Plan:
        """The `Planner` protocol's name for `plan`."""
        return await self.plan(spec, schema, capabilities=capabilities)

    async def plan_with_reason(
        self, spec: TaskSpec, schema: CompiledSchema, *, capabilities: Collection[str]
    ) -> PlanOutcome:
        """Like `plan`, also saying which planner's plan it is and why the model's was refused.

        Raises `PlanningError` only when neither planner produced a valid plan (the blueprint's error).
        """
        if spec.constraints.blueprint is not None:
            plan = self.fallback.plan(spec, schema, capabilities=capabilities)
            return self._fell_back(plan, "the request names a blueprint")
        suggested: Plan | None = None
        blueprint_error: PlanningError | None = None
        try:
            suggested = self.fallback.plan(spec, schema, capabilities=capabilities)
        except PlanningError as exc:
            blueprint_error = exc
        chosen = self.blueprints.get(suggested.blueprint or "") if suggested is not None else None
        if suggested is not None and chosen is not None and chosen.deterministic:
            return self._fell_back(suggested, f"blueprint {chosen.name} is fully determined by the objective")
        try:
            plan = await self._ask(spec, schema, set(capabilities), suggested)
        except Exception as exc:  # any failure of the model or its answer means: use the blueprint
            reason = _reason(exc)
            if suggested is None:
                assert blueprint_error is not None
                log.info("LLM plan refused (%s) and no blueprint fits: %s", reason, blueprint_error)
                self.last_fallback_reason = reason
                raise blueprint_error from exc
            return self._fell_back(suggested, reason)
        self.last_fallback_reason = None
        return PlanOutcome(plan, "llm")

    def _fell_back(self, plan: Plan, reason: str) -> PlanOutcome:
        log.info("using blueprint %s: %s", plan.blueprint, reason)
        self.last_fallback_reason = reason
        return PlanOutcome(plan, "blueprint", reason)

    async def _ask(
        self, spec: TaskSpec, schema: CompiledSchema, capabilities: set[str], suggested: Plan | None
    ) -> Plan:
        routable = sorted(c for c in capabilities if is_capability(c))
        if not routable:
            raise InvalidPlanError("no routable capability to plan with", rule="no_capabilities")
        messages = [
            {"role": "system", "content": self.system_prompt(routable)},
            {"role": "user", "content": self.user_prompt(spec, schema, suggested)},
        ]
        timeout = min(self.timeout_s, spec.constraints.deadline_ms / 1000 * DEADLINE_SHARE)
        answer = await asyncio.wait_for(
            self.chat.complete(
                messages, purpose="plan", json_schema=plan_json_schema(routable, self.max_steps)
            ),
            timeout=timeout,
        )
        return self.parse(answer, capabilities)

    def parse(self, answer: str, capabilities: Collection[str]) -> Plan:
        """The model's answer as a validated plan, or `InvalidPlanError` saying what is wrong with it."""
        data = _decode(answer)
        try:
            shaped = _PlanAnswer.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidPlanError(
                f"answer is not a plan: {where}: {first['msg']}", rule="invalid_shape"
            ) from None
        if len(shaped.steps) > self.max_steps:
            raise InvalidPlanError(
                f"plan has {len(shaped.steps)} steps; the limit is {self.max_steps}", rule="too_many_steps"
            )
        check_graph([(s.id, s.depends_on) for s in shaped.steps])
        try:
            plan = Plan(
                blueprint=LLM_PLAN_NAME,
                steps=[
                    Step(
                        id=s.id,
                        capability=s.capability,
                        inputs=s.inputs,
                        depends_on=list(dict.fromkeys(s.depends_on)),
                        required=s.required,
                    )
                    for s in shaped.steps
                ],
            )
        except ValidationError as exc:
            raise InvalidPlanError(
                f"answer is not a valid plan: {exc.errors()[0]['msg']}", rule="invalid_plan"
            ) from None
        validate_plan(
            plan,
            capabilities,
            max_steps=self.max_steps,
            max_depth=self.max_depth,
            max_input_bytes=self.max_input_bytes,
            all_routable=True,
        )
        check_step_inputs(plan)
        if not any(step.required for step in plan.steps):
            raise InvalidPlanError("plan has no required step", rule="no_required_step")
        return plan

    def system_prompt(self, routable: list[str]) -> str:
        """Instructions: the capabilities we can route, their inputs, the rules, the blueprint examples."""
        lines = [
            "You plan work for Orchestra, which answers an objective by calling Bittensor producer subnets.",
            "A plan is a DAG of steps; each step asks for one capability. Steps without dependencies run in "
            "parallel; a step runs after every step in its depends_on.",
            "Answer with one JSON object only, no prose, in this shape:",
            '{"steps": [{"id": "web", "capability": "web_search", "inputs": {...}, "depends_on": [], '
            '"required": true}]}',
            "",
            "Capabilities you may use (no others):",
        ]
        for name in routable:
            definition = DEFINITIONS[Capability(name)]
            inputs = INPUT_CONVENTIONS.get(name, '{"prompt": str describing the task}')
            lines.append(f"- {name}: {definition} Inputs: {inputs}")
        lines += [
            "",
            "Rules:",
            f"- At most {self.max_steps} steps and at most {self.max_depth} steps deep; step ids match "
            f"{STEP_ID_PATTERN} and are unique; no step depends on itself; no cycles.",
            "- An llm_inference step that needs other steps' results lists them in inputs.context_from, "
            "and every id there must also be in its depends_on.",
            "- Mark a step required=false when the answer is still useful without it; at least one step "
            "must be required. Prefer one search per distinct subject over one huge query.",
            f"- Keep each step's inputs under {self.max_input_bytes} bytes of JSON.",
            "",
            "Known plan shapes (blueprints) you may follow or adapt:",
        ]
        for name, blueprint in sorted(self.blueprints.items()):
            lines.append(f"- {name}: {blueprint.description}")
        return "\n".join(lines)

    def user_prompt(self, spec: TaskSpec, schema: CompiledSchema, suggested: Plan | None) -> str:
        """The objective, target schema, what analysis found, and the blueprint plan to improve on."""
        facts = analyse(spec.objective, schema.root, today=self.fallback.today())
        request: dict[str, Any] = {
            "objective": spec.objective,
            "target_schema": spec.target_schema,
            "facts": {
                "entities": list(facts.entities),
                "keywords": list(facts.keywords),
                "count": facts.wanted_count,
                "start_date": facts.start_date,
                "end_date": facts.end_date,
            },
        }
        if suggested is not None:
            request["blueprint_plan"] = {
                "blueprint": suggested.blueprint,
                "steps": [
                    s.model_dump(
                        mode="json", include={"id", "capability", "inputs", "depends_on", "required"}
                    )
                    for s in suggested.steps
                ],
            }
        return (
            "Plan the work for this request. The result must fill the target schema. "
            "A blueprint plan is included when one fits: keep it if it is right, improve it if not.\n"
            + json.dumps(request, ensure_ascii=False)
        )


def plan_json_schema(capabilities: Collection[str], max_steps: int) -> dict[str, Any]:
    """The JSON Schema of the answer the model must give (for structured-output APIs)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["steps"],
        "properties": {
            "steps": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_steps,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id", "capability", "inputs", "depends_on", "required"],
                    "properties": {
                        "id": {"type": "string", "pattern": STEP_ID_PATTERN},
                        "capability": {"type": "string", "enum": sorted(capabilities)},
                        "inputs": {"type": "object"},
                        "depends_on": {"type": "array", "items": {"type": "string"}},
                        "required": {"type": "boolean"},
                    },
                },
            }
        },
    }


def _decode(answer: str) -> Any:
    """JSON from the answer: the whole text, or the first ``` fenced block. NaN and Infinity are refused."""
    if len(answer) > MAX_ANSWER_CHARS:
        raise InvalidPlanError(
            f"answer has {len(answer)} characters; the limit is {MAX_ANSWER_CHARS}", rule="oversize"
        )
    fenced = _FENCE.search(answer)
    text = fenced.group(1) if fenced else answer
    try:
        return json.loads(text.strip(), parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidPlanError(f"answer is not JSON: {exc}", rule="invalid_json") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _reason(exc: BaseException) -> str:
    """A one-line, stable-prefixed reason for a fallback: `<kind>: <detail>`."""
    if isinstance(exc, InvalidPlanError):
        return f"{exc.rule}: {exc.message}"
    if isinstance(exc, LlmUnavailable):
        return f"llm_unavailable: {exc.message}"
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout: the model did not answer in time"
    if isinstance(exc, PlanningError):
        return f"invalid_plan: {exc.message}"
    log.warning("LLM planner failed unexpectedly", exc_info=exc)
    return f"error: {type(exc).__name__}: {exc}"
