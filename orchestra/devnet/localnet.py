"""`orchestra localnet`: the whole subnet in one process on 127.0.0.1.

A devnet chain hosts Orchestra's subnet and an emulated SN13; two SN13 stand-in miners serve real
Axons, a Desearch stand-in serves HTTP; two honest Orchestra miners and one validator run the real
neuron code (see `orchestra/devnet/network.py`). One demo job (the GPU-pricing objective) goes to a
miner and is verified, then the validator runs its steps, scores the miners and sets weights, which
are read back from the chain.

The producers are the stand-ins of SN13 (miner axons and the on-demand API), SN22 (the Desearch API
and pre-2.0 miner axons), SN64 Chutes and SN4 Targon (OpenAI-compatible inference) and SN19
Blockmachine (JSON-RPC). `faults` makes named providers fail (`desearch=5xx:0.3,...`, see
`orchestra/devnet/faults.py`); `jobs` then sends that many challenges to the miners and counts how
many came back valid, invalid or failed.

Scenario `adversarial` runs eight miners instead of two: two honest, one slow but honest, and the
five cheaters of `orchestra/devnet/adversaries.py` (lazy, fabricator, replayer, copier, schema-only),
with a shorter task deadline. It passes when every honest miner, the slow one included, ends with a
weight on chain strictly above every cheater's.

Scenario `schema-drift` then changes the Desearch stand-in's response schema and follows the Ledger
end to end: the miners' probes notice, they propose a fix, the validator re-probes and accepts it as
a new `breaking` version, a subscribed webhook receives it, and the miners' Ledger scores rise.
"""

import asyncio
import logging
import statistics
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledger.api.keys import KeyStore, Tier
from ledger.api.settings import LedgerApiSettings
from ledger.api.webhooks import WebhookDispatcher, WebhookRegistry, WebhookSpec
from orchestra.config import SN13_NETUID, SN22_NETUID, ValidatorSettings
from orchestra.devnet.adversaries import ADVERSARIAL_LINEUP, MinerKind
from orchestra.devnet.faults import parse_faults
from orchestra.devnet.ledger import WebhookReceiver
from orchestra.devnet.network import LocalNetwork
from orchestra.validator.challenges import ChallengeGenerator
from orchestra.validator.neuron import Evaluation, Validator
from protocol.models import Constraints, TaskSpec

log = logging.getLogger(__name__)

DEFAULT_NETUID = 1
SCENARIOS = ("honest", "schema-drift", "adversarial")
# Short enough that ten steps with a slow miner (40 % of it per answer) stay quick.
ADVERSARIAL_DEADLINE_MS = 6_000
DEMO_OBJECTIVE = (
    "Research the H100 GPU cloud pricing and strengths of the top 3 competitors, and recommend a price point "
    "for our new decentralised GPU rental service."
)
DEMO_SCHEMA: dict[str, Any] = {
    "competitors": [{"name": "str", "pricing": "dict", "strengths": "list"}],
    "recommendation": {"price_point": "float", "rationale": "str"},
}


@dataclass
class ReceiptLine:
    step_id: str
    call: str
    provider: str
    status: str
    latency_ms: float
    verified: bool
    producer_signed: bool
    faults: list[str]


@dataclass
class MinerLine:
    uid: int
    hotkey: str
    score: float
    weight: float
    kind: str = MinerKind.HONEST.value


