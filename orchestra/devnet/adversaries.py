"""Adversarial miners for the devnet: cheaters a validator must score below honest miners.

FOR TESTING VALIDATORS ONLY. Every miner the devnet starts is a `DevnetMiner`: the real `Miner` neuron
on a real Axon, whose `answer` follows a `Behaviour`. Each cheat is the strongest cheap version of its
attack we could think of, written against the validator's published checks; a validator that beats
these beats the clumsy ones too.

* **honest**: the normal miner. It also posts each answer to the network's `ResponseBoard`, the
  devnet's model of answers leaking between miners; nothing else changes.
* **slow**: honest, but holds each answer until a share of the deadline (40 %) has passed.
* **lazy**: calls no producer. Invents a plausible result for the schema (company names, prices,
  links, phrases; the count and order the objective asks for), with no receipts and a correct proof
  root, so only content checks can catch it.
* **fabricator**: does the honest work, then rewrites the content consistently in the result *and*
  in the evidence (names, links, prices, wording), re-digests every changed response in its receipt
  and recomputes the proof root: every hash checks out and the result is "supported" by its
  evidence. Only re-querying a call shows the producer never said it.
* **replayer**: does one honest job per blueprint, then answers later tasks by synthesising the new
  schema from that job's records, returning its receipts: signed (dendrite) receipts too old to pass
  are dropped, unsigned ones are re-timed into the current task.
* **copier**: waits for an honest answer to the same objective and schema on the board (every miner
  gets its own task id) and returns it as its own: receipts signed by the other miner dropped, the
  rest re-timed, the proof root recomputed for its own task. With nothing in time, the lazy answer.

  Both disguise what they reuse by default (`disguise=False` returns the receipts as they were, with
  only the task id and proof root changed): a receipt's `started_ns` is the miner's own word unless
  a signature covers it, so moving it is free.
* **schema-only**: the right shape with junk values ("n/a", 0, [], one minimal item), no calls.
"""

import asyncio
import logging
import random
import re
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import Enum
from typing import Any, ClassVar

from orchestra.errors import ConfigError, OrchestraError, ResultValidationError
from orchestra.executor import Execution, Executor, Job, ProgressSink
from orchestra.miner.neuron import Miner
from orchestra.miner.service import OrchestrationService
from orchestra.planner.analysis import STOPWORDS, analyse, field_terms, words
from orchestra.proofs import compute_proof_root, digest
from orchestra.schema import (
    CompiledSchema,
    FieldSpec,
    FreeNode,
    ListNode,
    Node,
    ObjectNode,
    ScalarNode,
    compile_schema,
)
from orchestra.synthesis import (
    DATE_TERMS,
    EXPLANATION_FIELDS,
    NAME_TERMS,
    NEGATIVE_FIELDS,
    POSITIVE_FIELDS,
    PRICE_TERMS,
    URL_TERMS,
)
from protocol.models import (
    CallEvidence,
    CallReceipt,
    Constraints,
    ErrorCode,
    Plan,
    RouteKind,
    TaskError,
    TaskResult,
    TaskSpec,
    Timings,
)

log = logging.getLogger(__name__)

SLOW_SHARE = 0.4  # of the deadline the slow miner holds its answers
COPIER_PATIENCE = 0.5  # of the deadline the copier waits for an answer to copy (honest ones come early)
# A signed receipt older than this before the task arrived would fall outside the validator's window.
FRESH_SLACK_NS = 1_500_000_000
FABRICATION_FACTOR = Decimal("0.7")  # the fabricator's prices are 30 % below what producers said
MAX_BOARD_ENTRIES = 256


class MinerKind(str, Enum):
    """What a devnet miner does with a task. Stable strings: reports and the CLI show them."""

    HONEST = "honest"
    SLOW = "slow"
    LAZY = "lazy"
    FABRICATOR = "fabricator"
    REPLAYER = "replayer"
    COPIER = "copier"
    SCHEMA_ONLY = "schema-only"

    @property
    def cheats(self) -> bool:
        return self not in (MinerKind.HONEST, MinerKind.SLOW)


# The `orchestra localnet --scenario adversarial` line-up, in uid order: honest miners first, so the
# demo job (sent to the first miner) goes to an honest one.
ADVERSARIAL_LINEUP: tuple[MinerKind, ...] = (
    MinerKind.HONEST,
    MinerKind.HONEST,
    MinerKind.SLOW,
    MinerKind.LAZY,
    MinerKind.FABRICATOR,
    MinerKind.REPLAYER,
    MinerKind.COPIER,
    MinerKind.SCHEMA_ONLY,
)


def miner_kind(value: "MinerKind | str") -> MinerKind:
    """`value` as a `MinerKind`, or a `ConfigError` listing the kinds."""
    try:
        return MinerKind(value)
    except ValueError:
        kinds = ", ".join(k.value for k in MinerKind)
        raise ConfigError(f"unknown miner kind {value!r}; kinds: {kinds}") from None


