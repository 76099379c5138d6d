"""Runs a plan: independent steps in parallel, each through its ranked candidates, with receipts.

Every call an adapter makes goes through a `StepCaller`, which enforces the job deadline, the call
bound and the budget, picks the transport by the route's kind, and records a `CallReceipt` (and the
evidence behind it) whether the call succeeds, fails or is cancelled.

Per step the executor walks the router's fallback list: a candidate that fails moves the step to
the next one; a candidate that fails with a transient error (5xx, unreachable, rate limited,
timeout) is retried, after backoff, when every candidate has had its turn and time is left (two
more rounds by default). Refusals (auth, bad request) and unusable answers are not retried: asking
again would get the same answer. When a provider's measured p95 latency passes without an answer, a
hedged request goes to the next candidate and the first useful answer wins. A failed required step
fails the job with a named error; a failed optional step is reported and left out of the evidence
(its receipts stay in the proof). Successful steps are cached by task and input digest, so a
retried job does not pay twice. Callers that want to stream progress pass `events`: step started,
retried, hedged, fell back, finished or failed.
"""

import asyncio
import dataclasses
import json
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import SplitResult, urlsplit

import bittensor as bt

from orchestra.adapters.base import Adapter, AdapterError, Record
from orchestra.adapters.inference import CHAT_PATH, InferenceAdapter, answer_text, chat_request
from orchestra.addresses import is_local_host
from orchestra.errors import OrchestraError
from orchestra.llm import LlmUnavailable
from orchestra.proofs import canonical_json, digest, digest_bytes
from orchestra.routing import Candidate, ProviderHealth, Router, RouteSpec, provider_key
from orchestra.transports.base import CallMeta, CallReply, TransportError
from orchestra.transports.dendrite import DendriteTransport, synapse_body
from orchestra.transports.http import HttpTransport
from orchestra.transports.openai import OpenAITransport
from orchestra.transports.signed_http import SignedHttpTransport, UnsignableRoute
from protocol.models import (
    CallEvidence,
    CallReceipt,
    CallStatus,
    Constraints,
    ErrorCode,
    Plan,
    RouteKind,
    Step,
    TaskError,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_CALLS = 64
MAX_CONTEXT_ITEMS = 40
MAX_CONTEXT_CHARS = 1_500
# Told about every attempted call as it is recorded (health measurement). Must not block: it runs on
# the event loop.
CallObserver = Callable[[RouteSpec, CallReceipt], None]


class CallBudgetExceeded(OrchestraError):
    code = ErrorCode.BUDGET_EXCEEDED


class JobDeadlineExceeded(OrchestraError):
    code = ErrorCode.DEADLINE_EXCEEDED


class RouteTooExpensive(AdapterError):
    """This candidate's price would exceed `max_cost`; a cheaper candidate may still serve the step."""


class EventKind(str, Enum):
    STEP_STARTED = "step_started"
    STEP_FINISHED = "step_finished"
    STEP_FAILED = "step_failed"
    FALLBACK = "fallback"
    RETRY = "retry"
    HEDGE = "hedge"
    CACHE_HIT = "cache_hit"


@dataclass(frozen=True)
class ProgressEvent:
    """Something that happened to a step, for callers that stream progress."""

    kind: EventKind
    step_id: str
    capability: str
    elapsed_ms: float
    route: str | None = None
    provider: str | None = None
    detail: str | None = None


ProgressSink = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class RetryPolicy:
    """Extra passes over the candidates that failed transiently, with exponential backoff."""

    rounds: int = 2
    base_delay_s: float = 0.1
    max_delay_s: float = 2.0
    jitter: float = 0.5

    def delay(self, round_: int, retry_after_s: float | None = None) -> float:
        backoff = min(self.max_delay_s, self.base_delay_s * 2.0**round_)
        backoff *= 1.0 + self.jitter * random.random()
        return max(backoff, retry_after_s or 0.0)


@dataclass(frozen=True)
class HedgePolicy:
    """When to send a second request: after the provider's measured p95, within these bounds."""

    enabled: bool = True
    min_delay_s: float = 0.05
    max_delay_s: float = 10.0
    min_samples: int = 8


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


class Job:
    """Mutable state of one task's calls, shared by its steps (all on one event loop).

    Open one with `Executor.open_job` when calls happen before the plan runs (an LLM planner);
    `Executor.run` opens one itself otherwise.
    """

    def __init__(
        self,
        deadline: float,
        constraints: Constraints,
        max_calls: int,
        *,
        task_id: str | None = None,
        observer: CallObserver | None = None,
        events: ProgressSink | None = None,
    ) -> None:
        self.deadline = deadline
        self.constraints = constraints
        self.max_cost = constraints.max_cost
        self.max_calls = max_calls
        self.task_id = task_id
        self.observer = observer
        self.events = events
        self.receipts: list[CallReceipt] = []
        self.evidence: list[CallEvidence] = []
        self.cost = 0.0
        self.calls = 0
        self.attempts: dict[str, int] = {}
        self._started = time.perf_counter()

    def remaining(self) -> float:
        return self.deadline - asyncio.get_running_loop().time()

    def next_attempt(self, step_id: str) -> int:
        self.attempts[step_id] = self.attempts.get(step_id, 0) + 1
        return self.attempts[step_id]

    def emit(
        self,
        kind: EventKind,
        step: Step,
        candidate: Candidate | None = None,
        detail: str | None = None,
    ) -> None:
        if self.events is None:
            return
        provider = None
        if candidate is not None:
            provider = candidate.provider.host or candidate.provider.hotkey
        event = ProgressEvent(
            kind=kind,
            step_id=step.id,
            capability=step.capability,
            elapsed_ms=round((time.perf_counter() - self._started) * 1000, 3),
            route=candidate.route.name if candidate is not None else None,
            provider=provider,
            detail=detail,
        )
        try:
            self.events(event)
        except Exception:  # a broken listener must not break the job
            log.exception("progress listener failed on %s", kind.value)


class StepCaller:
    """The `Caller` an adapter gets: bound to one step and one candidate, recording every call."""

    def __init__(self, executor: "Executor", job: Job, step: Step, candidate: Candidate) -> None:
        self._executor = executor
        self._job = job
        self._step = step
        self._candidate = candidate

    @property
    def candidate(self) -> Candidate:
        return self._candidate

    def _admit(self) -> tuple[float, int]:
        """Reserve one call under the job's limits; returns its timeout and attempt number."""
        route = self._candidate.route
        remaining = self._job.remaining()
        if remaining <= 0.05:
            raise JobDeadlineExceeded("the job deadline passed before the call", step_id=self._step.id)
        if self._job.calls >= self._job.max_calls:
            raise CallBudgetExceeded(
                f"the job reached its bound of {self._job.max_calls} calls", step_id=self._step.id
            )
        if self._job.max_cost is not None and self._job.cost + route.cost_per_call > self._job.max_cost:
            raise RouteTooExpensive(
                f"another call to {route.name} would exceed max_cost {self._job.max_cost}"
            )
        self._job.calls += 1
        self._job.cost += route.cost_per_call
        return min(route.timeout_s, remaining), self._job.next_attempt(self._step.id)

    def _answered(
        self, meta: CallMeta, attempt: int, request: Any, build_payload: Callable[[], Any]
    ) -> CallReply:
        """Record a successful call, or an invalid one when its answer has no canonical JSON form."""
        try:
            payload = build_payload()
            response_bytes = canonical_json(payload)
        except Exception as exc:  # e.g. non-UTF-8 bytes in a synapse, NaN in a body: nothing to hash
            index = self._record(meta, attempt, CallStatus.INVALID_RESPONSE, request, None)
            raise AdapterError(
                f"{meta.operation} answer cannot be recorded: {exc}", receipt_index=index
            ) from None
        index = self._record(meta, attempt, CallStatus.OK, request, response_bytes)
        return CallReply(payload=payload, meta=meta, receipt_index=index)

    def _record(
        self, meta: CallMeta, attempt: int, status: CallStatus, request: Any, response_bytes: bytes | None
    ) -> int:
        # Evidence is stored as a parse of the exact bytes that were hashed: adapters may go on to
        # mutate the payload objects they were handed (pydantic validators do), the evidence cannot.
        request_bytes = canonical_json(request)
        route = self._candidate.route
        receipt = CallReceipt(
            step_id=self._step.id,
            attempt=attempt,
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

    async def _call(
        self,
        request: Any,
        operation: str,
        send: Callable[[float], Awaitable[tuple[CallMeta, Callable[[], Any]]]],
    ) -> CallReply:
        """Admit one call, make it with `send(timeout)` and record its receipt whatever happens.

        `send` returns the call's meta and a function building the payload to record. A call
        cancelled in flight (a hedge that lost) was still sent: it gets a `cancelled` receipt.
        """
        timeout, attempt = self._admit()
        started_ns, started = time.time_ns(), time.perf_counter()
        try:
            meta, payload = await send(timeout)
        except TransportError as exc:
            exc.receipt_index = self._record(exc.meta, attempt, exc.status, request, None)
            raise
        except asyncio.CancelledError:
            cancelled = CallMeta(
                provider=self._candidate.provider,
                operation=operation,
                started_ns=started_ns,
                latency_ms=(time.perf_counter() - started) * 1000,
            )
            self._record(cancelled, attempt, CallStatus.CANCELLED, request, None)
            raise
        return self._answered(meta, attempt, request, payload)

    async def dendrite(self, synapse: bt.Synapse) -> CallReply:
        dendrite = self._executor.dendrite
        axon = self._candidate.axon
        if dendrite is None or axon is None:
            raise AdapterError(f"route {self._candidate.route.name} has no axon to call")

        async def send(timeout: float) -> tuple[CallMeta, Callable[[], Any]]:
            answered, meta = await dendrite.call(
                axon, synapse, uid=self._candidate.provider.uid, timeout=timeout
            )
            return meta, lambda: synapse_body(answered)

        return await self._call(synapse_body(synapse), type(synapse).__name__, send)

    async def http(
        self, method: str, path: str, *, json_body: Any = None, headers: dict[str, str] | None = None
    ) -> CallReply:
        route = self._candidate.route
        if route.endpoint is None:
            raise AdapterError(f"route {route.name} has no endpoint")
        if route.kind is RouteKind.SIGNED_HTTP and self._executor.signed is None:
            raise AdapterError(f"route {route.name} needs a hotkey to sign with; this executor has none")

        async def send(timeout: float) -> tuple[CallMeta, Callable[[], Any]]:
            reply = await self._executor.send(route, method, path, json_body, headers, timeout)
            return reply.meta, lambda: reply.payload

        # Headers carry credentials: they are sent, never recorded.
        request = {"method": method.upper(), "path": path, "body": json_body}
        return await self._call(request, f"{method.upper()} {path}", send)

    async def fetch(self, url: str) -> CallReply:
        parts = urlsplit(url)
        _check_fetchable(parts, self._candidate.route)

        async def send(timeout: float) -> tuple[CallMeta, Callable[[], Any]]:
            reply = await self._executor.http.request("GET", url, timeout=timeout)
            return reply.meta, lambda: reply.payload

        # The query of a presigned URL is a credential: the record keeps where, not the signature.
        request = {"method": "GET", "url": f"{parts.scheme}://{parts.netloc}{parts.path}"}
        return await self._call(request, f"GET {parts.path or '/'}", send)


def _check_fetchable(parts: SplitResult, route: RouteSpec) -> None:
    """Refuse URLs a producer should not be able to make a miner call (SSRF): see `Caller.fetch`.

    Plain http and non-public addresses are allowed only for the route's own host when the route
    itself is on loopback (the devnet); everything else must be https to a public host.
    """
    route_host = _normal_host(urlsplit(route.endpoint).hostname) if route.endpoint else None
    host = _normal_host(parts.hostname)
    if not host or parts.username or parts.password:
        raise AdapterError(f"refusing to fetch {parts.scheme}://{parts.netloc}: no plain host")
    own_local_host = route_host is not None and is_local_host(route_host) and host == route_host
    if parts.scheme != "https" and not (parts.scheme == "http" and own_local_host):
        raise AdapterError(f"refusing to fetch a {parts.scheme or 'schemeless'} URL; only https is fetched")
    if is_local_host(host) and not own_local_host:
        raise AdapterError(f"refusing to fetch {host}: a private or loopback address")


def _normal_host(host: str | None) -> str | None:
    return host.rstrip(".").lower().strip("[]") if host else None


@dataclass(frozen=True)
class _CachedStep:
    candidate: Candidate
    records: tuple[Record, ...]
    receipts: tuple[CallReceipt, ...]
    evidence: tuple[CallEvidence, ...]
    stored: float


class StepCache:
    """Successful step results by task id and input digest, with the receipts that paid for them.

    Keyed by task as well as inputs: reusing one task's calls in another task would present old
    receipts as new ones, which a validator rightly treats as replay.
    """

    def __init__(self, *, max_entries: int = 512, ttl_s: float = 900.0) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._items: OrderedDict[str, _CachedStep] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(task_id: str, step: Step, constraints: Constraints) -> str:
        return digest(
            {
                "task": task_id,
                "step": step.id,
                "capability": step.capability,
                "netuid": step.netuid,
                "inputs": step.inputs,
                "allowed": constraints.allowed_netuids,
            }
        )

    def get(self, key: str) -> _CachedStep | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if time.monotonic() - item.stored > self.ttl_s:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item

    def put(self, key: str, item: _CachedStep) -> None:
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class _Attempt:
    """One candidate's run of a step, as a task the step can race against a hedge."""

    def __init__(self, candidate: Candidate, task: "asyncio.Task[list[Record]]") -> None:
        self.candidate = candidate
        self.task = task


async def send_on_route(
    route: RouteSpec,
    method: str,
    path: str,
    *,
    json_body: Any,
    headers: dict[str, str] | None,
    timeout: float,
    http: HttpTransport,
    openai: OpenAITransport,
    signed: SignedHttpTransport | None,
) -> CallReply:
    """One HTTP-family call to `route` (`path` appended to its endpoint) through its kind's transport.

    `openai` routes send the route's key as a bearer token, `signed-http` routes sign with `signed`'s
    hotkey, plain `http` routes send `headers` as given. The executor and the validator's re-query spot
    checks both send through here, so a re-query is authenticated exactly like the call it repeats.
    Raises `TransportError`, or `AdapterError` when nothing could be sent (no signer for the route).
    """
    url = f"{route.endpoint}{path}"
    if route.kind is RouteKind.OPENAI:
        key = route.api_key.get_secret_value() if route.api_key is not None else None
        return await openai.request(
            method, url, json_body=json_body, headers=headers, timeout=timeout, api_key=key
        )
    if route.kind is RouteKind.SIGNED_HTTP:
        if signed is None:
            raise AdapterError(f"route {route.name} needs a hotkey to sign with; none was given")
        try:
            return await signed.request(
                method,
                url,
                json_body=json_body,
                headers=headers,
                timeout=timeout,
                scheme=route.auth,
                receiver=route.receiver,
            )
        except UnsignableRoute as exc:  # nothing was sent: a configuration problem, not a call
            raise AdapterError(f"route {route.name}: {exc}") from None
    return await http.request(method, url, json_body=json_body, headers=headers, timeout=timeout)


class Executor:
    """Executes plans against producers. One instance serves many jobs concurrently."""

    def __init__(
        self,
        router: Router,
        adapters: Mapping[str, Adapter],
        *,
        http: HttpTransport,
        dendrite: DendriteTransport | None = None,
        openai: OpenAITransport | None = None,
        signed: SignedHttpTransport | None = None,
        max_calls: int = DEFAULT_MAX_CALLS,
        observer: CallObserver | None = None,
        retry: RetryPolicy | None = None,
        hedge: HedgePolicy | None = None,
        cache: StepCache | None = None,
        step_timeout_s: float | None = None,
    ) -> None:
        self.observer = observer
        self.router = router
        self.adapters = dict(adapters)
        self.http = http
        self.dendrite = dendrite
        self.openai = openai if openai is not None else OpenAITransport(http)
        self.signed = signed
        self.max_calls = max_calls
        self.retry = retry or RetryPolicy()
        self.hedge = hedge or HedgePolicy()
        self.cache = cache if cache is not None else StepCache()
        self.step_timeout_s = step_timeout_s
        if router.health is None:
            router.health = ProviderHealth()
        self.health: ProviderHealth = router.health

    def open_job(
        self,
        *,
        deadline: float,
        constraints: Constraints,
        task_id: str | None = None,
        events: ProgressSink | None = None,
    ) -> Job:
        return Job(
            deadline,
            constraints,
            self.max_calls,
            task_id=task_id,
            observer=self.observer,
            events=events,
        )

    async def send(
        self,
        route: RouteSpec,
        method: str,
        path: str,
        json_body: Any,
        headers: dict[str, str] | None,
        timeout: float,
    ) -> CallReply:
        """One HTTP-family call through the transport of the route's kind."""
        return await send_on_route(
            route,
            method,
            path,
            json_body=json_body,
            headers=headers,
            timeout=timeout,
            http=self.http,
            openai=self.openai,
            signed=self.signed,
        )

    async def run(
        self,
        plan: Plan,
        *,
        deadline: float | None = None,
        constraints: Constraints | None = None,
        job: Job | None = None,
        task_id: str | None = None,
        events: ProgressSink | None = None,
    ) -> Execution:
        """Run `plan` until `deadline` (event-loop time), or within an opened `job`.

        Never raises for producer failures: they end up in the outcomes.
        """
        if job is None:
            if deadline is None or constraints is None:
                raise ValueError("run() needs a job, or a deadline and constraints")
            job = self.open_job(deadline=deadline, constraints=constraints, task_id=task_id, events=events)
        outcomes: dict[str, StepOutcome] = {}
        served: dict[str, Candidate] = {}
        for wave in plan.topological_waves():
            # A failed optional dependency leaves its dependents to run on what the others found.
            runnable = [
                s for s in wave if all(outcomes[d].ok or not outcomes[d].step.required for d in s.depends_on)
            ]
            runnable_ids = {s.id for s in runnable}
            for step in wave:
                if step.id not in runnable_ids:
                    outcomes[step.id] = StepOutcome(
                        step,
                        error=TaskError(
                            code=ErrorCode.PRODUCER_ERROR, message="a dependency failed", step_id=step.id
                        ),
                    )
            if len(runnable) == 1:  # a chain: no gather, one task fewer per step
                results = [await self._run_step(job, _with_context(runnable[0], outcomes), served)]
            else:
                results = await asyncio.gather(
                    *(self._run_step(job, _with_context(s, outcomes), served) for s in runnable)
                )
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
        # model_copy: the plan was validated when it was made; re-validating it costs per job.
        annotated = plan.model_copy(
            update={
                "steps": [
                    s.model_copy(
                        update={"netuid": served[s.id].route.netuid, "route": served[s.id].route.kind}
                    )
                    if s.id in served
                    else s
                    for s in plan.steps
                ]
            }
        )
        return Execution(annotated, outcomes, job.receipts, job.evidence, round(job.cost, 6))

    async def _run_step(self, job: Job, step: Step, served: dict[str, Candidate]) -> StepOutcome:
        job.emit(EventKind.STEP_STARTED, step)
        cache_key = StepCache.key(job.task_id, step, job.constraints) if job.task_id is not None else None
        cached = self.cache.get(cache_key) if cache_key is not None else None
        if cached is not None and job.calls + len(cached.receipts) <= job.max_calls:
            served[step.id] = cached.candidate
            outcome = StepOutcome(step, records=_replay(job, step, cached))
            job.emit(EventKind.CACHE_HIT, step, cached.candidate)
            job.emit(EventKind.STEP_FINISHED, step, cached.candidate, f"{len(outcome.records)} records")
            return outcome
        first_receipt = len(job.receipts)
        won: list[StepOutcome] = []  # set by _race before its clean-up, which a timeout may interrupt
        remaining = job.remaining()
        by_step = self.step_timeout_s is not None and self.step_timeout_s < remaining
        limit = self.step_timeout_s if by_step and self.step_timeout_s is not None else remaining
        try:
            # Calls bound themselves by the deadline, but an adapter may also wait between calls
            # (polling a job API): the step as a whole must not outlive its time either.
            step_deadline = asyncio.get_running_loop().time() + limit
            outcome = await asyncio.wait_for(
                self._attempt_candidates(job, step, served, step_deadline, won), timeout=max(0.0, limit)
            )
        except asyncio.TimeoutError:
            what = "its step timeout" if by_step else "the job deadline"
            outcome = StepOutcome(
                step,
                error=TaskError(
                    code=ErrorCode.DEADLINE_EXCEEDED,
                    message=f"step {step.id!r} ({step.capability}) ran past {what} ({limit:.1f}s)",
                    step_id=step.id,
                ),
            )
            if won:  # an answer arrived; only the losers' clean-up ran out of time
                outcome = won[0]
        if outcome.ok:
            job.emit(EventKind.STEP_FINISHED, step, served.get(step.id), f"{len(outcome.records)} records")
            if cache_key is not None and outcome.records and step.id in served:
                self.cache.put(cache_key, _snapshot(job, step, served[step.id], outcome, first_receipt))
        else:
            assert outcome.error is not None
            job.emit(EventKind.STEP_FAILED, step, served.get(step.id), outcome.error.code.value)
        return outcome

    async def _attempt_candidates(
        self,
        job: Job,
        step: Step,
        served: dict[str, Candidate],
        step_deadline: float,
        won: list[StepOutcome],
    ) -> StepOutcome:
        candidates = self.router.candidates(step, allowed_netuids=job.constraints.allowed_netuids)
        if not candidates:
            return StepOutcome(
                step,
                error=TaskError(
                    code=ErrorCode.NO_ROUTE, message=f"no route provides {step.capability!r}", step_id=step.id
                ),
            )
        failures: list[Exception] = []
        queue: list[Candidate] = []
        for candidate in candidates:
            adapter = self.adapters.get(candidate.route.adapter)
            if adapter is None or candidate.route.kind not in adapter.route_kinds:
                failures.append(AdapterError(f"route {candidate.route.name} names no usable adapter"))
            else:
                queue.append(candidate)
        empty: Candidate | None = None
        for round_ in range(self.retry.rounds + 1):
            transient: list[Candidate] = []
            outcome, empty_now = await self._race(job, step, queue, failures, transient, served, won)
            if outcome is not None:
                return outcome
            empty = empty or empty_now
            if empty is not None or not transient or round_ == self.retry.rounds:
                break
            retry_after = max((getattr(f, "retry_after_s", None) or 0.0 for f in failures[-3:]), default=0.0)
            wait = self.retry.delay(round_, retry_after)
            left = min(job.remaining(), step_deadline - asyncio.get_running_loop().time())
            if left - wait < 0.25:
                break
            job.emit(EventKind.RETRY, step, transient[0], f"{len(transient)} candidate(s) after {wait:.2f}s")
            await asyncio.sleep(wait)
            queue = transient
        if empty is not None:
            served[step.id] = empty
            return StepOutcome(step)
        return StepOutcome(step, error=_failure(step, failures))

    async def _race(
        self,
        job: Job,
        step: Step,
        queue: list[Candidate],
        failures: list[Exception],
        transient: list[Candidate],
        served: dict[str, Candidate],
        won: list[StepOutcome],
    ) -> tuple[StepOutcome | None, Candidate | None]:
        """One pass over `queue`: the first candidate to give records wins; hedges after the p95.

        Returns the step's outcome once decided (success, or a deadline/budget stop once no attempt
        is left in flight), otherwise None and the candidate that answered with no records, if any.
        """
        pending = list(queue)
        running: list[_Attempt] = []
        empty: Candidate | None = None
        stop: OrchestraError | None = None
        try:
            while pending or running:
                if not running:
                    if stop is not None:
                        break
                    running.append(self._start(job, step, pending.pop(0)))
                wait_s = self._hedge_delay(running[-1].candidate) if pending and len(running) == 1 else None
                done, _ = await asyncio.wait(
                    [a.task for a in running], timeout=wait_s, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    hedge = pending.pop(0)
                    job.emit(
                        EventKind.HEDGE, step, hedge, f"no answer from {running[0].candidate.route.name}"
                    )
                    running.append(self._start(job, step, hedge))
                    continue
                for attempt in [a for a in running if a.task in done]:
                    running.remove(attempt)
                    candidate = attempt.candidate
                    exc = attempt.task.exception()
                    if exc is None:
                        records = attempt.task.result()
                        if records:
                            served[step.id] = candidate
                            won.append(StepOutcome(step, records=records))
                            return won[0], None
                        empty = empty or candidate
                        continue
                    if isinstance(exc, (JobDeadlineExceeded, CallBudgetExceeded)):
                        # No new call may start, but one still in flight may yet answer.
                        stop = stop or exc
                        pending.clear()
                        continue
                    failures.append(exc if isinstance(exc, Exception) else AdapterError(repr(exc)))
                    if isinstance(exc, TransportError) and exc.transient:
                        transient.append(candidate)
                    if pending or running:
                        job.emit(EventKind.FALLBACK, step, candidate, str(exc)[:200])
            if stop is not None:
                return StepOutcome(step, error=stop.to_task_error()), None
            return None, empty
        finally:
            for attempt in running:
                attempt.task.cancel()
            if running:
                await asyncio.gather(*(a.task for a in running), return_exceptions=True)

    def _start(self, job: Job, step: Step, candidate: Candidate) -> _Attempt:
        adapter = self.adapters[candidate.route.adapter]
        key = provider_key(candidate)
        self.health.begin(key)

        async def attempt() -> list[Record]:
            caller = StepCaller(self, job, step, candidate)
            started = time.perf_counter()
            try:
                records = await adapter.run(step, caller)
            except asyncio.CancelledError:
                self.health.release(key)
                raise
            except (JobDeadlineExceeded, CallBudgetExceeded):
                self.health.release(key)
                raise
            except (TransportError, AdapterError) as exc:
                log.info("step %s: %s via %s failed: %s", step.id, step.capability, candidate.route.name, exc)
                # A provider failed if it answered badly or not at all; an error raised before any call
                # (our budget, our inputs) says nothing about it.
                if isinstance(exc, TransportError) or exc.receipt_index is not None:
                    self.health.record(key, ok=False)
                else:
                    self.health.release(key)
                raise
            except Exception as exc:  # a producer must not be able to take the whole task down
                log.exception("step %s: adapter %s failed unexpectedly", step.id, adapter.name)
                self.health.record(key, ok=False)
                raise AdapterError(f"{candidate.route.name}: {type(exc).__name__}: {exc}") from exc
            self.health.record(key, ok=True, latency_ms=(time.perf_counter() - started) * 1000)
            return records

        return _Attempt(candidate, asyncio.ensure_future(attempt()))

    def _hedge_delay(self, candidate: Candidate) -> float | None:
        if not self.hedge.enabled:
            return None
        p95 = self.health.latency_p95(provider_key(candidate), min_samples=self.hedge.min_samples)
        if p95 is None:
            return None
        return min(self.hedge.max_delay_s, max(self.hedge.min_delay_s, p95 / 1000))


class RouteChat:
    """A `ChatModel` over the job's `openai` routes for `llm_inference`, receipted like any call.

    Tries up to `max_candidates` routes in the router's order; each call is recorded in the job
    under the pseudo-step `<purpose>.llm-<n>`, so a plan or a synthesis made by a model is
    hash-locked to the calls that made it, like the producer calls.
    """

    def __init__(
        self,
        executor: Executor,
        job: Job,
        *,
        max_tokens: int = 2_048,
        temperature: float = 0.0,
        seed: int = 1234,
        max_candidates: int = 2,
    ) -> None:
        self.executor = executor
        self.job = job
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self.max_candidates = max_candidates
        self.calls = 0

    def available(self) -> bool:
        """Whether any `openai` route offers `llm_inference` to this job."""
        return bool(self._candidates(_probe_step()))

    def _candidates(self, step: Step) -> list[Candidate]:
        candidates = self.executor.router.candidates(
            step, allowed_netuids=self.job.constraints.allowed_netuids
        )
        usable = []
        for candidate in candidates:
            adapter = self.executor.adapters.get(candidate.route.adapter)
            if candidate.route.kind is RouteKind.OPENAI and isinstance(adapter, InferenceAdapter):
                usable.append(candidate)
        return usable[: self.max_candidates]

    async def complete(
        self, messages: list[dict[str, str]], *, purpose: str, json_schema: dict[str, Any] | None = None
    ) -> str:
        self.calls += 1
        step = Step(id=f"{purpose}.llm-{self.calls}"[:120], capability="llm_inference")
        problems: list[str] = []
        for candidate in self._candidates(step):
            adapter = self.executor.adapters[candidate.route.adapter]
            assert isinstance(adapter, InferenceAdapter)
            body = chat_request(
                messages,
                model=adapter.default_model,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                seed=self.seed,
                json_schema=json_schema,
                # Our schemas use nullable unions and open maps, which strict mode refuses; every answer
                # is validated by its caller anyway.
                strict=False,
            )
            caller = StepCaller(self.executor, self.job, step, candidate)
            key = provider_key(candidate)
            try:
                reply = await caller.http("POST", CHAT_PATH, json_body=body)
                text = answer_text(reply.payload, receipt_index=reply.receipt_index)
            except (JobDeadlineExceeded, CallBudgetExceeded) as exc:
                raise LlmUnavailable(f"{purpose}: {exc.message}") from None
            except (TransportError, AdapterError) as exc:
                self.executor.health.record(key, ok=False)
                problems.append(f"{candidate.route.name}: {exc}")
                continue
            self.executor.health.record(key, ok=True, latency_ms=reply.meta.latency_ms)
            return text
        raise LlmUnavailable(
            f"{purpose}: no inference route answered ({'; '.join(problems) or 'none routable'})"
        )


def _probe_step() -> Step:
    return Step(id="llm-probe", capability="llm_inference")


def _with_context(step: Step, outcomes: Mapping[str, StepOutcome]) -> Step:
    """Fill `inputs.context` from the records of the steps named in `inputs.context_from`."""
    sources = step.inputs.get("context_from")
    if not isinstance(sources, list) or not sources:
        return step
    context: list[dict[str, Any]] = []
    for step_id in sources:
        outcome = outcomes.get(step_id) if isinstance(step_id, str) else None
        for record in outcome.records if outcome is not None else []:
            if len(context) >= MAX_CONTEXT_ITEMS:
                break
            item: dict[str, Any] = {"text": record.text[:MAX_CONTEXT_CHARS], "source": record.source}
            if record.title:
                item["title"] = record.title[:200]
            if record.url:
                item["url"] = record.url
            context.append(item)
    return step.model_copy(update={"inputs": {**step.inputs, "context": context}})


def _snapshot(job: Job, step: Step, candidate: Candidate, outcome: StepOutcome, first: int) -> _CachedStep:
    """The step's records with the receipts (made since `first`) they point at, re-indexed."""
    indices = [i for i in range(first, len(job.receipts)) if job.receipts[i].step_id == step.id]
    position = {index: n for n, index in enumerate(indices)}
    records = tuple(
        _reindex(r, position[r.receipt_index]) for r in outcome.records if r.receipt_index in position
    )
    return _CachedStep(
        candidate=candidate,
        records=records,
        receipts=tuple(job.receipts[i] for i in indices),
        evidence=tuple(job.evidence[i] for i in indices),
        stored=time.monotonic(),
    )


def _replay(job: Job, step: Step, cached: _CachedStep) -> list[Record]:
    """Put a cached step's receipts into this job (not its cost: it was paid) and return its records."""
    base = len(job.receipts)
    job.calls += len(cached.receipts)  # they sit in the answer like calls: the bound keeps it in size
    for receipt, evidence in zip(cached.receipts, cached.evidence, strict=True):
        job.receipts.append(receipt.model_copy(update={"step_id": step.id}))
        job.evidence.append(evidence)
    return [_reindex(r, base + r.receipt_index) for r in cached.records]


def _reindex(record: Record, index: int) -> Record:
    return dataclasses.replace(record, receipt_index=index)


def _failure(step: Step, failures: list[Exception]) -> TaskError:
    unreachable = all(
        isinstance(f, TransportError) and f.status in (CallStatus.UNAVAILABLE, CallStatus.TIMEOUT)
        for f in failures
    )
    code = ErrorCode.PRODUCER_UNAVAILABLE if failures and unreachable else ErrorCode.PRODUCER_ERROR
    if failures and all(isinstance(f, RouteTooExpensive) for f in failures):
        code = ErrorCode.BUDGET_EXCEEDED
    detail = "; ".join(str(f) for f in failures[-3:])
    return TaskError(
        code=code,
        message=f"step {step.id!r} ({step.capability}) failed on {len(failures)} candidate(s): {detail}"[
            :2_000
        ],
        step_id=step.id,
    )
