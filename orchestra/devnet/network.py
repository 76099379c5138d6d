"""An embedded local network: devnet chain, wallets, emulated producers, miners and validators.

Everything binds 127.0.0.1. `orchestra localnet` and the integration tests build their networks with
this class, so what the tests exercise is what users run.

Orchestra miners are registered on the emulated SN13 as permit-holding validators with 20,000 TAO:
real SN13 miners answer no one else, so that is what calling SN13 by dendrite takes.

The validator is registered on both producer subnets the same way, so it can re-query their axons
when it spot-checks a miner's receipts, and it holds a key for every keyed stand-in.

Every Orchestra miner is a `DevnetMiner` of some `MinerKind` (`orchestra/devnet/adversaries.py`):
honest by default, or one of the cheaters that exist to test validators. Honest miners post their
answers to the network's `ResponseBoard`, which only the copier reads.

Real SN13 miners take 2 requests of each kind per caller per hour before blacklisting it. A devnet
that runs dozens of jobs in a minute would exhaust that at once, so `LocalNetwork` raises the limit
on both sides (emulators and miners alike) to `DEVNET_SN13_REQUESTS_PER_HOUR`; pass
`sn13_requests_per_hour=2` to run with the real one.
"""

import secrets
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import bittensor as bt
from pydantic import SecretStr

from ledger.store import LedgerStore
from orchestra.chain import ChainClient
from orchestra.config import (
    ADAPTER_KEY_FIELDS,
    SN13_NETUID,
    SN22_NETUID,
    MinerSettings,
    ValidatorSettings,
    default_routes,
)
from orchestra.devnet.adversaries import (
    SLOW_SHARE,
    DevnetMiner,
    MinerKind,
    ResponseBoard,
    behaviour_for,
    miner_kind,
)
from orchestra.devnet.blockmachine import BlockmachineEmulator
from orchestra.devnet.chain import DevnetSubtensor
from orchestra.devnet.data_universe import DataUniverseEmulator
from orchestra.devnet.data_universe_api import DataUniverseApiEmulator
from orchestra.devnet.desearch import DesearchEmulator
from orchestra.devnet.desearch_miner import DesearchMinerEmulator
from orchestra.devnet.faults import Fault, FaultInjector
from orchestra.devnet.inference import InferenceEmulator
from orchestra.devnet.ledger import DevnetEndpoints, open_devnet_ledger
from orchestra.devnet.wallets import make_wallet
from orchestra.errors import ConfigError
from orchestra.ports import LOOPBACK, free_port
from orchestra.routing import RouteSpec
from orchestra.validator.neuron import Validator

VALIDATOR_STAKE_TAO = 10_000.0
MINER_STAKE_TAO = 10.0
SN13_CALLER_STAKE_TAO = 20_000.0
SN13_MINER_STAKE_TAO = 100.0
SN22_CALLER_STAKE_TAO = 20_000.0  # SN22 miners answer validators with >= 20,000 stake
SN22_MINER_STAKE_TAO = 100.0
DEVNET_SN13_REQUESTS_PER_HOUR = 600


