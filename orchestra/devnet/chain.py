"""The devnet chain: bittensor 10.5's `MockSubtensor`, fixed where it is broken.

The stock mock keeps its state in a process-global dict, answers `is_hotkey_registered` with True for
any key, cannot build a metagraph (its `NeuronInfoLite` still passes `rank`/`trust`), cannot serve an
axon and cannot store weights (its extrinsics hit a `MagicMock`). This subclass keeps a private state
per instance and implements exactly those reads and writes against the mock's own `chain_state`.
Everything else (neurons, balances, stakes) is the stock mock.
"""

from typing import Any

import bittensor as bt
from bittensor.core.types import ExtrinsicResponse
from bittensor.utils import networking
from bittensor.utils.mock import MockSubtensor
from bittensor.utils.mock.subtensor_mock import AxonInfoDict
from bittensor.utils.weight_utils import convert_and_normalize_weights_and_uids

U16_MAX = 65_535


class DevnetSubtensor(MockSubtensor):  # type: ignore[misc]
    """An in-memory chain for the embedded local network and the tests. Not thread-safe by itself:
    `orchestra.chain.ChainClient` serialises access to it."""

    def __init__(self) -> None:
        super().__init__()
        # MockSubtensor aliases every instance to one global dict; give this chain its own state.
        private = {k: v for k, v in self.__dict__.items() if k != "chain_state"}
        self.__dict__ = private
        self.setup()

    # ---------------------------------------------------------------- set-up helpers (devnet only)

    def create_subnet(self, netuid: int, *, tempo: int = 99) -> None:
        super().create_subnet(netuid)
        state = self._state()
        state["MinAllowedWeights"][netuid][0] = (
            1  # the stock 1024 makes process_weights return uniform weights
        )
        state["MaxWeightLimit"][netuid][0] = U16_MAX
        state["Tempo"][netuid][0] = tempo

    def register(
        self,
        netuid: int,
        hotkey_ss58: str,
        coldkey_ss58: str,
        *,
        stake_tao: float = 0.0,
        validator_permit: bool = False,
    ) -> int:
        """Register a hotkey with a stake; the mock never computes permits, so they are set here."""
        uid = int(
            self.force_register_neuron(
                netuid, hotkey_ss58, coldkey_ss58, stake=float(stake_tao), balance=10.0
            )
        )
        self._state()["ValidatorPermit"][netuid][uid][self.block_number] = validator_permit
        return uid

    def advance(self, blocks: int = 1) -> int:
        for _ in range(blocks):
            self.do_block_step()
        return int(self.block_number)

    # ---------------------------------------------------------------- registration lookups

    def get_uid_for_hotkey_on_subnet(
        self, hotkey_ss58: str, netuid: int, block: int | None = None
    ) -> int | None:
        uids = self._state()["Uids"].get(netuid, {})
        if hotkey_ss58 not in uids:
            return None
        return int(self._get_most_recent_storage(uids[hotkey_ss58], block))

    def is_hotkey_registered_on_subnet(self, hotkey_ss58: str, netuid: int, block: int | None = None) -> bool:
        return self.get_uid_for_hotkey_on_subnet(hotkey_ss58, netuid, block) is not None

    def is_hotkey_registered(
        self, hotkey_ss58: str, netuid: int | None = None, block: int | None = None
    ) -> bool:
        if netuid is None:
            return any(
                self.is_hotkey_registered_on_subnet(hotkey_ss58, n, block)
                for n in self._state()["NetworksAdded"]
            )
        return self.is_hotkey_registered_on_subnet(hotkey_ss58, netuid, block)

    # ---------------------------------------------------------------- what Metagraph.sync reads

    def neuron_for_uid_lite(self, uid: int, netuid: int, block: int | None = None) -> Any:
        neuron = self._neuron_subnet_exists(uid, netuid, block)
        if neuron is None:
            return None
        return bt.NeuronInfoLite(
            hotkey=neuron.hotkey,
            coldkey=neuron.coldkey,
            uid=neuron.uid,
            netuid=neuron.netuid,
            active=neuron.active,
            stake=neuron.stake,
            stake_dict=neuron.stake_dict,
            total_stake=neuron.total_stake,
            emission=neuron.emission,
            incentive=neuron.incentive,
            consensus=neuron.consensus,
            validator_trust=neuron.validator_trust,
            dividends=neuron.dividends,
            last_update=neuron.last_update,
            validator_permit=neuron.validator_permit,
            prometheus_info=neuron.prometheus_info,
            axon_info=neuron.axon_info,
            is_null=False,
        )

    def query_runtime_api(
        self, runtime_api: str, method: str, params: Any = None, block: int | None = None
    ) -> Any:
        if (runtime_api, method) != ("SubnetInfoRuntimeApi", "get_subnet_state"):
            return None
        netuid = params[0]
        neurons = self.neurons(netuid, block)
        zeros = [0 for _ in neurons]
        return {
            "netuid": netuid,
            "hotkeys": [n.hotkey for n in neurons],
            "coldkeys": [n.coldkey for n in neurons],
            "active": [bool(n.active) for n in neurons],
            "validator_permit": [bool(n.validator_permit) for n in neurons],
            "pruning_score": zeros,
            "last_update": [int(n.last_update) for n in neurons],
            "emission": zeros,
            "dividends": zeros,
            "incentives": zeros,
            "consensus": zeros,
            "trust": zeros,
            "rank": zeros,
            "block_at_registration": zeros,
            "alpha_stake": [n.total_stake.rao for n in neurons],
            "tao_stake": zeros,
            "total_stake": [n.total_stake.rao for n in neurons],
            "emission_history": [],
        }

    def get_metagraph_info(self, *args: Any, **kwargs: Any) -> None:
        return None

    def get_mechanism_count(self, *args: Any, **kwargs: Any) -> int:
        return 1

    def get_mechanism_emission_split(self, *args: Any, **kwargs: Any) -> None:
        return None

    # ---------------------------------------------------------------- hyperparameters

    def min_allowed_weights(self, netuid: int, block: int | None = None) -> int:
        return int(self._get_most_recent_storage(self._state()["MinAllowedWeights"][netuid], block))

    def max_weight_limit(self, netuid: int, block: int | None = None) -> float:
        return float(self._get_most_recent_storage(self._state()["MaxWeightLimit"][netuid], block)) / U16_MAX

    def tempo(self, netuid: int, block: int | None = None) -> int:
        return int(self._get_most_recent_storage(self._state()["Tempo"][netuid], block))

    def commit_reveal_enabled(self, netuid: int, block: int | None = None) -> bool:
        return False

    # ---------------------------------------------------------------- writes

    def serve_axon(
        self, netuid: int, axon: "bt.Axon", certificate: Any = None, **kwargs: Any
    ) -> ExtrinsicResponse:
        hotkey = axon.wallet.hotkey.ss58_address
        if not self.is_hotkey_registered_on_subnet(hotkey, netuid):
            return ExtrinsicResponse(False, f"hotkey {hotkey} is not registered on netuid {netuid}")
        info = axon.info()
        self._state()["Axons"][netuid].setdefault(hotkey, {})[self.block_number] = AxonInfoDict(
            block=self.block_number,
            version=info.version,
            ip=networking.ip_to_int(info.ip),
            port=info.port,
            ip_type=info.ip_type,
            protocol=info.protocol,
            placeholder1=0,
            placeholder2=0,
        )
        self.do_block_step()
        return ExtrinsicResponse(True, "axon served (devnet)")

    def set_weights(
        self,
        wallet: Any,
        netuid: int,
        uids: Any,
        weights: Any,
        mechid: int = 0,
        version_key: int = 0,
        **kwargs: Any,
    ) -> ExtrinsicResponse:
        uid = self.get_uid_for_hotkey_on_subnet(wallet.hotkey.ss58_address, netuid)
        if uid is None:
            return ExtrinsicResponse(
                False, f"hotkey {wallet.hotkey.ss58_address} is not registered on netuid {netuid}"
            )
        if not self._get_most_recent_storage(self._state()["ValidatorPermit"][netuid][uid]):
            return ExtrinsicResponse(False, "setting weights needs a validator permit")
        weight_uids, weight_values = convert_and_normalize_weights_and_uids(uids, weights)
        state = self._state()
        state["Weights"][netuid][uid][self.block_number] = [
            [int(u), int(v)] for u, v in zip(weight_uids, weight_values, strict=True)
        ]
        state["LastUpdate"][netuid][uid][self.block_number] = self.block_number
        self.do_block_step()
        return ExtrinsicResponse(True, "weights set (devnet)")

    def weights(
        self, netuid: int, mechid: int = 0, block: int | None = None
    ) -> list[tuple[int, list[tuple[int, int]]]]:
        state = self._state()
        count = int(self._get_most_recent_storage(state["SubnetworkN"][netuid]))
        out = []
        for uid in range(count):
            row = self._get_most_recent_storage(state["Weights"][netuid][uid], block) or []
            if row:
                out.append((uid, [(int(u), int(v)) for u, v in row]))
        return out

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.chain_state["SubtensorModule"]
        return state