# ==================================================================================================
# The response board: where answers leak between miners
# ==================================================================================================


@dataclass(frozen=True)
class _Post:
    result: TaskResult
    at: float  # time.monotonic() when posted


class ResponseBoard:
    """Answers honest miners posted, found by objective and target schema (task ids differ per miner).

    Thread-safe: each miner's Axon serves on its own thread and event loop.
    """

    def __init__(self, *, max_entries: int = MAX_BOARD_ENTRIES) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._posts: OrderedDict[str, _Post] = OrderedDict()
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[_Post]]]] = {}

    @staticmethod
    def key(spec: TaskSpec) -> str:
        """The same challenge under any task id: the objective and the canonical schema."""
        return digest({"objective": spec.objective, "target_schema": spec.target_schema})

    def __len__(self) -> int:
        with self._lock:
            return len(self._posts)

    def post(self, spec: TaskSpec, result: TaskResult) -> None:
        key = self.key(spec)
        posted = _Post(result, time.monotonic())
        with self._lock:
            self._posts[key] = posted
            self._posts.move_to_end(key)
            while len(self._posts) > self.max_entries:
                self._posts.popitem(last=False)
            waiters = self._waiters.pop(key, [])
        for loop, future in waiters:
            loop.call_soon_threadsafe(_settle, future, posted)

    async def wait(self, spec: TaskSpec, *, timeout: float, since: float) -> TaskResult | None:
        """The answer posted for this challenge at or after `since` (monotonic), waiting up to `timeout`."""
        key = self.key(spec)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_Post] = loop.create_future()
        entry = (loop, future)
        with self._lock:
            posted = self._posts.get(key)
            if posted is not None and posted.at >= since:
                return posted.result
            self._waiters.setdefault(key, []).append(entry)
        try:
            return (await asyncio.wait_for(future, max(0.0, timeout))).result
        except asyncio.TimeoutError:
            return None
        finally:
            with self._lock:
                waiting = self._waiters.get(key, [])
                if entry in waiting:
                    waiting.remove(entry)
                if not waiting:
                    self._waiters.pop(key, None)


def _settle(future: "asyncio.Future[_Post]", posted: _Post) -> None:
    if not future.done():
        future.set_result(posted)


# ==================================================================================================
# Behaviours and the miner that follows one
# ==================================================================================================


class Behaviour(ABC):
    """How a devnet miner answers a task."""

    kind: ClassVar[MinerKind]

    @abstractmethod
    async def answer(self, spec: TaskSpec, miner: Miner) -> TaskResult: ...


class DevnetMiner(Miner):
    """A `Miner` whose answers follow a `Behaviour`; the devnet builds every miner this way."""

    def __init__(self, *, behaviour: Behaviour, **options: Any) -> None:
        super().__init__(**options)
        self.behaviour = behaviour

    @property
    def kind(self) -> MinerKind:
        return self.behaviour.kind

    async def answer(self, spec: TaskSpec) -> TaskResult:
        return await self.behaviour.answer(spec, self)


class Honest(Behaviour):
    """The miner's own work; answers are posted to `board` (when there is one) as they leave."""

    kind = MinerKind.HONEST

    def __init__(self, board: ResponseBoard | None = None) -> None:
        self.board = board

    async def answer(self, spec: TaskSpec, miner: Miner) -> TaskResult:
        outcome = await miner.service.handle(spec)
        self.post(spec, outcome)
        return outcome

    def post(self, spec: TaskSpec, outcome: TaskResult) -> None:
        if self.board is not None and outcome.ok:
            self.board.post(spec, outcome)


class Slow(Honest):
    """Honest work, answered (and posted) no sooner than `share` of the deadline after the task arrived:
    an answer that has not left yet cannot leak."""

    kind = MinerKind.SLOW

    def __init__(self, board: ResponseBoard | None = None, *, share: float = SLOW_SHARE) -> None:
        if not 0 <= share < 1:
            raise ConfigError(f"a slow miner's share of the deadline must be in [0, 1), got {share}")
        super().__init__(board)
        self.share = share

    async def answer(self, spec: TaskSpec, miner: Miner) -> TaskResult:
        loop = asyncio.get_running_loop()
        release = loop.time() + spec.constraints.deadline_ms / 1000 * self.share
        outcome = await miner.service.handle(spec)
        await asyncio.sleep(max(0.0, release - loop.time()))
        self.post(spec, outcome)
        return outcome


class Lazy(Behaviour):
    """No producer calls: an invented, schema-valid result with a correct proof root."""

    kind = MinerKind.LAZY

    async def answer(self, spec: TaskSpec, miner: Miner) -> TaskResult:
        return invented_answer(spec)


class SchemaOnly(Behaviour):
    """No producer calls: the right shape, junk values."""

    kind = MinerKind.SCHEMA_ONLY

    async def answer(self, spec: TaskSpec, miner: Miner) -> TaskResult:
        return junk_answer(spec)