class LocalNetwork:
    """Build with `LocalNetwork()`, add parts, and always `await network.aclose()`."""

    def __init__(
        self,
        *,
        netuid: int = 1,
        workdir: Path | None = None,
        sn13_requests_per_hour: int = DEVNET_SN13_REQUESTS_PER_HOUR,
    ) -> None:
        self.netuid = netuid
        self.sn13_requests_per_hour = sn13_requests_per_hour
        self._owns_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="orchestra-devnet-"))
        self.chain = ChainClient.connect("mock")
        self.devnet: DevnetSubtensor = self.chain.subtensor
        self.devnet.create_subnet(netuid)
        self.devnet.create_subnet(SN13_NETUID)
        self.devnet.create_subnet(SN22_NETUID)
        self.wallets: dict[str, bt.Wallet] = {}
        self.producers: list[DataUniverseEmulator] = []
        self.sn22_miners: list[DesearchMinerEmulator] = []
        self.desearch: DesearchEmulator | None = None
        self.data_universe_api: DataUniverseApiEmulator | None = None
        self.chutes: InferenceEmulator | None = None
        self.targon: InferenceEmulator | None = None
        self.blockmachine: BlockmachineEmulator | None = None
        self.desearch_key = secrets.token_urlsafe(24)
        self.keys = {
            "desearch": self.desearch_key,
            "data_universe_api": secrets.token_urlsafe(24),
            "chutes": "cpk_" + secrets.token_urlsafe(24),
            "targon": "sn4_" + secrets.token_urlsafe(24),
        }
        # One fault injector per emulated provider, by the name `--faults` uses.
        self.faults: dict[str, FaultInjector] = {}
        self.board = ResponseBoard()
        self.miners: list[DevnetMiner] = []
        self.validators: list[Validator] = []

    def wallet(self, name: str) -> "bt.Wallet":
        if name not in self.wallets:
            self.wallets[name] = make_wallet(self.workdir / "wallets", name)
        return self.wallets[name]

    def register(self, name: str, netuid: int, *, stake_tao: float, validator_permit: bool = False) -> int:
        wallet = self.wallet(name)
        return self.devnet.register(
            netuid,
            wallet.hotkey.ss58_address,
            wallet.coldkeypub.ss58_address,
            stake_tao=stake_tao,
            validator_permit=validator_permit,
        )

    # ----------------------------------------------------------------- producers

    def injector(self, provider: str, seed: int | None = None) -> FaultInjector:
        if provider not in self.faults:
            # Each provider draws from its own seeded stream: one shared seed would fail them together.
            self.faults[provider] = FaultInjector(seed=None if seed is None else f"{seed}:{provider}")
        return self.faults[provider]

    def set_faults(self, faults: Mapping[str, tuple[Fault, ...]]) -> None:
        """Replace the fault rules of the named providers (others keep theirs)."""
        unknown = sorted(set(faults) - set(self.faults))
        if unknown:
            raise ConfigError(f"unknown providers {unknown}; providers: {', '.join(sorted(self.faults))}")
        for provider, rules in faults.items():
            self.faults[provider].set(rules)

    def start_producers(
        self, *, sn13_miners: int = 2, sn22_miners: int = 0, extended: bool = False, seed: int | None = None
    ) -> None:
        """Start the emulated producers, each with a fault injector named after it.

        Always: SN13 miners (real Axons, `sn13-miner-N`) and the Desearch API stand-in (`desearch`).
        With `sn22_miners`, pre-2.0 SN22 miners (real Axons, `sn22-miner-N`). With `extended`, the
        SN13 on-demand API (`sn13-api`), SN64 Chutes (`chutes`), SN4 Targon (`targon`) and SN19
        Blockmachine (`blockmachine`) too.
        """
        for index in range(sn13_miners):
            name = f"sn13-miner-{index + 1}"
            self.register(name, SN13_NETUID, stake_tao=SN13_MINER_STAKE_TAO)
            emulator = DataUniverseEmulator(
                self.wallet(name),
                self.chain,
                SN13_NETUID,
                requests_per_hour=self.sn13_requests_per_hour,
                faults=self.injector(name, seed),
            )
            self.producers.append(emulator.start())
        for index in range(sn22_miners):
            name = f"sn22-miner-{index + 1}"
            self.register(name, SN22_NETUID, stake_tao=SN22_MINER_STAKE_TAO)
            miner = DesearchMinerEmulator(
                self.wallet(name), self.chain, SN22_NETUID, faults=self.injector(name, seed)
            )
            self.sn22_miners.append(miner.start())
        self.desearch = DesearchEmulator(
            api_key=self.desearch_key, faults=self.injector("desearch", seed)
        ).start()
        if extended:
            self.data_universe_api = DataUniverseApiEmulator(
                self.keys["data_universe_api"], faults=self.injector("sn13-api", seed), submission_delay_s=0.2
            ).start()
            self.chutes = InferenceEmulator.chutes(
                api_key=self.keys["chutes"], faults=self.injector("chutes", seed)
            ).start()
            self.targon = InferenceEmulator.targon(
                api_key=self.keys["targon"], faults=self.injector("targon", seed)
            ).start()
            self.blockmachine = BlockmachineEmulator(faults=self.injector("blockmachine", seed)).start()

    def endpoints(self) -> DevnetEndpoints:
        if self.desearch is None:
            raise RuntimeError("start_producers() first")
        return DevnetEndpoints(
            desearch=self.desearch.url,
            data_universe_api=self.data_universe_api.url if self.data_universe_api else None,
            chutes=self.chutes.base_url if self.chutes else None,
            targon=self.targon.base_url if self.targon else None,
            blockmachine=self.blockmachine.url if self.blockmachine else None,
            sn22_miners=bool(self.sn22_miners),
        )

    def routes(self, *, desearch_url: str | None = None) -> list[RouteSpec]:
        """A production miner's default routes, pointed at this network's stand-ins (or, for tests, at
        another Desearch-shaped endpoint)."""
        if desearch_url is None:
            if self.desearch is None:
                raise RuntimeError("start_producers() first")
            desearch_url = self.desearch.url
        return default_routes(MinerSettings(desearch_url=desearch_url, desearch_api_key=self.desearch_key))

    def ledger(self, name: str) -> LedgerStore:
        """A neuron's own Ledger database in the work directory, seeded with the devnet's entries."""
        return open_devnet_ledger(self.workdir / f"ledger-{name}.db", self.endpoints())

    # ----------------------------------------------------------------- neurons

    def add_miner(
        self,
        name: str,
        *,
        kind: MinerKind | str = MinerKind.HONEST,
        routes: list[RouteSpec] | None = None,
        settings: MinerSettings | None = None,
        slow_share: float = SLOW_SHARE,
        disguise: bool = True,
    ) -> DevnetMiner:
        """Register, start and publish an Orchestra miner (also a permitted caller on SN13 and SN22).

        `kind` chooses how it answers: honest, or one of the adversaries (see `adversaries.py`);
        `slow_share` is the share of the deadline a slow miner holds its answers, and `disguise`
        whether a replayer or a copier hides the receipts it reuses.
        """
        behaviour = behaviour_for(miner_kind(kind), self.board, slow_share=slow_share, disguise=disguise)
        self.register(name, self.netuid, stake_tao=MINER_STAKE_TAO)
        self._permit_on_producers(name)
        port = free_port()
        # The inference stand-ins answer extractively: they serve `llm_inference` steps, but cannot
        # plan or cite evidence the way the LLM planner and synthesiser need, so those stay off here.
        settings = settings or MinerSettings(
            sn13_requests_per_hour=self.sn13_requests_per_hour, llm_planner=False, llm_synthesis=False
        )
        # The devnet's operators hold a key for every keyed stand-in.
        missing = {
            field: SecretStr(self.keys[adapter])
            for adapter, field in ADAPTER_KEY_FIELDS.items()
            if getattr(settings, field) is None
        }
        settings = settings.model_copy(update=missing)
        miner = DevnetMiner(
            behaviour=behaviour,
            wallet=self.wallet(name),
            chain=self.chain,
            netuid=self.netuid,
            settings=settings,
            routes=routes,
            ledger=self.ledger(name),
            port=port,
            external_ip=LOOPBACK,
            bind_host=LOOPBACK,
        )
        self.miners.append(miner)
        miner.start()
        return miner

    def _permit_on_producers(self, name: str) -> None:
        """Register on SN13 and SN22 with the validator permit and stake their miners demand of a caller."""
        self.register(name, SN13_NETUID, stake_tao=SN13_CALLER_STAKE_TAO, validator_permit=True)
        self.register(name, SN22_NETUID, stake_tao=SN22_CALLER_STAKE_TAO, validator_permit=True)

    def kind_of(self, hotkey: str) -> MinerKind:
        """The kind of the miner with this hotkey; neurons the network did not start count as honest."""
        return next((m.kind for m in self.miners if m.hotkey == hotkey), MinerKind.HONEST)

    def add_validator(
        self, name: str = "validator", *, settings: ValidatorSettings | None = None
    ) -> Validator:
        """Register a validator (with a permit here and on SN13 and SN22, so it can re-query their axons)
        and give it a key for every keyed stand-in its settings leave unset."""
        self.register(name, self.netuid, stake_tao=VALIDATOR_STAKE_TAO, validator_permit=True)
        self._permit_on_producers(name)
        settings = settings or ValidatorSettings(
            step_interval_s=0, producer_netuids=[SN13_NETUID, SN22_NETUID]
        )
        missing: dict[str, object] = {
            field: SecretStr(self.keys[adapter])
            for adapter, field in ADAPTER_KEY_FIELDS.items()
            if getattr(settings, field) is None
        }
        if "sn13_requests_per_hour" not in settings.model_fields_set:
            missing["sn13_requests_per_hour"] = self.sn13_requests_per_hour  # the devnet's raised limit
        validator = Validator(
            wallet=self.wallet(name),
            chain=self.chain,
            netuid=self.netuid,
            settings=settings.model_copy(update=missing),
            ledger=self.ledger(name),
        )
        self.validators.append(validator)
        return validator

    def refresh(self) -> None:
        """Let every neuron see registrations and axons published since it started."""
        for miner in self.miners:
            miner.graphs.refresh()
        for validator in self.validators:
            validator.sync()

    async def aclose(self) -> None:
        for miner in self.miners:
            await miner.aclose()
        for validator in self.validators:
            await validator.aclose()
        for producer in self.producers:
            producer.stop()
        for sn22 in self.sn22_miners:
            sn22.stop()
        for server in (self.desearch, self.data_universe_api, self.chutes, self.targon, self.blockmachine):
            if server is not None:
                server.stop()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
