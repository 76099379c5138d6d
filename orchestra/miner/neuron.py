"""The miner neuron: serves `OrchestrationTask` and `LedgerSync` on a bittensor Axon.

Routes come from the miner's Ledger store (seeded on first start), ranked by measured health; every
real call and every probe round adds to that health. Probes that find a route's answer drifting from
its stored schema queue a proposal, which validators collect with `LedgerSync`.

Kept free of `from __future__ import annotations`: `Axon.attach` inspects the forward and blacklist
annotations at runtime and needs real classes (and `typing.Tuple` for the blacklist).
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Tuple  # noqa: UP035 - Axon.attach compares the blacklist signature to typing.Tuple

import bittensor as bt

from ledger.probes import Prober, ProbeRunner, SampleBuffer
from ledger.seed import ensure_seeded
from ledger.store import LedgerStore
from orchestra.adapters import adapter_route_kinds, default_adapters
from orchestra.chain import ChainClient, MetagraphCache, MetagraphView
from orchestra.config import MinerSettings, load_routes, route_secrets
from orchestra.errors import ConfigError, OrchestraError
from orchestra.executor import Executor, HedgePolicy, RetryPolicy
from orchestra.miner.service import OrchestrationService, parse_request
from orchestra.planner import BlueprintPlanner, load_blueprints
from orchestra.ports import wait_for_port
from orchestra.routing import LedgerDirectory, ProviderHealth, Router, RouteSpec
from orchestra.transports.dendrite import DendriteTransport
from orchestra.transports.http import HttpTransport
from orchestra.transports.signed_http import SignedHttpTransport
from protocol.ledger_sync import MAX_PROPOSALS, LedgerSync
from protocol.models import CallReceipt, CallStatus, ErrorCode, RouteKind, TaskError, TaskResult, TaskSpec
from protocol.synapse import OrchestrationTask
from protocol.version import PROTOCOL_VERSION

log = logging.getLogger(__name__)


def build_service(
    wallet: "bt.Wallet",
    router: Router,
    settings: MinerSettings,
    *,
    http: HttpTransport,
    samples: SampleBuffer | None = None,
) -> OrchestrationService:
    """Wire planner, router, transports, adapters and synthesiser for one miner."""
    needs_dendrite = any(route.kind is RouteKind.DENDRITE for route in router.routes)
    if router.health is None:
        router.health = ProviderHealth(
            failure_threshold=settings.breaker_failures, cooldown_s=settings.breaker_cooldown_s
        )
    executor = Executor(
        router,
        default_adapters(sn13_requests_per_hour=settings.sn13_requests_per_hour),
        http=http,
        dendrite=DendriteTransport(wallet) if needs_dendrite else None,
        signed=SignedHttpTransport(http, wallet.hotkey),
        max_calls=settings.max_calls_per_job,
        observer=_health_observer(samples) if samples is not None else None,
        retry=RetryPolicy(rounds=settings.retry_rounds),
        hedge=HedgePolicy(enabled=settings.hedge),
        step_timeout_s=settings.step_timeout_s,
    )
    return OrchestrationService(
        BlueprintPlanner(load_blueprints()),
        executor,
        max_evidence_bytes=settings.max_evidence_bytes,
        llm_planner=settings.llm_planner,
        llm_synthesis=settings.llm_synthesis,
    )


def _health_observer(samples: SampleBuffer) -> "Callable[[RouteSpec, CallReceipt], None]":
    def observe(route: RouteSpec, receipt: CallReceipt) -> None:
        # Operator-listed routes have no Ledger health record; a cancelled hedge says nothing of health.
        if route.ledger_route is not None and receipt.status is not CallStatus.CANCELLED:
            samples.observe(
                route.netuid,
                route.ledger_route,
                ok=receipt.status is CallStatus.OK,
                latency_ms=receipt.latency_ms,
                error=None if receipt.status is CallStatus.OK else receipt.status.value,
            )

    return observe


class Miner:
    """One Orchestra miner: an Axon in front of an `OrchestrationService`."""

    def __init__(
        self,
        *,
        wallet: "bt.Wallet",
        chain: ChainClient,
        netuid: int,
        settings: MinerSettings,
        routes: list[RouteSpec] | None = None,
        ledger: LedgerStore | None = None,
        port: int = 8091,
        external_ip: str | None = None,
        external_port: int | None = None,
        bind_host: str | None = None,
    ) -> None:
        self.wallet = wallet
        self.chain = chain
        self.netuid = netuid
        self.settings = settings
        self.ledger = ledger or LedgerStore(settings.ledger_url)
        ensure_seeded(self.ledger)
        secrets = route_secrets(settings.adapter_keys())
        self.http = HttpTransport()
        self.samples = SampleBuffer()
        if routes is None and settings.routes_file:
            routes = load_routes(Path(settings.routes_file))
        if routes is not None:  # an operator's explicit list replaces the Ledger's routes
            router = Router(routes, self._metagraph)
        else:
            directory = LedgerDirectory(self.ledger, adapters=adapter_route_kinds(), secrets=secrets)
            router = Router(directory, self._metagraph, rank=directory.rank)
        producer_netuids = [r.netuid for r in router.routes if r.kind is RouteKind.DENDRITE]
        self.graphs = MetagraphCache(chain, [netuid, *producer_netuids])
        self.service = build_service(wallet, router, settings, http=self.http, samples=self.samples)
        _check_servable(self.service)
        self.probes = ProbeRunner(self.ledger, Prober(self.http, secrets), proposer=self.hotkey)
        self._slots = asyncio.Semaphore(settings.max_concurrent_jobs)
        self.port = port
        self.axon = bt.Axon(
            wallet=wallet, port=port, external_ip=external_ip, external_port=external_port or port
        )
        if bind_host is not None:
            self.axon.fast_config.host = bind_host  # bittensor binds 0.0.0.0 unless told otherwise
        self.axon.attach(forward_fn=self.forward, blacklist_fn=self.blacklist)
        self.axon.attach(forward_fn=self.forward_ledger, blacklist_fn=self.blacklist_ledger)

    def _metagraph(self, netuid: int) -> "MetagraphView | None":
        return self.graphs.get(netuid)

    @property
    def routes(self) -> list[RouteSpec]:
        return self.service.executor.router.routes

    @property
    def hotkey(self) -> str:
        return str(self.wallet.hotkey.ss58_address)

    def start(self) -> "Miner":
        """Check registration, load metagraphs, start the Axon and publish it on chain."""
        if not self.chain.is_registered(self.hotkey, self.netuid):
            raise ConfigError(
                f"hotkey {self.hotkey} is not registered on netuid {self.netuid}; "
                "register it first: python scripts/testnet.py register --netuid N --wallet.name W "
                "--wallet.hotkey H"
            )
        self.graphs.refresh()
        self.axon.start()
        wait_for_port(self.port, host=self.axon.fast_config.host)
        self.chain.serve_axon(self.netuid, self.axon)
        log.info(
            "miner %s serving on port %d with routes %s",
            self.hotkey,
            self.port,
            [r.name for r in self.routes],
        )
        return self

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set: refresh metagraphs every `sync_interval_s`, probe the Ledger's
        routes every `probe_interval_s`."""
        self.start()
        loop = asyncio.get_running_loop()
        next_sync = next_probe = loop.time()
        try:
            while not stop.is_set():
                now = loop.time()
                if now >= next_probe:
                    await self.maintain_ledger()
                    next_probe = now + self.settings.probe_interval_s
                if now >= next_sync:
                    await asyncio.to_thread(self.graphs.refresh)
                    next_sync = now + self.settings.sync_interval_s
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(
                        stop.wait(), timeout=max(0.0, min(next_sync, next_probe) - loop.time())
                    )
        finally:
            await self.aclose()

    async def maintain_ledger(self) -> None:
        """One probe round over the Ledger's routes, and the health of real calls since the last one."""
        try:
            report = await self.probes.run_once()
            flushed = await asyncio.to_thread(self.samples.flush, self.ledger)
        except Exception:  # the Ledger is a side job: a failing probe round must not stop serving
            log.exception("ledger probe round failed")
            return
        log.info(
            "ledger: probed %d routes (%d failed, %d drifted, %d proposals), %d call samples",
            report.probed,
            report.failed,
            report.drifted,
            len(report.proposals),
            flushed,
        )

    async def aclose(self) -> None:
        # Stop taking requests first: a forward still running must not find its clients closed.
        self.axon.stop()
        await self.service.aclose()
        await self.http.aclose()
        await asyncio.to_thread(self.samples.flush, self.ledger)
        self.ledger.close()

    async def forward_ledger(self, synapse: LedgerSync) -> LedgerSync:
        limit = max(0, min(int(synapse.max_proposals), MAX_PROPOSALS))
        proposals = await asyncio.to_thread(self.probes.outbox, limit)
        synapse.proposals = [p.model_dump(mode="json") for p in proposals]
        return synapse

    async def blacklist_ledger(self, synapse: LedgerSync) -> Tuple[bool, str]:  # noqa: UP006
        return await self._refuse(synapse)

    async def forward(self, synapse: OrchestrationTask) -> OrchestrationTask:
        try:
            spec = parse_request(
                synapse.task_id, synapse.objective, synapse.target_schema, synapse.constraints
            )
        except OrchestraError as exc:
            return synapse.fill(TaskResult(task_id=str(synapse.task_id)[:128], error=exc.to_task_error()))
        if synapse.protocol_version.split(".")[0] != PROTOCOL_VERSION.split(".")[0]:
            message = (
                f"protocol {synapse.protocol_version} is not compatible with this miner's {PROTOCOL_VERSION}"
            )
            return synapse.fill(
                TaskResult(
                    task_id=spec.task_id, error=TaskError(code=ErrorCode.INVALID_REQUEST, message=message)
                )
            )
        if not await self._take_slot():
            busy = TaskError(code=ErrorCode.OVERLOADED, message="all task slots are busy; retry later")
            return synapse.fill(TaskResult(task_id=spec.task_id, error=busy))
        try:
            outcome = await self.answer(spec)
        except Exception:  # a bug must not take the axon down; the caller still gets a typed answer
            log.exception("task %s failed unexpectedly", spec.task_id)
            outcome = TaskResult(
                task_id=spec.task_id,
                error=TaskError(code=ErrorCode.INTERNAL, message="the miner failed unexpectedly"),
            )
        finally:
            self._slots.release()
        return synapse.fill(outcome)

    async def answer(self, spec: TaskSpec) -> TaskResult:
        """The task's outcome. A seam for the devnet's adversarial miners (`orchestra/devnet/adversaries.py`),
        which override it to cheat so that validators can be tested against them."""
        return await self.service.handle(spec)

    async def _take_slot(self) -> bool:
        if not self._slots.locked():
            await self._slots.acquire()  # a free slot is taken at once, whatever the queue timeout
            return True
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=self.settings.queue_timeout_s)
        except asyncio.TimeoutError:
            return False
        return True

    async def blacklist(self, synapse: OrchestrationTask) -> Tuple[bool, str]:  # noqa: UP006
        return await self._refuse(synapse)

    async def _refuse(self, synapse: "bt.Synapse") -> Tuple[bool, str]:  # noqa: UP006
        hotkey = synapse.dendrite.hotkey if synapse.dendrite is not None else None
        if not hotkey:
            return True, "Missing hotkey"
        graph = self.graphs.get(self.netuid)
        neuron = graph.by_hotkey(hotkey) if graph is not None else None
        if neuron is None:
            if self.settings.blacklist_allow_non_registered:
                return False, "Unregistered hotkey allowed"
            return True, "Unrecognized hotkey"
        if self.settings.blacklist_force_validator_permit and not neuron.validator_permit:
            return True, "Non-validator hotkey"
        if neuron.stake < self.settings.blacklist_min_stake:
            return True, f"Stake below {self.settings.blacklist_min_stake} TAO"
        return False, "Hotkey recognized"


def _check_servable(service: OrchestrationService) -> None:
    """Refuse to start a miner whose routes cannot serve any blueprint: it would only return errors."""
    routable = service.executor.router.capabilities()
    # Deterministic blueprints (account reads) answer only their own narrow kind of task: a miner that
    # can serve nothing else would fail almost every task, so they do not make it servable.
    missing = {
        name: sorted({s.capability for s in blueprint.steps if s.required} - routable)
        for name, blueprint in service.planner.blueprints.items()
        if not blueprint.deterministic
    }
    if all(missing.values()):
        needs = "; ".join(f"{name} needs {', '.join(caps)}" for name, caps in missing.items())
        raise ConfigError(
            f"the configured routes serve no blueprint ({needs}). Set ORCHESTRA_DESEARCH_API_KEY for "
            "web_search through SN22, or list routes in ORCHESTRA_ROUTES_FILE"
        )
    for name, caps in missing.items():
        if caps:
            log.warning("blueprint %s cannot be served: no route provides %s", name, ", ".join(caps))