class Fabricator(Behaviour):
    """Honest calls, invented content, every digest recomputed to match (see `fabricate`)."""

    kind = MinerKind.FABRICATOR

    async def answer(self, spec: TaskSpec, miner: Miner) -> TaskResult:
        return fabricate(spec, await miner.service.handle(spec))


class Copier(Behaviour):
    """Another miner's answer to the same challenge, passed off as its own (see `launder`)."""

    kind = MinerKind.COPIER

    def __init__(
        self, board: ResponseBoard, *, patience: float = COPIER_PATIENCE, disguise: bool = True
    ) -> None:
        if not 0 < patience < 1:
            raise ConfigError(f"a copier's patience must be in (0, 1), got {patience}")
        self.board = board
        self.patience = patience
        self.disguise = disguise

    async def answer(self, spec: TaskSpec, miner: Miner) -> TaskResult:
        arrived_ns = time.time_ns()
        deadline_s = spec.constraints.deadline_ms / 1000
        found = await self.board.wait(
            spec, timeout=deadline_s * self.patience, since=time.monotonic() - deadline_s
        )
        if found is None or not found.ok:
            return invented_answer(spec)
        return launder(found, spec, hotkey=miner.hotkey, arrived_ns=arrived_ns, disguise=self.disguise)


class Replayer(Behaviour):
    """One honest job per blueprint, replayed for every later task (see `ReplayingExecutor`)."""

    kind = MinerKind.REPLAYER

    def __init__(self, *, disguise: bool = True) -> None:
        self.disguise = disguise
        self._replaying: tuple[OrchestrationService, OrchestrationService, ReplayingExecutor] | None = None

    def service(self, honest: OrchestrationService) -> tuple[OrchestrationService, "ReplayingExecutor"]:
        """The miner's service with its executor wrapped, built once per miner service."""
        if self._replaying is None or self._replaying[0] is not honest:
            executor = ReplayingExecutor(honest.executor)
            replaying = OrchestrationService(
                honest.planner,
                executor,
                honest.synthesizer,
                max_evidence_bytes=honest.max_evidence_bytes,
                llm_planner=honest.llm_planner,
                llm_synthesis=honest.llm_synthesis,
            )
            self._replaying = (honest, replaying, executor)
        return self._replaying[1], self._replaying[2]

    async def answer(self, spec: TaskSpec, miner: Miner) -> TaskResult:
        arrived_ns = time.time_ns()
        service, executor = self.service(miner.service)
        kept = list(executor.kept.values())
        outcome = await service.handle(spec)
        if not any(outcome.receipts and outcome.receipts == old.receipts for old in kept):
            return outcome  # a real job: this blueprint came up for the first time
        if outcome.ok:
            return launder(outcome, spec, hotkey=miner.hotkey, arrived_ns=arrived_ns, disguise=self.disguise)
        # The old records cannot answer this task: pay for one real job, and replay that from now on.
        executor.forget(outcome.plan)
        return await service.handle(spec)


def behaviour_for(
    kind: "MinerKind | str", board: ResponseBoard, *, slow_share: float = SLOW_SHARE, disguise: bool = True
) -> Behaviour:
    """A fresh behaviour of `kind`; honest, slow and copier miners share `board`. `disguise` applies to
    the replayer and the copier (see `launder`)."""
    chosen = miner_kind(kind)
    makers: dict[MinerKind, Callable[[], Behaviour]] = {
        MinerKind.HONEST: lambda: Honest(board),
        MinerKind.SLOW: lambda: Slow(board, share=slow_share),
        MinerKind.LAZY: Lazy,
        MinerKind.FABRICATOR: Fabricator,
        MinerKind.REPLAYER: lambda: Replayer(disguise=disguise),
        MinerKind.COPIER: lambda: Copier(board, disguise=disguise),
        MinerKind.SCHEMA_ONLY: SchemaOnly,
    }
    return makers[chosen]()


# ==================================================================================================
# Replaying: an executor that calls producers once per blueprint
# ==================================================================================================


class ReplayingExecutor(Executor):
    """Runs a plan for real the first time its blueprint comes up, then returns that `Execution`."""

    def __init__(self, base: Executor) -> None:
        super().__init__(
            base.router,
            base.adapters,
            http=base.http,
            dendrite=base.dendrite,
            openai=base.openai,
            signed=base.signed,
            max_calls=base.max_calls,
            observer=base.observer,
            retry=base.retry,
            hedge=base.hedge,
            cache=base.cache,
            step_timeout_s=base.step_timeout_s,
        )
        self.kept: dict[str, Execution] = {}

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
        key = _plan_key(plan)
        if key in self.kept:
            return self.kept[key]
        execution = await super().run(
            plan, deadline=deadline, constraints=constraints, job=job, task_id=task_id, events=events
        )
        if execution.failed_required() is None:
            self.kept[key] = execution
        return execution

    def forget(self, plan: Plan | None) -> None:
        if plan is not None:
            self.kept.pop(_plan_key(plan), None)


