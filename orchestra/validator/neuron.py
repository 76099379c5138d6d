"""The validator neuron: challenge miners, check and score their answers, set weights on chain.

Each step sends one challenge (or a queued organic task) to a sample of miners, each under its own
task id; checks every answer (proof root, receipts, receipt reuse, schema), re-queries a sample of
the receipts its result cites, checks the challenge's logic traps, scores, and folds the score into
an EMA per uid. A miner caught with a re-queried receipt answered differently loses its EMA.

Every `ledger_interval_steps` it also collects miners' Ledger proposals (`LedgerSync`), re-probes and
votes on them, and refreshes each miner's Ledger score, the 40 % of the total that is not
orchestration.
"""

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import bittensor as bt
import numpy as np
from numpy.typing import NDArray

from ledger.curation import Curator, QuorumRule, ReviewReport, activity
from ledger.probes import Prober
from ledger.seed import ensure_seeded
from ledger.store import LedgerStore
from orchestra.adapters import adapter_route_kinds
from orchestra.chain import ChainClient, MetagraphCache, MetagraphView, WeightsOutcome
from orchestra.config import ValidatorSettings, route_secrets
from orchestra.errors import ConfigError, OrchestraError
from orchestra.proofs import ReceiptFault, TimeWindow
from orchestra.routing import LedgerDirectory
from orchestra.schema import CompiledSchema, compile_schema
from orchestra.transports.base import TransportError
from orchestra.transports.dendrite import DendriteTransport
from orchestra.transports.http import HttpTransport
from orchestra.transports.signed_http import SignedHttpTransport
from orchestra.validator.challenges import ChainOracle, Challenge, ChallengeGenerator, TrapOutcome, organic
from orchestra.validator.scoring import ScoreBreakdown, ema, is_fabricated, ledger_score, score_answer
from orchestra.validator.spotcheck import SpotChecker, SpotOutcome, SpotResult
from orchestra.validator.verification import ReplayGuard, ResponseCheck, check_response
from protocol.ledger_sync import LedgerSync
from protocol.models import TaskResult, TaskSpec
from protocol.synapse import OrchestrationTask
from protocol.version import SPEC_VERSION

log = logging.getLogger(__name__)
T = TypeVar("T")

FAILED_STEP_PAUSE_S = 5.0
LEDGER_SYNC_TIMEOUT_S = 12.0


@dataclass(frozen=True)
class Answer:
    """What one miner sent back for one task, and when."""

    uid: int
    hotkey: str
    response: TaskResult | None
    window: TimeWindow
    latency_s: float
    failure: str | None = None


@dataclass(frozen=True)
class Evaluation:
    answer: Answer
    check: ResponseCheck
    score: ScoreBreakdown
    traps: tuple[TrapOutcome, ...] = ()
    spot_checks: tuple[SpotResult, ...] = ()

    @property
    def fabricated(self) -> bool:
        return is_fabricated(self.check)


@dataclass
class StepReport:
    step: int
    task_id: str
    family: str = "market"
    evaluations: list[Evaluation] = field(default_factory=list)
    weights: WeightsOutcome | None = None
    ledger: ReviewReport | None = None


