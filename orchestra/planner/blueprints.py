"""Blueprints: reusable plans, stored as JSON data files, filled in from an objective.

A blueprint is a DAG of capability steps whose inputs are templates. A string input that is exactly
a placeholder takes the placeholder's value (so `"{keywords}"` becomes a list, and a key whose value is
a missing placeholder is left out); placeholders inside a longer string are substituted as text.
`{name|default}` gives a default for a missing value. Placeholders: objective, keywords, entities,
entity (in a `for_each` step), count, years, start_date, end_date, date_filter, query, and the account
read's chain, address and block. A blueprint using those three has no use for a guess: when the
objective does not name all of them unambiguously, planning fails with a `ChainQueryError` saying which.

A step with `"for_each": "entities"` is a fan-out template: it becomes one step per entity of the
objective (at most `max_fan_out`), with ids `<id>-1..n`; a step depending on it (or taking its
context) depends on every expansion. With no entities the template contributes no step.
"""

import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Collection, Iterable
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ledger.vocabulary import is_capability
from orchestra.errors import PlanningError
from orchestra.planner.analysis import ObjectiveFacts, analyse, chain_query, tokens, utc_today
from orchestra.planner.validation import (
    CONTEXT_FROM,
    MAX_PLAN_DEPTH,
    InvalidPlanError,
    check_graph,
    validate_plan,
)
from orchestra.schema import CompiledSchema
from protocol.models import MAX_STEPS, Plan, Step, TaskSpec

log = logging.getLogger(__name__)

PLACEHOLDERS = (
    "objective",
    "keywords",
    "entities",
    "entity",
    "count",
    "years",
    "start_date",
    "end_date",
    "date_filter",
    "query",
    "chain",
    "address",
    "block",
)
CHAIN_PLACEHOLDERS = frozenset({"chain", "address", "block"})
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")(?:\|([^{}]*))?\}")
MAX_FAN_OUT = 8
# Objective words count twice as much as schema field names: the objective says what to do, the
# schema mostly what to return.
OBJECTIVE_WEIGHT, SCHEMA_WEIGHT = 2, 1


class BlueprintStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,100}$")
    capability: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list)
    required: bool = True
    for_each: Literal["entities"] | None = None