def _plan_key(plan: Plan) -> str:
    return plan.blueprint or ",".join(sorted(step.capability for step in plan.steps))


# ==================================================================================================
# Laundering: someone else's (or an old) answer, made to look like this miner's fresh work
# ==================================================================================================


def launder(
    source: TaskResult,
    spec: TaskSpec,
    *,
    hotkey: str,
    arrived_ns: int,
    now_ns: int | None = None,
    rng: random.Random | None = None,
    disguise: bool = True,
) -> TaskResult:
    """`source`'s result as this miner's answer to `spec`: the task id and the proof root are `spec`'s.

    With `disguise`, a dendrite receipt (signed by the Dendrite that sent it, with a nonce that dates
    it) that was signed by another hotkey, or is too old for the task that arrived at `arrived_ns`,
    cannot pass and is dropped, with its evidence, its provenance and any plan step left without
    receipts. Other receipts carry no signature: they are shifted in time to end just before
    `now_ns`, which also changes their digests.
    """
    now = time.time_ns() if now_ns is None else now_ns
    rng = rng or random.Random()
    kept = [
        i
        for i, receipt in enumerate(source.receipts)
        if not disguise or _passes_as_own(receipt, hotkey, arrived_ns)
    ]
    unsigned = [source.receipts[i] for i in kept if source.receipts[i].route is not RouteKind.DENDRITE]
    shift = 0
    if unsigned and disguise:
        ended = max(r.started_ns + round(r.latency_ms * 1_000_000) for r in unsigned)
        shift = now - rng.randint(1_000_000, 20_000_000) - ended
    receipts = [_shifted(source.receipts[i], shift) for i in kept]
    evidence = [source.evidence[i] for i in kept] if source.evidence else []
    renumber = {old: new for new, old in enumerate(kept)}
    provenance = {
        path: [renumber[i] for i in indices if i in renumber] for path, indices in source.provenance.items()
    }
    return source.model_copy(
        update={
            "task_id": spec.task_id,
            "receipts": receipts,
            "evidence": evidence,
            "provenance": {path: indices for path, indices in provenance.items() if indices},
            "plan": _trimmed_plan(source.plan, source.receipts, receipts),
            "proof_root": compute_proof_root(spec, receipts, source.result),
            "cost": round(sum(r.cost for r in receipts), 6),
        }
    )


def _passes_as_own(receipt: CallReceipt, hotkey: str, arrived_ns: int) -> bool:
    if receipt.route is not RouteKind.DENDRITE:
        return True
    proof = receipt.dendrite
    return (
        proof is not None
        and proof.dendrite_hotkey == hotkey
        and proof.dendrite_nonce >= arrived_ns - FRESH_SLACK_NS
    )


def _shifted(receipt: CallReceipt, shift_ns: int) -> CallReceipt:
    if receipt.route is RouteKind.DENDRITE or shift_ns == 0:
        return receipt
    return receipt.model_copy(update={"started_ns": max(0, receipt.started_ns + shift_ns)})


def _trimmed_plan(plan: Plan | None, before: list[CallReceipt], after: list[CallReceipt]) -> Plan | None:
    """The plan without the steps whose every receipt was dropped."""
    if plan is None:
        return None
    had = {r.step_id for r in before}
    has = {r.step_id for r in after}
    gone = had - has
    steps = [
        s.model_copy(update={"depends_on": [d for d in s.depends_on if d not in gone]})
        for s in plan.steps
        if s.id not in gone
    ]
    return Plan(blueprint=plan.blueprint, steps=steps) if steps else None


# ==================================================================================================
# Fabrication: consistent lies in the result and in the evidence
# ==================================================================================================

_GENERIC_NAME_WORDS = words(
    "ai api app apps base cloud cloudai compute computing data db gpu gpus grid inc io labs llc ltd "
    "network networks platform search services stack systems tech technologies vector"
)
# Word swaps that turn what producers said into something else, in both directions where it reads.
_SWAPS = {
    "cheapest": "priciest",
    "priciest": "cheapest",
    "cheap": "pricey",
    "expensive": "affordable",
    "affordable": "expensive",
    "slow": "fast",
    "fast": "slow",
    "frequent": "rare",
    "rare": "frequent",
    "simple": "complex",
    "clean": "clunky",
    "great": "poor",
    "large": "small",
    "small": "large",
    "lowest": "highest",
    "highest": "lowest",
    "fewer": "more",
    "minimum": "maximum",
    "reliable": "flaky",
    "strong": "weak",
    "praise": "criticise",
    "praised": "criticised",
}
_DECIMAL = r"(?<![\w.])\d+\.\d+(?![\w]|\.\d)"
# Long numbers only (balances, block heights): short ones are counts, years and ids.
_INTEGER = r"(?<![\w.])\d{5,}(?![\w]|\.\d)"
_HEX = re.compile(r"0x[0-9a-fA-F]{16,}")
_NUMBERS_IN_TEXT = re.compile(r"\d+(?:\.\d+)?")
_NAME_KEY_WORD = re.compile(r"[a-z]+")


