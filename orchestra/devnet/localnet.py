"""`orchestra localnet`: the whole subnet in one process on 127.0.0.1.

A devnet chain hosts Orchestra's subnet and an emulated SN13; two SN13 stand-in miners serve real
Axons, a Desearch stand-in serves HTTP; two honest Orchestra miners and one validator run the real
neuron code. One demo job (the GPU-pricing objective) goes to a miner and is verified, then the
validator runs its steps, scores the miners and sets weights, which are read back from the chain.

Orchestra miners are registered on the emulated SN13 as permit-holding validators with 20,000 TAO:
real SN13 miners answer no one else, so that is what calling SN13 by dendrite takes.
"""

import logging
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestra.chain import ChainClient
from orchestra.config import SN13_NETUID, SN22_NETUID, MinerSettings, ValidatorSettings
from orchestra.devnet.data_universe import DataUniverseEmulator
from orchestra.devnet.desearch import DesearchEmulator
from orchestra.devnet.wallets import make_wallet
from orchestra.miner.neuron import Miner
from orchestra.ports import LOOPBACK, free_port
from orchestra.routing import RouteSpec
from orchestra.validator.neuron import Evaluation, Validator
from protocol.models import Constraints, RouteKind, TaskSpec

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
VALIDATOR_STAKE_TAO = 10_000.0
MINER_STAKE_TAO = 10.0
SN13_VALIDATOR_STAKE_TAO = 20_000.0


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
    say = progress or (lambda message: log.info(message))
    workdir = Path(tempfile.mkdtemp(prefix="orchestra-localnet-"))
    started: list[Any] = []
    miners: list[Miner] = []
    validator: Validator | None = None
    try:
        say("creating wallets and the devnet chain")
        chain = ChainClient.connect("mock")
        devnet = chain.subtensor
        devnet.create_subnet(netuid)
        devnet.create_subnet(SN13_NETUID)
        wallets = {
            name: make_wallet(workdir / "wallets", name)
            for name in ("validator", "miner-1", "miner-2", "sn13-a", "sn13-b")
        }

        def register(name: str, on: int, stake: float, permit: bool) -> int:
            w = wallets[name]
            return int(
                devnet.register(
                    on,
                    w.hotkey.ss58_address,
                    w.coldkeypub.ss58_address,
                    stake_tao=stake,
                    validator_permit=permit,
                )
            )

        register("validator", netuid, VALIDATOR_STAKE_TAO, True)
        for name in ("miner-1", "miner-2"):
            register(name, netuid, MINER_STAKE_TAO, False)
            register(name, SN13_NETUID, SN13_VALIDATOR_STAKE_TAO, True)
        for name in ("sn13-a", "sn13-b"):
            register(name, SN13_NETUID, 100.0, False)

        say("starting the emulated producers (SN13 axons, Desearch API)")
        for name in ("sn13-a", "sn13-b"):
            started.append(DataUniverseEmulator(wallets[name], chain, SN13_NETUID).start())
        api_key = secrets.token_urlsafe(24)
        desearch = DesearchEmulator(api_key=api_key).start()
        started.append(desearch)

        routes = devnet_routes(desearch.url, api_key)
        say("starting two Orchestra miners")
        for name in ("miner-1", "miner-2"):
            port = free_port()
            miner = Miner(
                wallet=wallets[name],
                chain=chain,
                netuid=netuid,
                settings=MinerSettings(),
                routes=routes,
                port=port,
                external_ip=LOOPBACK,
                bind_host=LOOPBACK,
            )
            miners.append(miner.start())

        validator = Validator(
            wallet=wallets["validator"],
            chain=chain,
            netuid=netuid,
            settings=ValidatorSettings(
                step_interval_s=0,
                weights_interval_steps=max(1, steps),
                producer_netuids=[SN13_NETUID],
                seed=seed,
            ),
        )
        validator.sync()

        say("running the demo job")
        spec = TaskSpec(
            task_id=uuid.uuid4().hex,
            objective=DEMO_OBJECTIVE,
            target_schema=DEMO_SCHEMA,
            constraints=Constraints(deadline_ms=30_000),
        )
        miner_uid = validator.miner_uids()[0]
        [demo] = await validator.ask([miner_uid], spec)

        step_scores = []
        weights_set = False
        for index in range(steps):
            say(f"validator step {index + 1}/{steps}")
            report = await validator.step()
            step_scores.append({e.answer.uid: round(e.score.total, 4) for e in report.evaluations})
            if report.weights is not None:
                weights_set = report.weights.success
            devnet.advance(1)
        if steps == 0:
            weights_set = validator.set_weights().success

        on_chain = chain.weights(netuid).get(validator.uid or 0, {})
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
        for miner in miners:
            await miner.aclose()
        if validator is not None:
            await validator.transport.aclose()
        for server in started:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def devnet_routes(desearch_url: str, api_key: str) -> list[RouteSpec]:
    return [
        RouteSpec(
            name="sn22-desearch-devnet",
            netuid=SN22_NETUID,
            kind=RouteKind.HTTP,
            adapter="desearch",
            capabilities=("web_search", "social_search"),
            endpoint=desearch_url,
            api_key=api_key,
            timeout_s=10.0,
        ),
        RouteSpec(
            name="sn13-data-universe-devnet",
            netuid=SN13_NETUID,
            kind=RouteKind.DENDRITE,
            adapter="data_universe",
            capabilities=("social_data",),
            timeout_s=10.0,
        ),
    ]


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
