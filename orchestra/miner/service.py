"""The miner's work, independent of bittensor: request -> plan -> execute -> synthesise -> proof.

`OrchestrationService.handle` never raises for bad input or failed producers: every outcome is a
`TaskResult` carrying either a schema-valid result or a typed error, plus the receipts of every call
made on the way and the proof root that locks them together.
"""

import asyncio
import logging
import time
from collections import Counter
from typing import Any

from pydantic import ValidationError

from orchestra.errors import (
    DeadlineExceededError,
    InvalidRequestError,
    ObjectiveTooLongError,
    OrchestraError,
    SchemaError,
)
from orchestra.executor import Execution, Executor, ProgressSink, RouteChat
from orchestra.planner import BlueprintPlanner, LlmPlanner, Planner, analyse
from orchestra.proofs import canonical_json, compute_proof_root
from orchestra.schema import compile_schema
from orchestra.synthesis import AsyncRuleSynthesizer, LlmSynthesizer, RuleSynthesizer, Synthesis, Synthesizer
from protocol.models import (
    MAX_OBJECTIVE_CHARS,
    CallEvidence,
    CallStatus,
    TaskError,
    TaskResult,
    TaskSpec,
    Timings,
)

log = logging.getLogger(__name__)

DEFAULT_EVIDENCE_BYTES = 4 * 1024 * 1024
# Share of the deadline spent on producer calls; the rest is kept for synthesis and the trip back.
EXECUTION_SHARE = 0.8


