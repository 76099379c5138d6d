"""Runs a plan: independent steps in parallel, each through its ranked candidates, with receipts.

Every call an adapter makes goes through a `StepCaller`, which enforces the job deadline, the call
bound and the budget, and records a `CallReceipt` (and the evidence behind it) whether the call
succeeds or not. A failed required step fails the job; a failed optional step is left out of the
evidence, and its error is named in the task's summary (its receipts stay in the proof).
"""

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import bittensor as bt

from orchestra.adapters.base import Adapter, AdapterError, Record
from orchestra.errors import OrchestraError
from orchestra.proofs import canonical_json, digest_bytes
from orchestra.routing import Candidate, Router, RouteSpec
from orchestra.transports.base import CallMeta, CallReply, TransportError
from orchestra.transports.dendrite import DendriteTransport, synapse_body
from orchestra.transports.http import HttpTransport
from protocol.models import (
    CallEvidence,
    CallReceipt,
    CallStatus,
    Constraints,
    ErrorCode,
    Plan,
    Step,
    TaskError,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_CALLS = 64
# Told about every attempted call as it is recorded (health measurement). Must not block: it runs on
# the event loop.
CallObserver = Callable[[RouteSpec, CallReceipt], None]


class CallBudgetExceeded(OrchestraError):
    code = ErrorCode.BUDGET_EXCEEDED


class JobDeadlineExceeded(OrchestraError):
    code = ErrorCode.DEADLINE_EXCEEDED


@dataclass
class StepOutcome:
    step: Step
    records: list[Record] = field(default_factory=list)
    error: TaskError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Execution:
    plan: Plan
    outcomes: dict[str, StepOutcome]
    receipts: list[CallReceipt]
    evidence: list[CallEvidence]
    cost: float

    def failed_required(self) -> StepOutcome | None:
        return next((o for o in self.outcomes.values() if o.step.required and not o.ok), None)

    def records(self) -> list[Record]:
        return [r for outcome in self.outcomes.values() for r in outcome.records]


class _Job:
    """Mutable state of one plan run, shared by its steps (all on one event loop)."""

    def __init__(
        self, deadline: float, constraints: Constraints, max_calls: int, observer: CallObserver | None
    ) -> None:
        self.observer = observer
        self.deadline = deadline
        self.max_cost = constraints.max_cost
        self.max_calls = max_calls
        self.receipts: list[CallReceipt] = []
        self.evidence: list[CallEvidence] = []
        self.cost = 0.0
        self.calls = 0

    def remaining(self) -> float:
        return self.deadline - asyncio.get_running_loop().time()


class StepCaller:
    """The `Caller` an adapter gets: bound to one step and one candidate, recording every call."""

    def __init__(
        self,
        job: _Job,
        step: Step,
        candidate: Candidate,
        attempts: list[int],
        dendrite: DendriteTransport | None,
        http: HttpTransport,
    ) -> None:
        self._job = job
        self._step = step
        self._candidate = candidate
        self._attempts = attempts
        self._dendrite = dendrite
        self._http = http

    @property
    def candidate(self) -> Candidate:
        return self._candidate

    def _admit(self) -> float:
        """Reserve one call under the job's limits; returns the timeout it may use."""
        route = self._candidate.route
        remaining = self._job.remaining()
        if remaining <= 0.05:
            raise JobDeadlineExceeded("the job deadline passed before the call", step_id=self._step.id)
        if self._job.calls >= self._job.max_calls:
            raise CallBudgetExceeded(
                f"the job reached its bound of {self._job.max_calls} calls", step_id=self._step.id
            )
        if self._job.max_cost is not None and self._job.cost + route.cost_per_call > self._job.max_cost:
            raise CallBudgetExceeded(
                f"another call to {route.name} would exceed max_cost {self._job.max_cost}",
                step_id=self._step.id,
            )
        self._job.calls += 1
        self._job.cost += route.cost_per_call
        self._attempts[0] += 1
        return min(route.timeout_s, remaining)

    def _answered(self, meta: CallMeta, request: Any, build_payload: Callable[[], Any]) -> CallReply:
        """Record a successful call, or an invalid one when its answer has no canonical JSON form."""
        try:
            payload = build_payload()
            response_bytes = canonical_json(payload)
        except Exception as exc:  # e.g. non-UTF-8 bytes in a synapse, NaN in a body: nothing to hash
            index = self._record(meta, CallStatus.INVALID_RESPONSE, request, None)
            raise AdapterError(
                f"{meta.operation} answer cannot be recorded: {exc}", receipt_index=index
            ) from None
        index = self._record(meta, CallStatus.OK, request, response_bytes)
        return CallReply(payload=payload, meta=meta, receipt_index=index)

    def _record(self, meta: CallMeta, status: CallStatus, request: Any, response_bytes: bytes | None) -> int:
        # Evidence is stored as a parse of the exact bytes that were hashed: adapters may go on to
        # mutate the payload objects they were handed (pydantic validators do), the evidence cannot.
        request_bytes = canonical_json(request)
        route = self._candidate.route
        receipt = CallReceipt(
            step_id=self._step.id,
            attempt=self._attempts[0],
            netuid=route.netuid,
            route=route.kind,
            operation=meta.operation,
            provider=meta.provider,
            request_digest=digest_bytes(request_bytes),
            response_digest=None if response_bytes is None else digest_bytes(response_bytes),
            started_ns=meta.started_ns,
            latency_ms=round(meta.latency_ms, 3),
            status=status,
            status_code=meta.status_code,
            cost=route.cost_per_call,
            dendrite=meta.proof,
        )
        self._job.receipts.append(receipt)
        if self._job.observer is not None:
            self._job.observer(route, receipt)
        self._job.evidence.append(
            CallEvidence(
                request=json.loads(request_bytes),
                response=None if response_bytes is None else json.loads(response_bytes),
            )
        )
        return len(self._job.receipts) - 1

    async def dendrite(self, synapse: bt.Synapse) -> CallReply:
        if self._dendrite is None or self._candidate.axon is None:
            raise AdapterError(f"route {self._candidate.route.name} has no axon to call")
        timeout = self._admit()
        request = synapse_body(synapse)
        try:
            answered, meta = await self._dendrite.call(
                self._candidate.axon, synapse, uid=self._candidate.provider.uid, timeout=timeout
            )
        except TransportError as exc:
            exc.receipt_index = self._record(exc.meta, exc.status, request, None)
            raise
        return self._answered(meta, request, lambda: synapse_body(answered))

    async def http(
        self, method: str, path: str, *, json_body: Any = None, headers: dict[str, str] | None = None
    ) -> CallReply:
        route = self._candidate.route
        if route.endpoint is None:
            raise AdapterError(f"route {route.name} has no endpoint")
        timeout = self._admit()
        # Headers carry credentials: they are sent, never recorded.
        request = {"method": method.upper(), "path": path, "body": json_body}
        try:
            reply = await self._http.request(
                method, f"{route.endpoint}{path}", json_body=json_body, headers=headers, timeout=timeout
            )
        except TransportError as exc:
            exc.receipt_index = self._record(exc.meta, exc.status, request, None)
            raise
        return self._answered(reply.meta, request, lambda: reply.payload)


class Executor:
    """Executes plans against producers. One instance serves many jobs concurrently."""

    def __init__(
        self,
        router: Router,
        adapters: Mapping[str, Adapter],
        *,
        http: HttpTransport,
        dendrite: DendriteTransport | None = None,
        max_calls: int = DEFAULT_MAX_CALLS,
        observer: CallObserver | None = None,
    ) -> None:
        self.observer = observer
        self.router = router
        self.adapters = dict(adapters)
        self.http = http
        self.dendrite = dendrite
        self.max_calls = max_calls

    async def run(self, plan: Plan, *, deadline: float, constraints: Constraints) -> Execution:
        """Run `plan` until `deadline` (event-loop time). Never raises for producer failures."""
        job = _Job(deadline, constraints, self.max_calls, self.observer)
        outcomes: dict[str, StepOutcome] = {}
        served: dict[str, Candidate] = {}
        for wave in plan.topological_waves():
            runnable = [s for s in wave if all(outcomes[d].ok for d in s.depends_on)]
            for step in wave:
                if step not in runnable:
                    outcomes[step.id] = StepOutcome(
                        step,
                        error=TaskError(
                            code=ErrorCode.PRODUCER_ERROR, message="a dependency failed", step_id=step.id
                        ),
                    )
            results = await asyncio.gather(*(self._run_step(job, s, constraints, served) for s in runnable))
            for outcome in results:
                outcomes[outcome.step.id] = outcome
            if any(o.step.required and not o.ok for o in results):
                break
        for step in plan.steps:
            outcomes.setdefault(
                step.id,
                StepOutcome(
                    step,
                    error=TaskError(
                        code=ErrorCode.PRODUCER_ERROR,
                        message="not run: a required step failed",
                        step_id=step.id,
                    ),
                ),
            )
        annotated = Plan(
            blueprint=plan.blueprint,
            steps=[
                s.model_copy(update={"netuid": served[s.id].route.netuid, "route": served[s.id].route.kind})
                if s.id in served
                else s
                for s in plan.steps
            ],
        )
        return Execution(annotated, outcomes, job.receipts, job.evidence, round(job.cost, 6))

    async def _run_step(
        self, job: _Job, step: Step, constraints: Constraints, served: dict[str, Candidate]
    ) -> StepOutcome:
        candidates = self.router.candidates(step, allowed_netuids=constraints.allowed_netuids)
        if not candidates:
            return StepOutcome(
                step,
                error=TaskError(
                    code=ErrorCode.NO_ROUTE, message=f"no route provides {step.capability!r}", step_id=step.id
                ),
            )
        attempts = [0]
        failures: list[Exception] = []
        empty: Candidate | None = None
        for candidate in candidates:
            adapter = self.adapters.get(candidate.route.adapter)
            if adapter is None or candidate.route.kind not in adapter.route_kinds:
                failures.append(AdapterError(f"route {candidate.route.name} names no usable adapter"))
                continue
            served[step.id] = candidate
            caller = StepCaller(job, step, candidate, attempts, self.dendrite, self.http)
            try:
                records = await adapter.run(step, caller)
            except (JobDeadlineExceeded, CallBudgetExceeded) as exc:
                return StepOutcome(step, error=exc.to_task_error())
            except (TransportError, AdapterError) as exc:
                log.info("step %s: %s via %s failed: %s", step.id, step.capability, candidate.route.name, exc)
                failures.append(exc)
                continue
            except Exception as exc:  # a producer must not be able to take the whole task down
                log.exception("step %s: adapter %s failed unexpectedly", step.id, adapter.name)
                failures.append(AdapterError(f"{candidate.route.name}: {type(exc).__name__}: {exc}"))
                continue
            if records:
                return StepOutcome(step, records=records)
            empty = candidate  # an empty answer is an answer, but another provider may hold data
        if empty is not None:
            served[step.id] = empty
            return StepOutcome(step)
        return StepOutcome(step, error=_failure(step, failures))


def _failure(step: Step, failures: list[Exception]) -> TaskError:
    unreachable = all(
        isinstance(f, TransportError) and f.status in (CallStatus.UNAVAILABLE, CallStatus.TIMEOUT)
        for f in failures
    )
    code = ErrorCode.PRODUCER_UNAVAILABLE if failures and unreachable else ErrorCode.PRODUCER_ERROR
    detail = "; ".join(str(f) for f in failures[-3:])
    return TaskError(
        code=code,
        message=f"step {step.id!r} ({step.capability}) failed on {len(failures)} candidate(s): {detail}"[
            :2_000
        ],
        step_id=step.id,
    )