class Blueprint(BaseModel):
    """A plan template. Loading checks it is a DAG of known capabilities whose context it waits for.

    A `deterministic` blueprint is fully determined by the objective (a block-pinned read): a language
    model has nothing to add to its plan, only ways to unpin it, so the LLM planner keeps it as is.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    description: str
    keywords: tuple[str, ...] = ()
    deterministic: bool = False
    steps: tuple[BlueprintStep, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _is_a_sound_template(self) -> "Blueprint":
        try:
            check_graph([(s.id, s.depends_on) for s in self.steps])
        except InvalidPlanError as exc:  # pydantic reports ValueErrors as validation errors
            raise ValueError(exc.message) from None
        for step in self.steps:
            if not is_capability(step.capability):
                raise ValueError(f"step {step.id!r} names unknown capability {step.capability!r}")
            sources = step.inputs.get(CONTEXT_FROM, [])
            if not isinstance(sources, list) or any(s not in step.depends_on for s in sources):
                raise ValueError(f"step {step.id!r}: context_from must list steps it depends on")
            if step.for_each is None and "{entity" in json.dumps(step.inputs):
                raise ValueError(f"step {step.id!r} uses {{entity}} but has no for_each")
        if all(s.for_each is not None for s in self.steps):
            raise ValueError("a blueprint needs at least one step that is not a fan-out template")
        return self

    @property
    def placeholders(self) -> frozenset[str]:
        """The placeholders the step templates use."""
        return frozenset(
            m.group(1) for m in _PLACEHOLDER.finditer(json.dumps([s.inputs for s in self.steps]))
        )

    def instantiate(self, facts: ObjectiveFacts, objective: str, *, max_fan_out: int = MAX_FAN_OUT) -> Plan:
        """Fill the templates from `facts`, expanding fan-out steps over at most `max_fan_out` entities.

        Raises `ChainQueryError` when the templates read a chain, address or block the objective does not
        name unambiguously."""
        query = facts.chain_query
        if query is None and self.placeholders & CHAIN_PLACEHOLDERS:
            query = chain_query(objective)  # raises, naming the missing or ambiguous piece
        values: dict[str, Any] = {
            "objective": objective,
            "keywords": list(facts.keywords),
            "entities": list(facts.entities),
            "count": facts.wanted_count,
            "years": list(facts.years),
            "start_date": facts.start_date,
            "end_date": facts.end_date,
            "date_filter": facts.date_filter,
            "query": facts.query or objective[:200],
            "chain": query.chain if query else None,
            "address": query.address if query else None,
            "block": query.block if query else None,
        }
        fan_out = list(facts.entities[: max(0, min(max_fan_out, MAX_FAN_OUT))])
        expanded: dict[str, list[str]] = {
            s.id: ([f"{s.id}-{i}" for i in range(1, len(fan_out) + 1)] if s.for_each else [s.id])
            for s in self.steps
        }
        steps: list[Step] = []
        for template in self.steps:
            depends_on = [e for dep in template.depends_on for e in expanded[dep]]
            inputs = dict(template.inputs)
            if CONTEXT_FROM in inputs:
                inputs[CONTEXT_FROM] = [e for source in inputs[CONTEXT_FROM] for e in expanded[source]]
            instances = (
                list(zip(expanded[template.id], fan_out, strict=True))
                if template.for_each
                else [(template.id, None)]
            )
            for step_id, entity in instances:
                steps.append(
                    Step(
                        id=step_id,
                        capability=template.capability,
                        inputs=_fill(inputs, {**values, "entity": entity}),
                        depends_on=list(depends_on),
                        required=template.required,
                    )
                )
        return Plan(blueprint=self.name, steps=steps)

    def fan_out_room(self, max_steps: int) -> int:
        """How many entities the fan-out steps may expand over so the plan keeps to `max_steps`."""
        templates = sum(1 for s in self.steps if s.for_each)
        if not templates:
            return MAX_FAN_OUT
        fixed = len(self.steps) - templates
        return max(0, min(MAX_FAN_OUT, (max_steps - fixed) // templates))


_MISSING = object()


def _fill(template: Any, values: dict[str, Any]) -> Any:
    if isinstance(template, dict):
        filled = {key: _fill(value, values) for key, value in template.items()}
        return {key: value for key, value in filled.items() if value is not _MISSING}
    if isinstance(template, list):
        return [item for item in (_fill(item, values) for item in template) if item is not _MISSING]
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole:
            value = values[whole.group(1)]
            if value is None:
                return _MISSING if whole.group(2) is None else _default(whole.group(2))
            return value
        text = _PLACEHOLDER.sub(lambda m: _as_text(m.group(1), values[m.group(1)], m.group(2)), template)
        return re.sub(r"[ \t]{2,}", " ", text).strip()
    return template


def _default(raw: str) -> Any:
    """A default written in a template: JSON when it parses (`{count|5}` is the number 5), else text."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _as_text(name: str, value: Any, default: str | None) -> str:
    if value is None or value == []:
        return default or ""
    if isinstance(value, list):
        # Entity names may hold spaces ("Google Cloud"), so they are listed with commas.
        return (", " if name == "entities" else " ").join(str(v) for v in value)
    return str(value)


