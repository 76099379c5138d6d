"""Plan validation: the rules every plan meets before the executor sees it, whoever wrote it.

`Plan` itself refuses duplicate ids, unknown dependencies and cycles. On top of that a plan must name
known capabilities, have a route for every required step, stay small (steps, depth, input bytes) and
take LLM context (`context_from`) only from steps it waits for. Each broken rule is an
`InvalidPlanError`: a `PlanningError` naming the rule and the step.
"""

from collections.abc import Collection, Sequence
from typing import Any, Literal

from ledger.vocabulary import Capability, is_capability
from orchestra.errors import CanonicalizationError, PlanningError
from orchestra.proofs import canonical_json
from protocol.models import MAX_STEPS, Plan

MAX_PLAN_DEPTH = 8
MAX_INPUT_BYTES = 32 * 1024

# The step-input conventions the adapters read (see the adapters and CONTRACTS): the inputs a step of
# that capability cannot do without (any one of the alternatives, with its JSON type), and the whole
# shape as shown to an LLM planner.
InputKind = Literal["text", "words", "objects"]
REQUIRED_INPUTS: dict[str, tuple[tuple[str, InputKind], ...]] = {
    Capability.WEB_SEARCH.value: (("query", "text"),),
    Capability.SOCIAL_SEARCH.value: (("query", "text"),),
    Capability.SOCIAL_DATA.value: (("keywords", "words"),),
    Capability.LLM_INFERENCE.value: (("prompt", "text"),),
    Capability.CHAIN_RPC.value: (("method", "text"), ("calls", "objects")),
}
INPUT_CONVENTIONS: dict[str, str] = {
    Capability.WEB_SEARCH.value: (
        '{"query": str (required), "count": int (10-200), "tools": ["web"|"hackernews"|"reddit"|'
        '"wikipedia"|"youtube"|"twitter"|"arxiv"], '
        '"date_filter": "PAST_24_HOURS"|"PAST_WEEK"|"PAST_MONTH"|"PAST_YEAR"|...}'
    ),
    Capability.SOCIAL_SEARCH.value: (
        '{"query": str (required), "count": int, "sources": ["x", "reddit"], "sort": "Top"|"Latest"}'
    ),
    Capability.SOCIAL_DATA.value: (
        '{"keywords": [str] (required), "sources": ["x", "reddit", "youtube"], "limit": int}'
    ),
    Capability.LLM_INFERENCE.value: (
        '{"prompt": str (required), "system": str, "max_tokens": int, "temperature": float, '
        '"context_from": [ids of steps this step depends on, whose results are given to the model]}'
    ),
    Capability.CHAIN_RPC.value: (
        '{"chain": "eth"|"tao"|..., "method": str (required unless "calls"), "params": list, '
        '"block": int|"latest", "calls": [{"method": str, "params": list}] (a batch instead of "method")}'
    ),
}
CONTEXT_FROM = "context_from"


class InvalidPlanError(PlanningError):
    """A plan that breaks one validation rule; `rule` names it (e.g. "cycle", "too_many_steps")."""

    def __init__(self, message: str, *, rule: str, step_id: str | None = None) -> None:
        super().__init__(message, step_id=step_id)
        self.rule = rule