@dataclass
class LocalnetReport:
    job: dict[str, Any]
    receipts: list[ReceiptLine]
    miners: list[MinerLine]
    weights_set: bool
    summary: str | None
    error: str | None
    step_scores: list[dict[int, float]] = field(default_factory=list)
    ledger: dict[str, Any] | None = None
    reliability: dict[str, Any] | None = None
    adversarial: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """The demo job verified, weights were set, and every miner earned weight; in the adversarial
        scenario, every honest miner outweighs every cheater instead (cheaters may well get none)."""
        job = self.job
        earned = (
            bool(self.adversarial["separated"])
            if self.adversarial is not None
            else all(m.weight > 0 for m in self.miners)
        )
        return (
            bool(job["valid"])
            and job["receipts"] > 0
            and job["receipts_verified"] == job["receipts"]
            and self.weights_set
            and bool(self.miners)
            and earned
            and (self.ledger is None or drift_followed(self.ledger))
            and (self.reliability is None or self.reliability["invalid"] == 0)
        )

    def as_json(self) -> dict[str, Any]:
        out = {
            "job": self.job,
            "miners": [
                {
                    "uid": m.uid,
                    "hotkey": m.hotkey,
                    "kind": m.kind,
                    "score": round(m.score, 6),
                    "weight": round(m.weight, 6),
                }
                for m in self.miners
            ],
            "weights_set": self.weights_set,
        }
        if self.ledger is not None:
            out["ledger"] = self.ledger
        if self.reliability is not None:
            out["reliability"] = self.reliability
        if self.adversarial is not None:
            out["adversarial"] = self.adversarial
        return out


def drift_followed(ledger: dict[str, Any]) -> bool:
    """Whether the schema-drift scenario went all the way: detected, accepted, breaking, delivered,
    and every detecting miner's Ledger score went up."""
    scores = ledger["ledger_scores"]
    return (
        bool(ledger["detected_by"])
        and bool(ledger["accepted"])
        and ledger["compatibility"] == "breaking"
        and ledger["webhook"]["events"] >= 1
        and ledger["webhook"]["signatures_valid"]
        and all(scores[str(uid)]["after"] > scores[str(uid)]["before"] for uid in ledger["detected_by"])
    )


def adversarial_summary(miners: list[MinerLine], steps: list[dict[int, dict[str, float]]]) -> dict[str, Any]:
    """Weights and scores by miner kind, and whether every honest miner (slow included) ends with a
    weight strictly above every cheater's. `steps` holds each step's score breakdown by uid."""
    honest = [m for m in miners if m.kind == MinerKind.HONEST.value]
    slow = [m for m in miners if m.kind == MinerKind.SLOW.value]
    cheaters = [m for m in miners if MinerKind(m.kind).cheats]
    kinds = {m.uid: m.kind for m in miners}
    components: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for step in steps:
        for uid, breakdown in step.items():
            for name, value in breakdown.items():
                components[kinds.get(uid, MinerKind.HONEST.value)][name].append(value)
    ema_by_kind: dict[str, list[float]] = defaultdict(list)
    for m in miners:
        ema_by_kind[m.kind].append(m.score)
    paid = honest + slow
    return {
        "honest_min_weight": min((m.weight for m in honest), default=0.0),
        "slow_min_weight": min((m.weight for m in slow), default=None),
        "cheater_max_weight": max((m.weight for m in cheaters), default=0.0),
        "mean_score_by_kind": {kind: round(statistics.fmean(s), 6) for kind, s in ema_by_kind.items()},
        "mean_step_scores_by_kind": {
            kind: {name: round(statistics.fmean(values), 4) for name, values in parts.items()}
            for kind, parts in components.items()
        },
        "separated": bool(paid)
        and bool(cheaters)
        and min(m.weight for m in paid) > max(m.weight for m in cheaters),
    }


Progress = Callable[[str], None]