def load_blueprints(extra: Iterable[Blueprint] = ()) -> dict[str, Blueprint]:
    """The bundled blueprint library (orchestra/planner/blueprints/*.json), plus `extra`."""
    library: dict[str, Blueprint] = {}
    for entry in sorted(
        resources.files("orchestra.planner").joinpath("blueprints").iterdir(), key=lambda p: p.name
    ):
        if entry.name.endswith(".json"):
            try:
                blueprint = Blueprint.model_validate(json.loads(entry.read_text(encoding="utf-8")))
            except (ValueError, ValidationError) as exc:
                raise PlanningError(f"blueprint file {entry.name} is invalid: {exc}") from exc
            library[blueprint.name] = blueprint
    for blueprint in extra:
        library[blueprint.name] = blueprint
    return library


class BlueprintPlanner:
    """Picks the blueprint whose keywords best match the objective and the schema, and fills it in.

    `max_steps` caps plans below the protocol's `MAX_STEPS` (fan-out shrinks to fit); `today` is the
    clock relative dates ("last 30 days") are measured from.
    """

    def __init__(
        self,
        blueprints: dict[str, Blueprint],
        *,
        default: str = "topic_research",
        max_steps: int = MAX_STEPS,
        max_fan_out: int = MAX_FAN_OUT,
        max_depth: int = MAX_PLAN_DEPTH,
        today: Callable[[], dt.date] = utc_today,
    ) -> None:
        if default not in blueprints:
            raise PlanningError(f"default blueprint {default!r} is not in the library")
        self.blueprints = blueprints
        self.default = default
        self.max_steps = min(max_steps, MAX_STEPS)
        self.max_fan_out = min(max_fan_out, MAX_FAN_OUT)
        self.max_depth = max_depth
        self.today = today

    def choose(
        self, objective: str, requested: str | None = None, *, schema_terms: Collection[str] = ()
    ) -> Blueprint:
        """The requested blueprint, else the best keyword match (objective words weigh double), else the
        default."""
        if requested is not None:
            if requested not in self.blueprints:
                known = ", ".join(sorted(self.blueprints))
                raise PlanningError(f"unknown blueprint {requested!r}; known blueprints: {known}")
            return self.blueprints[requested]
        said = set(tokens(objective))
        fields = set(schema_terms)

        def score(name: str) -> int:
            keywords = set(self.blueprints[name].keywords)
            return OBJECTIVE_WEIGHT * len(said & keywords) + SCHEMA_WEIGHT * len(fields & keywords)

        # Ties go to the default, then to a blueprint that plans any objective (a deterministic one fails
        # without its chain, account and block), then to the first name alphabetically: reproducible.
        best = max(
            sorted(self.blueprints),
            key=lambda name: (score(name), name == self.default, not self.blueprints[name].deterministic),
        )
        return self.blueprints[best if score(best) > 0 else self.default]

    def plan(self, spec: TaskSpec, schema: CompiledSchema, *, capabilities: Collection[str]) -> Plan:
        """A validated plan for `spec`. Raises `PlanningError` when no blueprint fits what we can route."""
        facts = analyse(spec.objective, schema.root, today=self.today())
        blueprint = self.choose(spec.objective, spec.constraints.blueprint, schema_terms=facts.schema_terms)
        try:
            plan = blueprint.instantiate(
                facts,
                spec.objective,
                max_fan_out=min(self.max_fan_out, blueprint.fan_out_room(self.max_steps)),
            )
        except ValidationError as exc:
            raise PlanningError(f"blueprint {blueprint.name!r} produced an invalid plan: {exc}") from exc
        validate_plan(plan, capabilities, max_steps=self.max_steps, max_depth=self.max_depth)
        return plan

    async def aplan(self, spec: TaskSpec, schema: CompiledSchema, *, capabilities: Collection[str]) -> Plan:
        """`plan` for callers that hold any `Planner`: blueprint planning does no I/O."""
        return self.plan(spec, schema, capabilities=capabilities)


__all__ = [
    "CHAIN_PLACEHOLDERS",
    "MAX_FAN_OUT",
    "PLACEHOLDERS",
    "Blueprint",
    "BlueprintPlanner",
    "BlueprintStep",
    "InvalidPlanError",
    "load_blueprints",
    "validate_plan",
]