def parse_request(task_id: Any, objective: Any, target_schema: Any, constraints: Any) -> TaskSpec:
    """Build the strict `TaskSpec` from wire fields, raising a typed error that names the problem."""
    if isinstance(objective, str) and len(objective) > MAX_OBJECTIVE_CHARS:
        raise ObjectiveTooLongError(
            f"objective has {len(objective)} characters; the limit is {MAX_OBJECTIVE_CHARS}"
        )
    if not isinstance(target_schema, dict):
        raise SchemaError("target_schema must be an object (compact form or JSON Schema)")
    try:
        return TaskSpec.model_validate(
            {
                "task_id": task_id,
                "objective": objective,
                "target_schema": target_schema,
                "constraints": constraints if constraints is not None else {},
            }
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise InvalidRequestError(f"malformed task: {problems}") from None


class OrchestrationService:
    """Plans, executes and synthesises tasks. Share one instance across concurrent requests.

    When the router has an `openai` route for `llm_inference`, each task may ask it for its plan
    (`llm_planner`) and for its synthesis (`llm_synthesis`); both fall back to the blueprint and rule
    paths when the model's answer does not hold up. The model calls are receipted in the task's
    proof like every producer call.
    """

    def __init__(
        self,
        planner: BlueprintPlanner,
        executor: Executor,
        synthesizer: RuleSynthesizer | None = None,
        *,
        max_evidence_bytes: int = DEFAULT_EVIDENCE_BYTES,
        llm_planner: bool = True,
        llm_synthesis: bool = True,
    ) -> None:
        self.planner = planner
        self.executor = executor
        self.synthesizer = synthesizer or RuleSynthesizer()
        self.max_evidence_bytes = max_evidence_bytes
        self.llm_planner = llm_planner
        self.llm_synthesis = llm_synthesis

    async def handle(self, spec: TaskSpec, *, events: ProgressSink | None = None) -> TaskResult:
        """Run one task; `events` receives progress (steps started, retried, hedged, finished...)."""
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        started_loop = loop.time()
        deadline = started_loop + spec.constraints.deadline_ms / 1000 * EXECUTION_SHARE
        job = self.executor.open_job(
            deadline=deadline, constraints=spec.constraints, task_id=spec.task_id, events=events
        )
        chat = RouteChat(self.executor, job)
        llm = (self.llm_planner or self.llm_synthesis) and chat.available()
        planner: Planner = LlmPlanner(chat, self.planner) if llm and self.llm_planner else self.planner
        try:
            schema = compile_schema(spec.target_schema)
            plan = await planner.aplan(spec, schema, capabilities=self.executor.router.capabilities())
        except OrchestraError as exc:
            return _failure(spec, exc.to_task_error(), started)
        planned = time.perf_counter()

        execution = await self.executor.run(plan, job=job)
        executed = time.perf_counter()
        failed = execution.failed_required()
        if failed is not None and failed.error is not None:
            return self._finish(spec, execution, None, failed.error, (started, planned, executed))
        budget = max(0.1, started_loop + spec.constraints.deadline_ms / 1000 - loop.time())
        synthesizer: Synthesizer = (
            LlmSynthesizer(chat, self.synthesizer)
            if llm and self.llm_synthesis
            else AsyncRuleSynthesizer(self.synthesizer)
        )
        facts = analyse(spec.objective, schema.root)
        try:
            synthesis = await asyncio.wait_for(
                synthesizer.synthesise(schema, facts, execution.records()), timeout=budget
            )
        except asyncio.TimeoutError:
            late = DeadlineExceededError("synthesis did not finish before the task deadline").to_task_error()
            return self._finish(spec, execution, None, late, (started, planned, executed))
        except OrchestraError as exc:
            return self._finish(spec, execution, None, exc.to_task_error(), (started, planned, executed))
        return self._finish(spec, execution, synthesis, None, (started, planned, executed))

    def _finish(
        self,
        spec: TaskSpec,
        execution: Execution,
        synthesis: Synthesis | None,
        error: TaskError | None,
        marks: tuple[float, float, float],
    ) -> TaskResult:
        started, planned, executed = marks
        result = synthesis.result if synthesis else None
        receipts = execution.receipts
        finished = time.perf_counter()
        return TaskResult(
            task_id=spec.task_id,
            result=result,
            summary=_summary(execution, synthesis) if synthesis else None,
            plan=execution.plan,
            receipts=receipts,
            evidence=self._bounded(execution.evidence),
            provenance=synthesis.provenance if synthesis else {},
            proof_root=compute_proof_root(spec, receipts, result),
            cost=execution.cost,
            timings=Timings(
                plan_ms=round((planned - started) * 1000, 3),
                execute_ms=round((executed - planned) * 1000, 3),
                synthesize_ms=round((finished - executed) * 1000, 3),
                total_ms=round((finished - started) * 1000, 3),
            ),
            error=error,
        )

    def _bounded(self, evidence: list[CallEvidence]) -> list[CallEvidence | None]:
        """Evidence up to the byte budget; what does not fit is withheld (null), never truncated."""
        out: list[CallEvidence | None] = []
        budget = self.max_evidence_bytes
        for item in evidence:
            size = len(canonical_json(item))
            if size <= budget:
                out.append(item)
                budget -= size
            else:
                out.append(None)
        return out

    async def aclose(self) -> None:
        await self.executor.http.aclose()
        if self.executor.dendrite is not None:
            await self.executor.dendrite.aclose()


def _failure(spec: TaskSpec, error: TaskError, started: float) -> TaskResult:
    total = round((time.perf_counter() - started) * 1000, 3)
    return TaskResult(task_id=spec.task_id, error=error, timings=Timings(total_ms=total, plan_ms=total))


def _summary(execution: Execution, synthesis: Synthesis) -> str:
    calls = execution.receipts
    ok = sum(1 for r in calls if r.status is CallStatus.OK)
    sources = Counter(record.source for record in execution.records())
    source_text = ", ".join(f"{count} {source}" for source, count in sources.most_common())
    netuids = ", ".join(f"SN{n}" for n in sorted({r.netuid for r in calls if r.netuid is not None}))
    skipped = [
        f" Optional step {o.step.id!r} ({o.step.capability}) failed: {o.error.code.value}."
        for o in execution.outcomes.values()
        if o.error is not None and not o.step.required
    ]
    return (
        f"Blueprint {execution.plan.blueprint}: {len(execution.plan.steps)} steps, {len(calls)} calls "
        f"({ok} ok) to {netuids or 'no subnet'}; {sum(sources.values())} records ({source_text}); "
        f"{synthesis.filled} of {synthesis.total} schema fields filled from the evidence." + "".join(skipped)
    )
