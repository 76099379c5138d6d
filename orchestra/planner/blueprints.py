"""Blueprints: reusable plans, stored as JSON data files, filled in from an objective.

A blueprint is a DAG of capability steps whose inputs are templates. A string input that is exactly
a placeholder takes the placeholder's value (so `"{keywords}"` becomes a list); placeholders inside a
longer string are substituted as text. Placeholders: objective, keywords, entities, count, years.
"""

import json
import re
from collections.abc import Iterable
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ledger.vocabulary import is_capability
from orchestra.errors import PlanningError
from orchestra.planner.analysis import ObjectiveFacts, analyse, content_tokens
from orchestra.schema import CompiledSchema
from protocol.models import Plan, Step, TaskSpec

_PLACEHOLDER = re.compile(r"\{(objective|keywords|entities|count|years)\}")


class BlueprintStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    capability: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list)
    required: bool = True


class Blueprint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    description: str
    keywords: tuple[str, ...] = ()
    steps: tuple[BlueprintStep, ...] = Field(min_length=1)

    def instantiate(self, facts: ObjectiveFacts, objective: str) -> Plan:
        values: dict[str, Any] = {
            "objective": objective,
            "keywords": list(facts.keywords),
            "entities": list(facts.entities),
            "count": facts.count,
            "years": list(facts.years),
        }
        steps = [
            Step(
                id=s.id,
                capability=s.capability,
                inputs=_fill(s.inputs, values),
                depends_on=list(s.depends_on),
                required=s.required,
            )
            for s in self.steps
        ]
        return Plan(blueprint=self.name, steps=steps)


def _fill(template: Any, values: dict[str, Any]) -> Any:
    if isinstance(template, dict):
        return {key: _fill(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [_fill(item, values) for item in template]
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole:
            return values[whole.group(1)]
        return _PLACEHOLDER.sub(lambda m: _as_text(values[m.group(1)]), template)
    return template


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value)


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
    """Picks the blueprint whose keywords best match the objective and fills it in."""

    def __init__(self, blueprints: dict[str, Blueprint], *, default: str = "topic_research") -> None:
        if default not in blueprints:
            raise PlanningError(f"default blueprint {default!r} is not in the library")
        self.blueprints = blueprints
        self.default = default

    def choose(self, objective: str, requested: str | None = None) -> Blueprint:
        if requested is not None:
            if requested not in self.blueprints:
                known = ", ".join(sorted(self.blueprints))
                raise PlanningError(f"unknown blueprint {requested!r}; known blueprints: {known}")
            return self.blueprints[requested]
        words = set(content_tokens(objective)) | {w.lower() for w in objective.split()}
        scored = [(len(words & set(b.keywords)), name) for name, b in self.blueprints.items()]
        best_score, best_name = max(scored, key=lambda item: (item[0], item[1] == self.default))
        return self.blueprints[best_name if best_score > 0 else self.default]

    def plan(self, spec: TaskSpec, schema: CompiledSchema, *, capabilities: set[str]) -> Plan:
        """A validated plan for `spec`. Raises `PlanningError` when no blueprint fits what we can route."""
        facts = analyse(spec.objective, schema.root)
        blueprint = self.choose(spec.objective, spec.constraints.blueprint)
        try:
            plan = blueprint.instantiate(facts, spec.objective)
        except ValidationError as exc:
            raise PlanningError(f"blueprint {blueprint.name!r} produced an invalid plan: {exc}") from exc
        validate_plan(plan, capabilities)
        return plan


def validate_plan(plan: Plan, capabilities: set[str]) -> None:
    """Check what `Plan` cannot check by itself: known and routable capabilities."""
    for step in plan.steps:
        if not is_capability(step.capability):
            raise PlanningError(
                f"step {step.id!r} asks for unknown capability {step.capability!r}", step_id=step.id
            )
        if step.required and step.capability not in capabilities:
            raise PlanningError(
                f"step {step.id!r} needs {step.capability!r}, which no configured route provides",
                step_id=step.id,
            )
