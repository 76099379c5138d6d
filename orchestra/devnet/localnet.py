"""`orchestra localnet`: the whole subnet in one process on 127.0.0.1.

A devnet chain hosts Orchestra's subnet and an emulated SN13; two SN13 stand-in miners serve real
Axons, a Desearch stand-in serves HTTP; two honest Orchestra miners and one validator run the real
neuron code (see `orchestra/devnet/network.py`). One demo job (the GPU-pricing objective) goes to a
miner and is verified, then the validator runs its steps, scores the miners and sets weights, which
are read back from the chain.
"""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestra.config import SN13_NETUID, ValidatorSettings
from orchestra.devnet.network import LocalNetwork
from orchestra.validator.neuron import Evaluation
from protocol.models import Constraints, TaskSpec

log = logging.getLogger(__name__)

DEFAULT_NETUID = 1
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


@dataclass
class LocalnetReport:
    job: dict[str, Any]
    receipts: list[ReceiptLine]
    miners: list[MinerLine]
    weights_set: bool
    summary: str | None
    error: str | None
    step_scores: list[dict[int, float]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        job = self.job
        return (
            bool(job["valid"])
            and job["receipts"] > 0
            and job["receipts_verified"] == job["receipts"]
            and self.weights_set
            and bool(self.miners)
            and all(m.weight > 0 for m in self.miners)
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "miners": [
                {"uid": m.uid, "hotkey": m.hotkey, "score": round(m.score, 6), "weight": round(m.weight, 6)}
                for m in self.miners
            ],
            "weights_set": self.weights_set,
        }


Progress = Callable[[str], None]


async def run_localnet(
    *, steps: int = 3, netuid: int = DEFAULT_NETUID, progress: Progress | None = None, seed: int | None = None
) -> LocalnetReport:
    """Start everything, run the demo job and `steps` validator steps, stop everything."""
    say = progress or log.info
    say("creating wallets and the devnet chain")
    network = LocalNetwork(netuid=netuid)
    try:
        say("starting the emulated producers (SN13 axons, Desearch API)")
        network.start_producers()
        validator = network.add_validator(
            settings=ValidatorSettings(
                step_interval_s=0,
                weights_interval_steps=max(1, steps),
                producer_netuids=[SN13_NETUID],
                seed=seed,
            )
        )
        say("starting two Orchestra miners")
        network.add_miner("miner-1")
        network.add_miner("miner-2")
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
        weights_set = False
        for index in range(steps):
            say(f"validator step {index + 1}/{steps}")
            report = await validator.step()
            step_scores.append({e.answer.uid: round(e.score.total, 4) for e in report.evaluations})
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
            )
            for uid in validator.miner_uids()
        ]
        return _report(demo, lines, weights_set, step_scores)
    finally:
        await network.aclose()


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