class Validator:
    """Queries miners with synthetic tasks, scores them with an EMA per uid and sets weights."""

    def __init__(
        self,
        *,
        wallet: "bt.Wallet",
        chain: ChainClient,
        netuid: int,
        settings: ValidatorSettings,
        challenges: ChallengeGenerator | None = None,
        ledger: LedgerStore | None = None,
    ) -> None:
        self.wallet = wallet
        self.chain = chain
        self.netuid = netuid
        self.settings = settings
        self.graphs = MetagraphCache(chain, [netuid, *settings.producer_netuids])
        self.transport = DendriteTransport(wallet)
        self.ledger = ledger or LedgerStore(settings.ledger_url)
        ensure_seeded(self.ledger)
        self.http = HttpTransport()
        secrets = route_secrets(settings.adapter_keys())
        # The validator's own routes to producers, with its own keys: for traps and spot checks. It never
        # calls an address a miner names.
        self.routes = LedgerDirectory(self.ledger, adapters=adapter_route_kinds(), secrets=secrets)
        self.challenges = challenges or ChallengeGenerator(
            seed=settings.seed,
            deadline_ms=settings.deadline_ms,
            trap_rate=settings.trap_rate,
            oracle=ChainOracle(self.http, self.routes),
        )
        self.spot = SpotChecker(
            routes=self.routes,
            http=self.http,
            dendrite=self.transport,
            metagraph=self.producer_graph,
            rate=settings.spot_check_rate,
            max_per_answer=settings.spot_checks_per_answer,
            seed=settings.seed,
            dendrite_requests_per_hour=settings.sn13_requests_per_hour,
            signed=SignedHttpTransport(self.http, wallet.hotkey),
        )
        self.replays = ReplayGuard(memory_s=settings.replay_memory_s)
        self._organic: deque[tuple[Challenge, asyncio.Future[list[Evaluation]]]] = deque()
        self.curator = Curator(
            self.ledger,
            Prober(self.http, secrets),
            validator=self.hotkey,
            quorum=QuorumRule(settings.ledger_quorum, settings.ledger_stake_fraction),
        )
        self.ledger_scores: dict[str, dict[str, float]] = {}
        self.scores: NDArray[np.float64] = np.zeros(0)
        self.hotkeys: list[str] = []
        self.step_count = 0
        self._rng = random.Random(settings.seed)
        self.uid: int | None = None

    @property
    def hotkey(self) -> str:
        return str(self.wallet.hotkey.ss58_address)

    # ----------------------------------------------------------------- metagraph and state

    def sync(self) -> None:
        """Refresh metagraphs and align the score vector with the current hotkeys."""
        self.graphs.refresh()
        graph = self.graphs.get(self.netuid)
        if graph is None:
            raise ConfigError(f"cannot read the metagraph of netuid {self.netuid}")
        self.uid = graph.uid_of(self.hotkey)
        if self.uid is None:
            raise ConfigError(f"validator hotkey {self.hotkey} is not registered on netuid {self.netuid}")
        current = graph.hotkeys
        scores = np.zeros(len(current))
        for uid, hotkey in enumerate(current):
            if uid < len(self.hotkeys) and self.hotkeys[uid] == hotkey:
                scores[uid] = self.scores[uid]  # a new hotkey on a recycled uid starts from zero
        self.scores, self.hotkeys = scores, current

    def miner_uids(self) -> list[int]:
        graph = self.graphs.get(self.netuid)
        if graph is None:
            return []
        return [
            n.uid
            for n in graph.neurons
            if n.is_serving
            and n.uid != self.uid
            and (not n.validator_permit or n.stake <= self.settings.vpermit_tao_limit)
        ]

    def producer_graph(self, netuid: int) -> "MetagraphView | None":
        """The metagraph of a configured producer subnet; None for any other netuid."""
        return self.graphs.get(netuid) if netuid in self.settings.producer_netuids else None

    def producer_hotkeys(self, netuid: int) -> set[str]:
        """Hotkeys a receipt may name on `netuid`: only the configured producer subnets count."""
        graph = self.producer_graph(netuid)
        return set(graph.hotkeys) if graph is not None else set()

    def save_state(self) -> None:
        path = self.settings.state_path
        if path is None:
            return
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        state = {"step": self.step_count, "scores": self.scores.tolist(), "hotkeys": self.hotkeys}
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, path)

    def load_state(self) -> None:
        path = self.settings.state_path
        if path is None or not Path(path).exists():
            return
        try:
            state = json.loads(Path(path).read_text(encoding="utf-8"))
            scores = np.asarray(state["scores"], dtype=float)
            hotkeys = [str(h) for h in state["hotkeys"]]
            step = int(state["step"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable validator state %s: %s", path, exc)
            return
        if len(scores) == len(hotkeys):
            self.scores, self.hotkeys, self.step_count = scores, hotkeys, step

    # ----------------------------------------------------------------- querying and scoring

    async def query(self, uid: int, spec: TaskSpec) -> Answer:
        graph = self.graphs.get(self.netuid)
        assert graph is not None
        neuron = graph.neuron(uid)
        timeout = spec.constraints.deadline_ms / 1000 + self.settings.query_grace_s
        start_ns = time.time_ns()
        started = time.perf_counter()
        response: TaskResult | None = None
        failure: str | None = None
        try:
            answered, _ = await self.transport.call(
                neuron.axon, OrchestrationTask.from_spec(spec), uid=uid, timeout=timeout
            )
            response = answered.deserialize()
            if response is None:
                failure = "the response is not a consistent TaskResult"
        except TransportError as exc:
            failure = str(exc)
        latency = time.perf_counter() - started
        window = TimeWindow(start_ns=start_ns, end_ns=time.time_ns())
        return Answer(
            uid=uid,
            hotkey=neuron.hotkey,
            response=response,
            window=window,
            latency_s=latency,
            failure=failure,
        )

    def check(
        self, spec: TaskSpec, schema: CompiledSchema, answer: Answer, challenge: Challenge | None = None
    ) -> ResponseCheck:
        """Root, receipts (claimed against reuse, bound to the challenge's subject) and schema of one
        answer to `spec`."""
        check = check_response(
            spec,
            schema,
            answer.response,
            miner_hotkey=answer.hotkey,
            window=answer.window,
            producer_hotkeys=self.producer_hotkeys,
            replays=self.replays,
        )
        response = answer.response
        if challenge is None or response is None or not response.receipts:
            return check
        requests = [item.request for item in response.evidence if item is not None]
        if challenge.bound(requests):
            return check
        return check.with_faults({i: ReceiptFault.UNBOUND for i in range(len(response.receipts))})

    async def spot_check(
        self, answer: Answer, check: ResponseCheck
    ) -> tuple[ResponseCheck, list[SpotResult]]:
        """Re-query a sample of the verified receipts the result cites; a mismatch becomes a fault."""
        response = answer.response
        if response is None or not check.usable or not response.receipts:
            return check, []
        cited = {index for indexes in response.provenance.values() for index in indexes}
        eligible = [verdict.ok and i in cited for i, verdict in enumerate(check.verdicts)]
        evidence = response.evidence or [None] * len(response.receipts)
        results = await self.spot.check_answer(response.receipts, evidence, eligible)
        mismatched = {
            r.index: ReceiptFault.SPOT_MISMATCH for r in results if r.outcome is SpotOutcome.MISMATCH
        }
        return (check.with_faults(mismatched) if mismatched else check), results

    def score(
        self, challenge: Challenge, schema: CompiledSchema, answer: Answer, check: ResponseCheck
    ) -> tuple[ScoreBreakdown, tuple[TrapOutcome, ...]]:
        response = answer.response
        traps = challenge.check_traps(response.result if response is not None else None)
        score = score_answer(
            check,
            schema,
            response,
            latency_s=answer.latency_s,
            deadline_s=challenge.spec.constraints.deadline_ms / 1000,
            traps=traps,
        )
        return dataclasses.replace(score, ledger=self.ledger_total(answer.hotkey)), traps

    def ledger_total(self, hotkey: str) -> float:
        return self.ledger_scores.get(hotkey, {}).get("total", 0.0)

    async def ask(self, uids: list[int], task: TaskSpec | Challenge | list[Challenge]) -> list[Evaluation]:
        """Send a task to several miners at once and evaluate every answer (in `uids` order).

        A list gives each miner its own challenge (a step's variants); a `Challenge` goes to every
        miner under a fresh task id each; a bare `TaskSpec` is sent to all as it is. Receipts are
        claimed in the order the answers arrived, so a copy, which can only arrive after its
        original, is the one found reusing them.
        """
        if isinstance(task, list):
            challenges = task
            specs = [c.for_miner() for c in challenges]
        elif isinstance(task, Challenge):
            challenges = [task] * len(uids)
            specs = [task.for_miner() for _ in uids]
        else:
            challenges = [organic(task)] * len(uids)
            specs = [task] * len(uids)
        if len(challenges) != len(uids):
            raise ValueError(f"{len(challenges)} challenges for {len(uids)} miners")
        schemas = [compile_schema(c.spec.target_schema) for c in challenges]
        answers = await asyncio.gather(
            *(self.query(uid, spec) for uid, spec in zip(uids, specs, strict=True))
        )
        checks: list[ResponseCheck | None] = [None] * len(answers)
        for i in sorted(range(len(answers)), key=lambda i: answers[i].window.end_ns):
            checks[i] = self._safely(answers[i], self.check, specs[i], schemas[i], answers[i], challenges[i])
        spots = await asyncio.gather(*(self._spot_safely(a, c) for a, c in zip(answers, checks, strict=True)))
        evaluations = []
        for index, (answer, (check, spot)) in enumerate(zip(answers, spots, strict=True)):
            scored = (
                None
                if check is None
                else self._safely(answer, self.score, challenges[index], schemas[index], answer, check)
            )
            if check is None or scored is None:
                evaluations.append(self._unverifiable(answer))
                continue
            score, traps = scored
            evaluations.append(Evaluation(answer, check, score, traps=traps, spot_checks=tuple(spot)))
        return evaluations

    async def _spot_safely(
        self, answer: Answer, check: ResponseCheck | None
    ) -> tuple[ResponseCheck | None, list[SpotResult]]:
        if check is None:
            return None, []
        try:
            return await self.spot_check(answer, check)
        except Exception:  # a failed re-query proves nothing against the miner
            log.exception("spot checks of uid %d failed", answer.uid)
            return check, []

    def _safely(self, answer: Answer, work: "Callable[..., T]", *args: Any) -> "T | None":
        # One miner's answer, however odd, must not stop the validator from scoring the others.
        try:
            return work(*args)
        except Exception:
            log.exception("evaluating uid %d failed", answer.uid)
            return None

    def _unverifiable(self, answer: Answer) -> Evaluation:
        failed = dataclasses.replace(answer, failure="unverifiable answer")
        score = ScoreBreakdown(ledger=self.ledger_total(answer.hotkey))
        return Evaluation(answer=failed, check=ResponseCheck(answered=True), score=score)

    def submit_organic(self, spec: TaskSpec) -> "asyncio.Future[list[Evaluation]]":
        """Queue a gateway task for the next step; it is sent and scored like a synthetic challenge."""
        future: asyncio.Future[list[Evaluation]] = asyncio.get_running_loop().create_future()
        self._organic.append((organic(spec), future))
        return future

    # ----------------------------------------------------------------- the Ledger

    async def ledger_round(self, uids: list[int]) -> ReviewReport:
        """Collect proposals from `uids`, vote on pending ones, refresh every miner's Ledger score."""
        graph = self.graphs.get(self.netuid)
        assert graph is not None
        head = await asyncio.to_thread(self.ledger.head)

        async def collect(uid: int) -> tuple[str, LedgerSync | None]:
            neuron = graph.neuron(uid)
            try:
                answered, _ = await self.transport.call(
                    neuron.axon, LedgerSync(ledger_head=head), uid=uid, timeout=LEDGER_SYNC_TIMEOUT_S
                )
            except TransportError as exc:
                log.info("uid %d sent no Ledger proposals: %s", uid, exc)
                return neuron.hotkey, None
            return neuron.hotkey, answered

        answers = await asyncio.gather(*(collect(uid) for uid in uids))
        # Submissions are ranked by when they are ingested and the first earns discovery credit:
        # a fresh order each round, so no uid is heard first every time.
        self._rng.shuffle(answers)
        report = ReviewReport()
        for hotkey, answered in answers:
            if answered is None:
                continue
            proposals, malformed = answered.parsed_proposals()
            got = await asyncio.to_thread(self.curator.ingest, hotkey, proposals, malformed=malformed)
            report.received += got.received
            report.malformed += got.malformed
        own = graph.neuron(self.uid) if self.uid is not None else None
        await self.curator.review(stake=own.stake if own is not None else 0.0, report=report)
        self.ledger_scores = await asyncio.to_thread(self._ledger_scores, graph.hotkeys)
        if report.accepted or report.rejected:
            log.info("ledger: accepted %s, rejected %s", report.accepted, report.rejected)
        return report

    def _ledger_scores(self, hotkeys: list[str]) -> dict[str, dict[str, float]]:
        now = datetime.now(timezone.utc)
        since = now - timedelta(days=self.settings.ledger_window_days)
        return {
            hotkey: ledger_score(
                activity(self.ledger, hotkey, since=since, now=now),
                coverage_target=self.settings.ledger_coverage_target,
            )
            for hotkey in hotkeys
            if hotkey != self.hotkey
        }

    async def _next_challenges(
        self, n: int
    ) -> tuple[list[Challenge], "asyncio.Future[list[Evaluation]] | None"]:
        """An organic task for all `n` miners when one waits; else `n` variants of a new challenge."""
        while self._organic:
            challenge, future = self._organic.popleft()
            if not future.cancelled():
                return [challenge] * n, future
        return await self.challenges.draw_set(n), None

    async def step(self) -> StepReport:
        await asyncio.to_thread(self.sync)
        candidates = self.miner_uids()
        # A fresh random sample each step, so every miner is queried over time, not only the lowest uids.
        uids = sorted(self._rng.sample(candidates, min(len(candidates), self.settings.sample_size)))
        challenges, waiting = await self._next_challenges(max(1, len(uids)))
        first = challenges[0]
        report = StepReport(step=self.step_count, task_id=first.spec.task_id, family=first.family)
        if uids and self.step_count % self.settings.ledger_interval_steps == 0:
            try:
                report.ledger = await self.ledger_round(uids)
            except Exception:  # the Ledger round must not cost miners their orchestration scores
                log.exception("ledger round failed")
        if uids:
            report.evaluations = await self.ask(uids, challenges[: len(uids)])
            self._fold(uids, report.evaluations)
        else:
            log.warning("no serving miners on netuid %d", self.netuid)
        if waiting is not None and not waiting.done():
            waiting.set_result(report.evaluations)
        self.step_count += 1
        if self.step_count % self.settings.weights_interval_steps == 0:
            report.weights = await asyncio.to_thread(self.set_weights)
        self.save_state()
        return report

    def _fold(self, uids: list[int], evaluations: list[Evaluation]) -> None:
        """Fold a step's scores into the EMA; a miner caught fabricating starts again from zero."""
        for evaluation in evaluations:
            if evaluation.fabricated:
                log.warning(
                    "uid %d: a re-queried call was answered differently; EMA reset", evaluation.answer.uid
                )
                self.scores[evaluation.answer.uid] = 0.0
        self.scores = ema(self.scores, uids, [e.score.total for e in evaluations], self.settings.alpha)
        for evaluation in evaluations:
            log.info(
                "uid %d: %s%s",
                evaluation.answer.uid,
                evaluation.score.as_dict(),
                f" ({evaluation.answer.failure})" if evaluation.answer.failure else "",
            )

    def set_weights(self) -> WeightsOutcome:
        try:
            outcome = self.chain.set_weights(
                self.wallet,
                self.netuid,
                list(range(len(self.scores))),
                self.scores.tolist(),
                version_key=SPEC_VERSION,
            )
        except OrchestraError as exc:
            log.error("setting weights failed: %s", exc)
            return WeightsOutcome(False, str(exc), [], [])
        (log.info if outcome.success else log.warning)("set_weights: %s", outcome.message)
        return outcome

    async def run(self, stop: asyncio.Event, *, steps: int | None = None) -> None:
        """Validate until `stop` is set (or `steps` steps have run)."""
        self.load_state()
        try:
            while not stop.is_set() and (steps is None or self.step_count < steps):
                pause = self.settings.step_interval_s
                try:
                    await self.step()
                except ConfigError:
                    raise
                except Exception:  # chain hiccups and bugs: log, keep the validator alive, try again
                    log.exception("validation step %d failed", self.step_count)
                    pause = max(pause, FAILED_STEP_PAUSE_S)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        await self.transport.aclose()
        await self.http.aclose()
        self.ledger.close()