async def run_localnet(
    *,
    steps: int = 3,
    netuid: int = DEFAULT_NETUID,
    progress: Progress | None = None,
    seed: int | None = None,
    scenario: str = "honest",
    faults: str | None = None,
    jobs: int = 0,
    concurrency: int = 4,
) -> LocalnetReport:
    """Start everything, run the demo job and `steps` validator steps, then the scenario and `jobs`
    reliability jobs under `faults`; stop. The adversarial scenario starts its eight miners up front."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    say = progress or log.info
    say("creating wallets and the devnet chain")
    network = LocalNetwork(netuid=netuid)
    try:
        say("starting the emulated producers (SN13, SN22, SN64, SN4, SN19)")
        network.start_producers(sn22_miners=2, extended=True, seed=seed)
        if faults:
            network.set_faults(parse_faults(faults, network.faults))
        adversarial = scenario == "adversarial"
        settings = ValidatorSettings(
            step_interval_s=0,
            weights_interval_steps=max(1, steps),
            producer_netuids=[SN13_NETUID, SN22_NETUID],
            seed=seed,
            ledger_interval_steps=1,
        )
        if adversarial:
            settings = settings.model_copy(update={"deadline_ms": ADVERSARIAL_DEADLINE_MS})
        validator = network.add_validator(settings=settings)
        kinds = ADVERSARIAL_LINEUP if adversarial else (MinerKind.HONEST, MinerKind.HONEST)
        cheaters = sum(1 for kind in kinds if kind.cheats)
        say(f"starting {len(kinds)} Orchestra miners" + (f" ({cheaters} of them cheat)" if cheaters else ""))
        for index, kind in enumerate(kinds):
            network.add_miner(f"miner-{index + 1}", kind=kind)
        network.refresh()

        say("running the demo job")
        spec = TaskSpec(
            task_id=uuid.uuid4().hex,
            objective=DEMO_OBJECTIVE,
            target_schema=DEMO_SCHEMA,
            constraints=Constraints(deadline_ms=30_000),
        )
        [demo] = await validator.ask([validator.miner_uids()[0]], spec)

        step_scores = []
        step_breakdowns: list[dict[int, dict[str, float]]] = []
        weights_set = False
        for index in range(steps):
            say(f"validator step {index + 1}/{steps}")
            report = await validator.step()
            step_scores.append({e.answer.uid: round(e.score.total, 4) for e in report.evaluations})
            step_breakdowns.append({e.answer.uid: e.score.as_dict() for e in report.evaluations})
            if report.weights is not None:
                weights_set = report.weights.success
            network.devnet.advance(1)
        if steps == 0:
            weights_set = validator.set_weights().success

        assert validator.uid is not None
        on_chain = network.chain.weights(netuid).get(validator.uid, {})
        lines = [
            MinerLine(
                uid=uid,
                hotkey=validator.hotkeys[uid],
                score=float(validator.scores[uid]),
                weight=on_chain.get(uid, 0.0),
                kind=network.kind_of(validator.hotkeys[uid]).value,
            )
            for uid in validator.miner_uids()
        ]
        outcome = _report(demo, lines, weights_set, step_scores)
        if adversarial:
            outcome.adversarial = adversarial_summary(lines, step_breakdowns)
        if scenario == "schema-drift":
            outcome.ledger = await schema_drift(network, validator, say)
        if jobs > 0:
            outcome.reliability = await reliability(
                network, validator, jobs, say, seed=seed, concurrency=concurrency
            )
            outcome.reliability["faults"] = faults or ""
        return outcome
    finally:
        await network.aclose()


async def schema_drift(network: LocalNetwork, validator: Validator, say: Progress) -> dict[str, Any]:
    """Change SN22's response schema and follow the change through the Ledger (see module docstring)."""
    assert network.desearch is not None
    uids = validator.miner_uids()
    before = {uid: validator.ledger_total(validator.hotkeys[uid]) for uid in uids}
    key = KeyStore(validator.ledger).create("devnet subscriber", Tier.DEVELOPER)
    receiver = WebhookReceiver().start()
    dispatcher = WebhookDispatcher(validator.ledger, LedgerApiSettings(devnet=True))
    try:
        hook = WebhookRegistry(validator.ledger, devnet=True).create(
            key.id, WebhookSpec(url=receiver.url, netuids=[SN22_NETUID])
        )
        receiver.secret = hook.secret
        say("the Desearch stand-in changes its response schema (link -> url)")
        network.desearch.drifted = True
        detected = []
        for miner in network.miners:
            probes = await miner.probes.run_once()
            if probes.drifted:
                detected.append(validator.hotkeys.index(miner.hotkey))
        say("the validator collects the miners' proposals and re-probes")
        review = await validator.ledger_round(uids)
        await dispatcher.run_once()
        [latest] = validator.ledger.history(SN22_NETUID, limit=1)
        after = {uid: validator.ledger_total(validator.hotkeys[uid]) for uid in uids}
    finally:
        await dispatcher.aclose()
        receiver.stop()
        network.desearch.drifted = False
    return {
        "detected_by": sorted(detected),
        "accepted": review.accepted,
        "rejected": review.rejected,
        "netuid": SN22_NETUID,
        "version": latest.version,
        "compatibility": latest.compatibility.value,
        "changes": [change["path"] for change in latest.changes],
        "verification": latest.entry.verification.value,
        "proposed_by": latest.proposed_by,
        "evidence_digest": latest.evidence_digest,
        "webhook": {
            "events": len(receiver.events),
            "signatures_valid": all(event.signature_valid for event in receiver.events),
            "compatibility": [event.payload.get("compatibility") for event in receiver.events],
        },
        "ledger_scores": {str(uid): {"before": before[uid], "after": after[uid]} for uid in uids},
    }


