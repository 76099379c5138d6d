"""Objective -> Plan (a DAG of capability steps)."""

from orchestra.planner.analysis import ObjectiveFacts, analyse
from orchestra.planner.blueprints import Blueprint, BlueprintPlanner, load_blueprints, validate_plan

__all__ = ["Blueprint", "BlueprintPlanner", "ObjectiveFacts", "analyse", "load_blueprints", "validate_plan"]
