"""The miner neuron: serves `OrchestrationTask` on a bittensor Axon.

Kept free of `from __future__ import annotations`: `Axon.attach` inspects the forward and blacklist
annotations at runtime and needs real classes (and `typing.Tuple` for the blacklist).
"""

import asyncio
import logging
from pathlib import Path
from typing import Tuple  # noqa: UP035 - Axon.attach compares the blacklist signature to typing.Tuple

import bittensor as bt

from orchestra.adapters import default_adapters
from orchestra.chain import ChainClient, MetagraphCache
from orchestra.config import MinerSettings, default_routes, load_routes
from orchestra.errors import ConfigError, OrchestraError
from orchestra.executor import Executor
from orchestra.miner.service import OrchestrationService, parse_request
from orchestra.planner import BlueprintPlanner, load_blueprints
from orchestra.ports import wait_for_port
from orchestra.routing import Router, RouteSpec
from orchestra.transports.dendrite import DendriteTransport
from orchestra.transports.http import HttpTransport
from protocol.models import ErrorCode, RouteKind, TaskError, TaskResult
from protocol.synapse import OrchestrationTask
from protocol.version import PROTOCOL_VERSION

log = logging.getLogger(__name__)


def build_service(
    wallet: "bt.Wallet", routes: list[RouteSpec], graphs: MetagraphCache, settings: MinerSettings
) -> OrchestrationService:
    """Wire planner, router, transports, adapters and synthesiser for one miner."""
    router = Router(routes, graphs.get)
    needs_dendrite = any(route.kind is RouteKind.DENDRITE for route in routes)
    executor = Executor(
        router,
        default_adapters(sn13_requests_per_hour=settings.sn13_requests_per_hour),
        http=HttpTransport(),
        dendrite=DendriteTransport(wallet) if needs_dendrite else None,
    )
    return OrchestrationService(
        BlueprintPlanner(load_blueprints()), executor, max_evidence_bytes=settings.max_evidence_bytes
    )


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
        port: int = 8091,
        external_ip: str | None = None,
        external_port: int | None = None,
        bind_host: str | None = None,
    ) -> None:
        self.wallet = wallet
        self.chain = chain
        self.netuid = netuid
        self.settings = settings
        self.routes = routes if routes is not None else _configured_routes(settings)
        producer_netuids = [r.netuid for r in self.routes if r.kind is RouteKind.DENDRITE]
        self.graphs = MetagraphCache(chain, [netuid, *producer_netuids])
        self.service = build_service(wallet, self.routes, self.graphs, settings)
        _check_servable(self.service)
        self._slots = asyncio.Semaphore(settings.max_concurrent_jobs)
        self.port = port
        self.axon = bt.Axon(
            wallet=wallet, port=port, external_ip=external_ip, external_port=external_port or port
        )
        if bind_host is not None:
            self.axon.fast_config.host = bind_host  # bittensor binds 0.0.0.0 unless told otherwise
        self.axon.attach(forward_fn=self.forward, blacklist_fn=self.blacklist)

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
        """Serve until `stop` is set, refreshing metagraphs every `sync_interval_s`."""
        self.start()
        try:
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.sync_interval_s)
                except asyncio.TimeoutError:
                    await asyncio.to_thread(self.graphs.refresh)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        await self.service.aclose()
        self.axon.stop()

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
            outcome = await self.service.handle(spec)
        except Exception:  # a bug must not take the axon down; the caller still gets a typed answer
            log.exception("task %s failed unexpectedly", spec.task_id)
            outcome = TaskResult(
                task_id=spec.task_id,
                error=TaskError(code=ErrorCode.INTERNAL, message="the miner failed unexpectedly"),
            )
        finally:
            self._slots.release()
        return synapse.fill(outcome)

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
    missing = {
        name: sorted({s.capability for s in blueprint.steps if s.required} - routable)
        for name, blueprint in service.planner.blueprints.items()
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


def _configured_routes(settings: MinerSettings) -> list[RouteSpec]:
    routes = load_routes(Path(settings.routes_file)) if settings.routes_file else default_routes(settings)
    if not routes:
        raise ConfigError("no routes configured: set ORCHESTRA_DESEARCH_API_KEY or ORCHESTRA_ROUTES_FILE")
    return routes