async def reliability(
    network: LocalNetwork,
    validator: Validator,
    jobs: int,
    say: Progress,
    *,
    seed: int | None = None,
    concurrency: int = 4,
) -> dict[str, Any]:
    """Send `jobs` challenges round-robin to the miners, `concurrency` at a time, and count outcomes.

    A job is valid when its result validates against the target schema and its proof root checks
    out; invalid when it returned a result that does not; failed when it returned a typed error.
    """
    generator = ChallengeGenerator(seed=seed)
    uids = validator.miner_uids()
    counts: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    slots = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        spec = generator.next().spec
        async with slots:
            [evaluation] = await validator.ask([uids[index % len(uids)]], spec)
        response = evaluation.answer.response
        latencies.append(evaluation.answer.latency_s * 1000)
        if response is not None and response.result is not None:
            ok = evaluation.check.result_valid and evaluation.check.root_ok
            counts["valid" if ok else "invalid"] += 1
        else:
            counts["failed"] += 1
            code = response.error.code.value if response is not None and response.error else "no_answer"
            errors[code] += 1
        done = sum(counts.values())
        if done % 20 == 0:
            say(f"reliability jobs {done}/{jobs}: {counts['valid']} valid")

    await asyncio.gather(*(one(i) for i in range(jobs)))
    latencies.sort()
    return {
        "jobs": jobs,
        "valid": counts["valid"],
        "invalid": counts["invalid"],
        "failed": counts["failed"],
        "valid_share": round(counts["valid"] / jobs, 4),
        "errors": dict(errors),
        "latency_ms_p50": round(latencies[len(latencies) // 2], 1),
        "latency_ms_p95": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))], 1),
        "faults_drawn": {name: dict(injector.counts) for name, injector in network.faults.items()},
    }


def _report(
    demo: Evaluation, miners: list[MinerLine], weights_set: bool, step_scores: list[dict[int, float]]
) -> LocalnetReport:
    response = demo.answer.response
    receipts = []
    if response is not None:
        for receipt, verdict in zip(response.receipts, demo.check.verdicts, strict=True):
            provider = receipt.provider
            who = f"uid {provider.uid}" if provider.uid is not None else str(provider.host)
            receipts.append(
                ReceiptLine(
                    step_id=receipt.step_id,
                    call=f"{receipt.route.value} {receipt.operation}",
                    provider=f"SN{receipt.netuid} {who}",
                    status=receipt.status.value,
                    latency_ms=receipt.latency_ms,
                    verified=verdict.ok,
                    producer_signed=verdict.producer_signed,
                    faults=[f.value for f in verdict.faults],
                )
            )
    error = demo.answer.failure or (
        f"{response.error.code.value}: {response.error.message}" if response and response.error else None
    )
    job = {
        "valid": bool(
            response is not None
            and response.result is not None
            and demo.check.result_valid
            and demo.check.root_ok
        ),
        "result": response.result if response is not None else None,
        "receipts": len(receipts),
        "receipts_verified": demo.check.receipts_verified,
        "proof_root": response.proof_root if response is not None else None,
        "latency_ms": round(demo.answer.latency_s * 1000, 3),
    }
    return LocalnetReport(
        job=job,
        receipts=receipts,
        miners=miners,
        weights_set=weights_set,
        summary=response.summary if response is not None else None,
        error=error,
        step_scores=step_scores,
    )