def fabricate(spec: TaskSpec, outcome: TaskResult, *, seed: str | None = None) -> TaskResult:
    """`outcome` with invented content that every hash still vouches for.

    The names, prices, links, hex values and wording in the result are rewritten the same way in
    every evidence response; each changed response gets a new digest in its receipt, and the proof
    root is recomputed. When the rewritten result no longer fits the schema, the honest outcome goes
    back unchanged: a lie that fails validation earns nothing.
    """
    if outcome.result is None:
        return outcome
    try:
        schema = compile_schema(spec.target_schema)
    except OrchestraError:
        return outcome
    lies = Fabrication(outcome.result, spec.objective, random.Random(seed or spec.task_id))
    result = lies.rewrite(outcome.result)
    if not isinstance(result, dict) or not schema.is_valid(result):
        log.info("fabrication of task %s did not fit the schema; answering honestly", spec.task_id)
        return outcome
    receipts: list[CallReceipt] = []
    evidence: list[CallEvidence | None] = []
    for index, receipt in enumerate(outcome.receipts):
        item = outcome.evidence[index] if outcome.evidence else None
        if item is None or receipt.response_digest is None:
            receipts.append(receipt)
            evidence.append(item)
            continue
        response = lies.rewrite(item.response)
        evidence.append(CallEvidence(request=item.request, response=response))
        receipts.append(receipt.model_copy(update={"response_digest": digest(response)}))
    return outcome.model_copy(
        update={
            "result": result,
            "receipts": receipts,
            "evidence": evidence if outcome.evidence else [],
            "summary": lies.rewrite(outcome.summary) if outcome.summary else outcome.summary,
            "proof_root": compute_proof_root(spec, receipts, result),
        }
    )