def validate_plan(
    plan: Plan,
    capabilities: Collection[str],
    *,
    max_steps: int = MAX_STEPS,
    max_depth: int = MAX_PLAN_DEPTH,
    max_input_bytes: int = MAX_INPUT_BYTES,
    all_routable: bool = False,
) -> None:
    """Raise `InvalidPlanError` unless `plan` can be handed to the executor.

    `capabilities` are the routable ones: every required step needs one (optional steps may lack a
    route; the executor reports them skipped), or every step when `all_routable`.
    """
    limit = min(max_steps, MAX_STEPS)
    if len(plan.steps) > limit:
        raise InvalidPlanError(
            f"plan has {len(plan.steps)} steps; the limit is {limit}", rule="too_many_steps"
        )
    check_graph([(s.id, s.depends_on) for s in plan.steps])
    for step in plan.steps:
        if not is_capability(step.capability):
            raise InvalidPlanError(
                f"step {step.id!r} asks for unknown capability {step.capability!r}",
                rule="unknown_capability",
                step_id=step.id,
            )
        if (step.required or all_routable) and step.capability not in capabilities:
            raise InvalidPlanError(
                f"step {step.id!r} needs {step.capability!r}, which no configured route provides",
                rule="unroutable",
                step_id=step.id,
            )
        try:
            size = len(canonical_json(step.inputs))
        except (CanonicalizationError, RecursionError) as exc:
            raise InvalidPlanError(
                f"step {step.id!r} has inputs that are not plain JSON: {exc}",
                rule="inputs_not_json",
                step_id=step.id,
            ) from None
        if size > max_input_bytes:
            raise InvalidPlanError(
                f"step {step.id!r} has {size} bytes of inputs; the limit is {max_input_bytes}",
                rule="inputs_too_large",
                step_id=step.id,
            )
        _check_context_from(step.id, step.inputs, step.depends_on)
    depth = len(plan.topological_waves())
    if depth > max_depth:
        raise InvalidPlanError(
            f"plan is {depth} steps deep; the limit is {max_depth}",
            rule="too_deep",
            step_id=plan.steps[-1].id,
        )


def _check_context_from(step_id: str, inputs: dict[str, Any], depends_on: Sequence[str]) -> None:
    if CONTEXT_FROM not in inputs:
        return
    sources = inputs[CONTEXT_FROM]
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise InvalidPlanError(
            f"step {step_id!r}: context_from must be a list of step ids", rule="context_from", step_id=step_id
        )
    strangers = [s for s in sources if s not in depends_on]
    if strangers:
        raise InvalidPlanError(
            f"step {step_id!r} takes context from {strangers}, which it does not depend on",
            rule="context_from",
            step_id=step_id,
        )


def check_graph(steps: Sequence[tuple[str, Sequence[str]]]) -> None:
    """Unique ids, known dependencies, no step waiting for itself, no cycle. Raises `InvalidPlanError`."""
    ids = [step_id for step_id, _ in steps]
    seen: set[str] = set()
    for step_id in ids:
        if step_id in seen:
            raise InvalidPlanError(f"step id {step_id!r} is used twice", rule="duplicate_id", step_id=step_id)
        seen.add(step_id)
    for step_id, depends_on in steps:
        if step_id in depends_on:
            raise InvalidPlanError(
                f"step {step_id!r} depends on itself", rule="self_dependency", step_id=step_id
            )
        unknown = [d for d in depends_on if d not in seen]
        if unknown:
            raise InvalidPlanError(
                f"step {step_id!r} depends on unknown steps {unknown}",
                rule="unknown_dependency",
                step_id=step_id,
            )
    remaining = {step_id: set(depends_on) for step_id, depends_on in steps}
    while remaining:
        ready = [step_id for step_id, deps in remaining.items() if not deps & remaining.keys()]
        if not ready:
            stuck = sorted(remaining)
            raise InvalidPlanError(
                f"plan has a dependency cycle among {stuck}", rule="cycle", step_id=stuck[0]
            )
        for step_id in ready:
            del remaining[step_id]


def check_step_inputs(plan: Plan) -> None:
    """Every step carries an input its capability cannot do without (`REQUIRED_INPUTS`), non-empty."""
    for step in plan.steps:
        alternatives = REQUIRED_INPUTS.get(step.capability)
        if alternatives is None or any(_present(step.inputs.get(name), kind) for name, kind in alternatives):
            continue
        wanted = " or ".join(f"{name!r} ({_SHAPES[kind]})" for name, kind in alternatives)
        raise InvalidPlanError(
            f"step {step.id!r} ({step.capability}) needs {wanted}", rule="missing_input", step_id=step.id
        )


_SHAPES: dict[InputKind, str] = {
    "text": "non-empty text",
    "words": "a non-empty list of strings",
    "objects": "a non-empty list of objects",
}


def _present(value: Any, kind: InputKind) -> bool:
    if kind == "text":
        return isinstance(value, str) and bool(value.strip())
    item_type = str if kind == "words" else dict
    return isinstance(value, list) and bool(value) and all(isinstance(item, item_type) for item in value)
