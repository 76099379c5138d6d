"""Objective -> Plan (a DAG of capability steps).

Two planners share one interface, `Planner`: `BlueprintPlanner` fills a blueprint from the blueprint
library (no I/O), `LlmPlanner` asks a language model and falls back to the blueprint planner. Callers
that may hold either call `await planner.aplan(spec, schema, capabilities=...)`.
"""

from collections.abc import Collection, Mapping
from typing import Protocol

from orchestra.planner.analysis import ObjectiveFacts, analyse
from orchestra.planner.blueprints import Blueprint, BlueprintPlanner, load_blueprints
from orchestra.planner.llm import LlmPlanner, PlanOutcome, plan_json_schema
from orchestra.planner.validation import InvalidPlanError, check_step_inputs, validate_plan
from orchestra.schema import CompiledSchema
from protocol.models import Plan, TaskSpec


class Planner(Protocol):
    """What the miner service needs from a planner."""

    @property
    def blueprints(self) -> Mapping[str, Blueprint]:
        """The blueprint library (the miner checks at start-up that its routes serve one)."""
        ...

    async def aplan(self, spec: TaskSpec, schema: CompiledSchema, *, capabilities: Collection[str]) -> Plan:
        """A validated plan for `spec`; raises `PlanningError` when none can be made."""
        ...


__all__ = [
    "Blueprint",
    "BlueprintPlanner",
    "InvalidPlanError",
    "LlmPlanner",
    "ObjectiveFacts",
    "PlanOutcome",
    "Planner",
    "analyse",
    "check_step_inputs",
    "load_blueprints",
    "plan_json_schema",
    "validate_plan",
]