class Fabrication:
    """One consistent set of lies, drawn from a result: every name, amount, long number, hex value and
    swap word it states is replaced by the same invention wherever it appears."""

    def __init__(self, result: dict[str, Any], objective: str, rng: random.Random) -> None:
        self.rng = rng
        asked = objective.lower()
        self.literals: dict[str, str] = {}
        self.amounts: dict[Decimal, Decimal] = {}
        self.integers: dict[int, int] = {}
        for name in _names_in(result):
            self._rename(name, asked)
        for text in _strings_in(result):
            for match in _HEX.finditer(text):
                self._rehex(match.group(0), asked)
            for match in re.finditer(_INTEGER, text):
                self._renumber(int(match.group(0)), asked)
            for match in re.finditer(_DECIMAL, text):
                self._reamount(Decimal(match.group(0)))
        for number in _numbers_in(result):
            if isinstance(number, float):
                self._reamount(Decimal(repr(number)))
            else:
                self._renumber(number, asked)
        self._pattern = self._compile()

    def _rename(self, name: str, asked: str) -> None:
        words = name.split()
        invented = [self._invented_word(w) if _renameable(w, asked) else w for w in words]
        if invented == words:
            return
        for old, new in zip(words, invented, strict=True):
            if old != new:
                self.literals.setdefault(old, new)
                self.literals.setdefault(old.lower(), new.lower())
        self.literals.setdefault("".join(words).lower(), "".join(invented).lower())

    def _invented_word(self, word: str) -> str:
        if word in self.literals:
            return self.literals[word]
        return _invent_name_word(self.rng)

    def _rehex(self, text: str, asked: str) -> None:
        if text.lower() in asked:
            return
        body = "".join(self.rng.choice("0123456789abcdef") for _ in text[2:])
        self.literals.setdefault(text.lower(), "0x" + body)

    def _renumber(self, number: int, asked: str) -> None:
        if number < 10_000 or str(number) in asked:
            return
        new = number - max(1, number // 10)
        self.integers.setdefault(number, new)
        self.literals.setdefault(hex(number), hex(new))

    def _reamount(self, amount: Decimal) -> None:
        value = amount.normalize()
        places = max(2, -int(value.as_tuple().exponent))
        quantum = Decimal(1).scaleb(-places)
        new = (value * FABRICATION_FACTOR).quantize(quantum, rounding=ROUND_HALF_UP)
        if new > 0 and new != value:
            self.amounts.setdefault(value, new)

    def _compile(self) -> re.Pattern[str]:
        literals = sorted(self.literals, key=len, reverse=True)
        parts = []
        if literals:
            parts.append(r"(?P<lit>(?<![\w])(?:" + "|".join(re.escape(x) for x in literals) + r")(?![\w]))")
        parts.append(
            r"(?P<swap>(?<![\w])(?i:" + "|".join(sorted(_SWAPS, key=len, reverse=True)) + r")(?![\w]))"
        )
        parts.append(f"(?P<dec>{_DECIMAL})")
        parts.append(f"(?P<int>{_INTEGER})")
        return re.compile("|".join(parts))

    def text(self, value: str) -> str:
        return self._pattern.sub(self._replace, value)

    def _replace(self, match: re.Match[str]) -> str:
        found = match.group(0)
        if match.lastgroup == "lit":
            return self.literals.get(found, self.literals.get(found.lower(), found))
        if match.lastgroup == "swap":
            return _same_case(found, _SWAPS[found.lower()])
        if match.lastgroup == "dec":
            new = self.amounts.get(Decimal(found).normalize())
            return str(new) if new is not None else found
        new_int = self.integers.get(int(found))
        return str(new_int) if new_int is not None else found

    def rewrite(self, value: Any) -> Any:
        """`value` with every lie applied; object keys are left alone (they are the shape)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            return self.integers.get(value, value)
        if isinstance(value, float):
            try:
                new = self.amounts.get(Decimal(repr(value)).normalize())
            except InvalidOperation:
                return value
            return float(new) if new is not None else value
        if isinstance(value, list):
            return [self.rewrite(item) for item in value]
        if isinstance(value, dict):
            return {key: self.rewrite(item) for key, item in value.items()}
        return value


def _renameable(word: str, asked: str) -> bool:
    bare = word.strip(".,;:()")
    return (
        bare == word
        and len(word) >= 3
        and word[0].isupper()
        and word.lower() not in _GENERIC_NAME_WORDS
        and word.lower() not in STOPWORDS
        and not any(ch.isdigit() for ch in word)
        and word.lower() not in asked
    )


def _same_case(original: str, replacement: str) -> str:
    if original.isupper():
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _names_in(value: Any) -> Iterable[str]:
    """Strings held under name-like keys ("name", "vendor", "Vendor Name", ...), anywhere."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and set(_NAME_KEY_WORD.findall(key.lower())) & NAME_TERMS:
                yield item
            yield from _names_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _names_in(item)


def _strings_in(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_in(item)


def _numbers_in(value: Any) -> Iterable[int | float]:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (int, float)):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _numbers_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers_in(item)


# ==================================================================================================
# Invention: a plausible answer without a single producer call
# ==================================================================================================

_NAME_STARTS = (
    "Astra", "Brint", "Cirra", "Dyna", "Ember", "Fluxa", "Helio", "Kestra", "Lumio", "Nimbra", "Orbi",
    "Pylo", "Quanta", "Sable", "Tessa", "Vanta", "Zeph",
)  # fmt: skip
_NAME_ENDS = ("grid", "stack", "forge", "scale", "works", "nova", "loop", "mind", "port", "wave")
_NAME_SUFFIXES = ("Cloud", "Compute", "AI", "Labs", "Systems", "")
_POSITIVE_PHRASES = (
    "simple transparent pricing",
    "fast provisioning",
    "reliable uptime",
    "responsive support",
    "generous free tier",
    "strong developer tooling",
)
_NEGATIVE_PHRASES = (
    "limited regional availability",
    "slow support response times",
    "expensive egress fees",
    "occasional capacity shortages",
    "minimum commitment on reserved plans",
    "sparse documentation",
)
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_BLOCK = re.compile(r"\bblock\s+#?(\d+)", re.I)
_PRODUCT = re.compile(r"\b[A-Z]{1,5}\d{2,5}[A-Za-z]?\b")


def _invent_name_word(rng: random.Random) -> str:
    return rng.choice(_NAME_STARTS) + rng.choice(_NAME_ENDS)


@dataclass(frozen=True)
class _Market:
    unit: str
    low: float
    high: float


def _market(objective: str) -> _Market:
    text = objective.lower()
    if "gpu" in text or "h100" in text or "a100" in text:
        return _Market("/hr", 1.2, 3.6)
    if "llm" in text or "inference" in text or "token" in text:
        return _Market(" per 1M tokens", 0.15, 3.0)
    if "vector" in text or "storage" in text or "database" in text:
        return _Market(" per GB-month", 0.08, 0.6)
    return _Market("/month", 5.0, 60.0)


def _order(objective: str) -> str | None:
    text = objective.lower()
    if "cheapest to most expensive" in text or "lowest to highest" in text or "ascending" in text:
        return "asc"
    if "most expensive first" in text or "highest to lowest" in text or "descending" in text:
        return "desc"
    return None


class Inventor:
    """Plausible content for a schema, invented from the objective alone: what a miner that calls
    nobody would send. Company names are made up, prices drawn from the market's usual range, the
    objective's count and order honoured, chain facts (address, block) echoed from the objective."""

    def __init__(self, objective: str, root: ObjectNode, rng: random.Random) -> None:
        self.rng = rng
        self.objective = objective
        self.count = analyse(objective, root).wanted_count or 3
        self.order = _order(objective)
        self.market = _market(objective)
        self.products = list(dict.fromkeys(_PRODUCT.findall(objective))) or ["standard"]
        address = _ADDRESS.search(objective)
        block = _BLOCK.search(objective)
        self.address = address.group(0) if address else "0x" + self._hex(40)
        self.block = int(block.group(1)) if block else rng.randint(1_000_000, 20_000_000)
        self.prices: dict[str, float] = {}

    def result(self, root: ObjectNode) -> dict[str, Any]:
        return self._object(root, None)

    def _hex(self, length: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(length))

    def _name(self) -> str:
        suffix = self.rng.choice(_NAME_SUFFIXES)
        return f"{_invent_name_word(self.rng)} {suffix}".strip()

    def _price(self, entity: str | None) -> float:
        """The entity's price, the same wherever it shows; outside an entity, the cheapest one named."""
        if entity is None:
            if self.prices:
                return min(self.prices.values())
            return round(self.rng.uniform(self.market.low, self.market.high), 2)
        if entity not in self.prices:
            self.prices[entity] = round(self.rng.uniform(self.market.low, self.market.high), 2)
        return self.prices[entity]

    def _object(self, node: ObjectNode, entity: str | None) -> dict[str, Any]:
        return {spec.name: self._value(spec, spec.node, entity) for spec in node.fields}

    def _value(self, spec: FieldSpec, node: Node, entity: str | None) -> Any:
        terms = set(field_terms(spec))
        if isinstance(node, ObjectNode):
            return self._object(node, entity)
        if isinstance(node, ListNode):
            return self._list(spec, node, terms, entity)
        if isinstance(node, FreeNode):
            return self._free(node, terms, entity)
        return self._scalar(node, terms, entity)

    def _list(self, spec: FieldSpec, node: ListNode, terms: set[str], entity: str | None) -> list[Any]:
        if isinstance(node.item, ObjectNode):
            size = _bounded_size(self.count, node)
            entities = [self._name() for _ in range(size)]
            if self.order is not None:
                entities.sort(key=self._price, reverse=self.order == "desc")
            item = node.item
            return [self._object(item, name) for name in entities]
        size = _bounded_size(2, node)
        return [self._value(spec, node.item, entity) for _ in range(size)]

    def _free(self, node: FreeNode, terms: set[str], entity: str | None) -> Any:
        if node.kind == "dict":
            if terms & PRICE_TERMS:
                base = self._price(entity)
                return {
                    product: f"${base * (1 + 0.45 * i):.2f}{self.market.unit}"
                    for i, product in enumerate(self.products[:2])
                }
            return {"summary": self._phrase(terms, entity)}
        if node.kind == "list":
            return [self._phrase(terms, entity) for _ in range(2)]
        return self._phrase(terms, entity)

    def _phrase(self, terms: set[str], entity: str | None) -> str:
        if terms & NEGATIVE_FIELDS:
            return self.rng.choice(_NEGATIVE_PHRASES)
        if terms & POSITIVE_FIELDS:
            return self.rng.choice(_POSITIVE_PHRASES)
        if terms & PRICE_TERMS:
            return f"${self._price(entity):.2f}{self.market.unit}"
        cheapest = min(self.prices.items(), key=lambda kv: kv[1], default=None)
        if terms & EXPLANATION_FIELDS and cheapest is not None:
            return (
                f"{cheapest[0]} is the cheapest option at ${cheapest[1]:.2f}{self.market.unit}; "
                f"pricing slightly below it wins price-sensitive customers."
            )
        good, bad = self.rng.choice(_POSITIVE_PHRASES), self.rng.choice(_NEGATIVE_PHRASES)
        return f"{entity or 'The market leader'} offers {good}, with {bad}."

    def _scalar(self, node: ScalarNode, terms: set[str], entity: str | None) -> Any:
        if node.enum:
            return _enum_choice(node.enum, self.objective)
        if node.kind == "bool":
            return True
        if node.kind == "int":
            return int(_within(node, float(self._integer(terms))))
        if node.kind == "float":
            value = (
                self.rng.uniform(0.1, 10.0) if terms & {"balance", "eth", "ether"} else self._price(entity)
            )
            return round(_within(node, value), 6)
        return _fit_text(node, self._string(node, terms, entity))

    def _integer(self, terms: set[str]) -> int:
        if terms & {"block", "height"}:
            return self.block
        if terms & {"balance", "wei"}:
            return self.rng.randint(10**15, 10**20)
        if terms & {"nonce", "tx", "transactions"}:
            return self.rng.randint(0, 900)
        return self.rng.randint(1, 100)

    def _string(self, node: ScalarNode, terms: set[str], entity: str | None) -> str:
        if node.format == "date" or (terms & DATE_TERMS and node.format != "date-time"):
            return time.strftime("%Y-%m-%d", time.gmtime())
        if node.format == "date-time":
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if terms & {"hash"}:
            return "0x" + self._hex(64)
        if terms & {"address", "account"}:
            return self.address
        if terms & {"balance", "wei"}:
            return str(self._integer(terms))
        if terms & URL_TERMS:
            slug = re.sub(r"[^a-z0-9]", "", (entity or self._name()).lower())
            return f"https://{slug}.com/pricing"
        if terms & NAME_TERMS:
            return entity or self._name()
        if terms & {"currency"}:
            return "USD"
        if terms & {"unit", "units"}:
            return self.market.unit.strip(" /")
        return self._phrase(terms, entity)


def _bounded_size(wanted: int, node: ListNode) -> int:
    size = max(wanted, node.min_items or 0)
    return min(size, node.max_items) if node.max_items is not None else size


def _enum_choice(options: tuple[Any, ...], objective: str) -> Any:
    text = objective.lower()
    present = [o for o in options if o is not None and str(o).lower() in text]
    if present:
        return present[0]
    return next((o for o in options if o is not None), options[0])


def _within(node: ScalarNode, value: float) -> float:
    """`value` moved inside the node's numeric bounds."""
    step = 1.0 if node.kind == "int" else 0.01
    if node.minimum is not None:
        value = max(value, node.minimum)
    if node.exclusive_minimum is not None and value <= node.exclusive_minimum:
        value = node.exclusive_minimum + step
    if node.maximum is not None:
        value = min(value, node.maximum)
    if node.exclusive_maximum is not None and value >= node.exclusive_maximum:
        value = node.exclusive_maximum - step
    if node.multiple_of:
        value = round(value / node.multiple_of) * node.multiple_of
    return value


def _fit_text(node: ScalarNode, text: str) -> str:
    if node.max_length is not None:
        text = text[: node.max_length]
    if node.min_length is not None and len(text) < node.min_length:
        text = text.ljust(node.min_length, ".")
    return text


def invented_answer(spec: TaskSpec, *, seed: str | None = None) -> TaskResult:
    """The lazy miner's answer: invented content, no receipts, a proof root that recomputes."""
    started = time.perf_counter()
    try:
        schema = compile_schema(spec.target_schema)
    except OrchestraError as exc:
        return TaskResult(task_id=spec.task_id, error=exc.to_task_error())
    inventor = Inventor(spec.objective, schema.root, random.Random(seed or spec.task_id))
    result = _valid(schema, inventor.result(schema.root)) or _valid(schema, junk_result(schema.root))
    if result is None:
        failed = TaskError(code=ErrorCode.SYNTHESIS_FAILED, message="no result fits the target schema")
        return TaskResult(task_id=spec.task_id, error=failed)
    return _no_call_answer(spec, result, "researched pricing and reviews across the market", started)


def junk_result(root: ObjectNode) -> dict[str, Any]:
    """Every field present, each holding junk of the right type."""
    return {spec.name: _junk(spec.node) for spec in root.fields}


def _junk(node: Node) -> Any:
    if isinstance(node, ObjectNode):
        return junk_result(node)
    if isinstance(node, ListNode):
        size = (
            max(1, node.min_items or 0)
            if isinstance(node.item, (ObjectNode, ListNode))
            else (node.min_items or 0)
        )
        return [_junk(node.item) for _ in range(size)]
    if isinstance(node, FreeNode):
        return {} if node.kind == "dict" else [] if node.kind == "list" else "n/a"
    if node.enum:
        return next((o for o in node.enum if o is not None), node.enum[0])
    if node.kind == "bool":
        return False
    if node.kind == "int":
        return int(_within(node, 0.0))
    if node.kind == "float":
        return _within(node, 0.0)
    if node.format == "date":
        return "1970-01-01"
    if node.format == "date-time":
        return "1970-01-01T00:00:00Z"
    return _fit_text(node, "n/a")


def junk_answer(spec: TaskSpec) -> TaskResult:
    """The schema-only miner's answer: the right shape, junk values, no calls."""
    started = time.perf_counter()
    try:
        schema = compile_schema(spec.target_schema)
    except OrchestraError as exc:
        return TaskResult(task_id=spec.task_id, error=exc.to_task_error())
    result = _valid(schema, junk_result(schema.root))
    if result is None:
        failed = TaskError(code=ErrorCode.SYNTHESIS_FAILED, message="no result fits the target schema")
        return TaskResult(task_id=spec.task_id, error=failed)
    return _no_call_answer(spec, result, "n/a", started)


def _valid(schema: CompiledSchema, result: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return schema.validate(result)
    except ResultValidationError:
        return None


def _no_call_answer(spec: TaskSpec, result: dict[str, Any], summary: str, started: float) -> TaskResult:
    elapsed = round((time.perf_counter() - started) * 1000, 3)
    return TaskResult(
        task_id=spec.task_id,
        result=result,
        summary=summary,
        proof_root=compute_proof_root(spec, [], result),
        timings=Timings(synthesize_ms=elapsed, total_ms=elapsed),
    )
