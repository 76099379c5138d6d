"""The devnet chain: bittensor 10.5's `MockSubtensor`, fixed where it is broken.

The stock mock keeps its state in a process-global dict, answers `is_hotkey_registered` with True for
any key, cannot build a metagraph (its `NeuronInfoLite` still passes `rank`/`trust`), cannot serve an
axon and cannot store weights (its extrinsics hit a `MagicMock`). This subclass keeps a private state
per instance and implements exactly those reads and writes against the mock's own `chain_state`.
Everything else (neurons, balances, stakes) is the stock mock.

Weights follow subtensor's rules (pallet `do_set_weights`, `do_commit_timelocked_weights`,
`reveal_crv3_commits_for_subnet`): the weights version key, the per-validator rate limit, and
commit-reveal, where a commit stays hidden until the first block of epoch `commit epoch + reveal period`.
Simplified on purpose: a commit is stored in the clear and revealed at a block fixed when it is made
(subtensor encrypts it to a drand round and decrypts it once that pulse arrives); there is no minimum stake
to set weights, no `MaxWeightExceeded` check (the client's `process_weights` already caps weights) and no
mechanisms beyond mechanism 0. Blocks advance only when an extrinsic lands or `advance()` is called.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import bittensor as bt
from bittensor.core.types import ExtrinsicResponse
from bittensor.utils import networking
from bittensor.utils.mock import MockSubtensor
from bittensor.utils.mock.subtensor_mock import AxonInfoDict
from bittensor.utils.weight_utils import convert_and_normalize_weights_and_uids

log = logging.getLogger(__name__)

U16_MAX = 65_535
# Subtensor's default is 100 blocks; devnet blocks only advance when something happens, so a lone neuron
# on `--subtensor.network mock` could never wait out a longer limit. Tests raise it with
# `set_weights_rate_limit`.
DEFAULT_WEIGHTS_RATE_LIMIT = 0
DEFAULT_REVEAL_PERIOD_EPOCHS = 1  # subtensor's default RevealPeriodEpochs
MAX_UNREVEALED_COMMITS = 10  # per hotkey and commit epoch, as subtensor enforces

# The pallet's own descriptions of the weight errors, so refusals read like the SDK's on a real chain.
CHAIN_ERRORS = {
    "UidsLengthExceedUidsInSubNet": "The caller is attempting to set weights with more UIDs than allowed.",
    "IncorrectWeightVersionKey": (
        "A validator is attempting to set weights from a validator with incorrect weight version."
    ),
    "SettingWeightsTooFast": "A transactor exceeded the rate limit for setting weights.",
    "CommittingWeightsTooFast": "A transactor exceeded the rate limit for setting weights.",
    "NeuronNoValidatorPermit": (
        "The caller is attempting to set non-self weights without being a permitted validator."
    ),
    "DuplicateUids": "The caller is attempting to set weights with duplicate UIDs in the weight matrix.",
    "UidVecContainInvalidOne": (
        "The caller is attempting to set weight to at least one UID that does not exist in the metagraph."
    ),
    "WeightVecLengthIsLow": (
        "The dispatch is attempting to set weights on chain with fewer elements than are allowed."
    ),
    "TooManyUnrevealedCommits": "Maximum commit limit reached",
}


def chain_refusal(error: str, detail: str = "") -> ExtrinsicResponse:
    """A refused extrinsic, worded as the SDK's `format_error_message` words a subtensor module error."""
    suffix = f" ({detail})" if detail else ""
    return ExtrinsicResponse(
        False, f"Subtensor returned `{error}(Module)` error. This means: `{CHAIN_ERRORS[error]}`{suffix}."
    )


def epoch_index(netuid: int, tempo: int, block: int) -> int:
    """Subtensor's epoch number of `block`: subnets run their epoch when `(block + netuid + 1) % (tempo + 1)
    == 0`, so each subnet's epochs are offset by its netuid."""
    return (block + netuid + 1) // (tempo + 1)


def first_block_of_epoch(netuid: int, tempo: int, epoch: int) -> int:
    return max(0, epoch * (tempo + 1) - (netuid + 1))


@dataclass(frozen=True)
class WeightsCommit:
    """A commit-reveal submission waiting for its reveal block; `values` are the SDK's u16 encoding."""

    hotkey: str
    commit_block: int
    reveal_block: int
    uids: tuple[int, ...]
    values: tuple[int, ...]
    version_key: int


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
        defaults = {
            "WeightsSetRateLimit": DEFAULT_WEIGHTS_RATE_LIMIT,
            "WeightsVersionKey": 0,  # 0: the chain accepts any version key
            "CommitRevealWeightsEnabled": False,
            "RevealPeriodEpochs": DEFAULT_REVEAL_PERIOD_EPOCHS,
        }
        for name, value in defaults.items():
            state.setdefault(name, {})[netuid] = {0: value}
        state.setdefault("TimelockedWeightCommits", {})[netuid] = []

    def register(
        self,
        netuid: int,
        hotkey_ss58: str,
        coldkey_ss58: str,
        *,
        stake_tao: float = 0.0,
        validator_permit: bool = False,
    ) -> int:
        """Register a hotkey with a stake; the mock never computes permits, so they are set here.
        Registration is an extrinsic like any other: it takes a block."""
        uid = int(
            self.force_register_neuron(
                netuid, hotkey_ss58, coldkey_ss58, stake=float(stake_tao), balance=10.0
            )
        )
        self._state()["ValidatorPermit"][netuid][uid][self.block_number] = validator_permit
        self.do_block_step()
        return uid

    def advance(self, blocks: int = 1) -> int:
        for _ in range(blocks):
            self.do_block_step()
        return int(self.block_number)

    def set_weights_rate_limit(self, netuid: int, blocks: int) -> None:
        """Blocks a validator must wait between two weight submissions (`WeightsSetRateLimit`)."""
        if blocks < 0:
            raise ValueError(f"a weights rate limit is a number of blocks >= 0, not {blocks}")
        self._set_hyperparameter("WeightsSetRateLimit", netuid, blocks)

    def set_weights_version_key(self, netuid: int, version_key: int) -> None:
        """The lowest `version_key` the subnet accepts (`WeightsVersionKey`); 0 accepts any."""
        if version_key < 0:
            raise ValueError(f"a weights version key is >= 0, not {version_key}")
        self._set_hyperparameter("WeightsVersionKey", netuid, version_key)

    def set_commit_reveal(
        self, netuid: int, enabled: bool, *, reveal_period_epochs: int | None = None
    ) -> None:
        """Switch commit-reveal weights on or off (`CommitRevealWeightsEnabled`); a commit is revealed
        `reveal_period_epochs` epochs after its own (`RevealPeriodEpochs`, left as it is when None)."""
        if reveal_period_epochs is not None and reveal_period_epochs < 1:
            raise ValueError(f"the reveal period is at least 1 epoch, not {reveal_period_epochs}")
        self._set_hyperparameter("CommitRevealWeightsEnabled", netuid, enabled)
        if reveal_period_epochs is not None:
            self._set_hyperparameter("RevealPeriodEpochs", netuid, reveal_period_epochs)

    def pending_commits(self, netuid: int) -> list[WeightsCommit]:
        """Weight commits not revealed yet (subtensor's `TimelockedWeightCommits`, here in the clear)."""
        return list(self._state()["TimelockedWeightCommits"].get(netuid, []))

    def do_block_step(self) -> None:
        """Produce one block; as on subtensor, commits due at this block are revealed as it starts."""
        super().do_block_step()
        self._reveal_due_commits()

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

    def weights_rate_limit(self, netuid: int, block: int | None = None) -> int | None:
        value = self._hyperparameter("WeightsSetRateLimit", netuid, block)
        return None if value is None else int(value)

    def commit_reveal_enabled(self, netuid: int, block: int | None = None) -> bool:
        return bool(self._hyperparameter("CommitRevealWeightsEnabled", netuid, block))

    def get_subnet_reveal_period_epochs(self, netuid: int, block: int | None = None) -> int:
        return int(self._hyperparameter("RevealPeriodEpochs", netuid, block) or DEFAULT_REVEAL_PERIOD_EPOCHS)

    def blocks_since_last_update(self, netuid: int, uid: int, block: int | None = None) -> int | None:
        """Like the SDK's: the head (or `block`) minus the uid's `LastUpdate`; None for an unknown uid."""
        history = self._state()["LastUpdate"].get(netuid, {}).get(uid)
        at = self.block_number if block is None else block
        last = None if history is None else self._get_most_recent_storage(history, at)
        return None if last is None else at - int(last)

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
        """The SDK's `set_weights` and the chain behind it: encode the weights as u16, then either commit them
        (commit-reveal on) or set them, refusing what subtensor refuses with its error names."""
        hotkey = wallet.hotkey.ss58_address
        uid = self.get_uid_for_hotkey_on_subnet(hotkey, netuid)
        if uid is None:
            return ExtrinsicResponse(False, f"hotkey {hotkey} is not registered on netuid {netuid}")
        try:
            weight_uids, values = convert_and_normalize_weights_and_uids(uids, weights)
        except ValueError as exc:  # the SDK fails the same way before signing anything
            return ExtrinsicResponse(False, f"weights cannot be encoded for the chain: {exc}")
        if self.commit_reveal_enabled(netuid):
            return self._commit_weights(netuid, uid, hotkey, weight_uids, values, version_key)
        refusal = self._weights_refusal(netuid, uid, weight_uids, values, version_key, rate_limited=True)
        if refusal is not None:
            return refusal
        self._store_weights(netuid, uid, weight_uids, values)
        self._state()["LastUpdate"][netuid][uid][self.block_number] = self.block_number
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

    # ---------------------------------------------------------------- subtensor's weight rules

    def _commit_weights(
        self, netuid: int, uid: int, hotkey: str, uids: list[int], values: list[int], version_key: int
    ) -> ExtrinsicResponse:
        """Store a commit for the reveal epoch. As on subtensor, only the rate limit and the commit count are
        checked now: the chain cannot read an encrypted commit, so the rest is checked at reveal."""
        if not self._rate_limit_ok(netuid, uid):
            return chain_refusal("CommittingWeightsTooFast", self._rate_limit_detail(netuid, uid))
        tempo = self.tempo(netuid)
        epoch = epoch_index(netuid, tempo, self.block_number)
        queue: list[WeightsCommit] = self._state()["TimelockedWeightCommits"][netuid]
        mine = [
            c for c in queue if c.hotkey == hotkey and epoch_index(netuid, tempo, c.commit_block) == epoch
        ]
        if len(mine) >= MAX_UNREVEALED_COMMITS:
            return chain_refusal("TooManyUnrevealedCommits", f"{len(mine)} commits in epoch {epoch}")
        reveal_block = first_block_of_epoch(
            netuid, tempo, epoch + self.get_subnet_reveal_period_epochs(netuid)
        )
        queue.append(
            WeightsCommit(hotkey, self.block_number, reveal_block, tuple(uids), tuple(values), version_key)
        )
        self._state()["LastUpdate"][netuid][uid][self.block_number] = self.block_number
        self.do_block_step()
        return ExtrinsicResponse(
            True,
            f"weights committed (devnet); the chain reveals them at block {reveal_block}",
            data={"reveal_block": reveal_block},
        )

    def _reveal_due_commits(self) -> None:
        """Reveal every commit whose block has come. One that fails subtensor's checks is dropped, as the
        chain drops it: the committer only sees its weights never appear."""
        for netuid, queue in self._state().get("TimelockedWeightCommits", {}).items():
            due = [c for c in queue if c.reveal_block <= self.block_number]
            if not due:
                continue
            queue[:] = [c for c in queue if c.reveal_block > self.block_number]
            for commit in due:
                self._reveal(netuid, commit)

    def _reveal(self, netuid: int, commit: WeightsCommit) -> None:
        uid = self.get_uid_for_hotkey_on_subnet(commit.hotkey, netuid)
        if uid is None:
            log.info(
                "netuid %d: dropped the weights commit of %s: no longer registered", netuid, commit.hotkey
            )
            return
        refusal = self._weights_refusal(
            netuid, uid, commit.uids, commit.values, commit.version_key, rate_limited=False
        )
        if refusal is not None:
            log.info(
                "netuid %d: dropped the weights commit of %s: %s", netuid, commit.hotkey, refusal.message
            )
            return
        self._store_weights(netuid, uid, commit.uids, commit.values)

    def _rate_limit_ok(self, netuid: int, uid: int) -> bool:
        """Subtensor's `check_rate_limit`: a uid that never set weights (LastUpdate 0) may always set them."""
        last = self._last_update(netuid, uid)
        return last == 0 or self.block_number - last >= (self.weights_rate_limit(netuid) or 0)

    def _rate_limit_detail(self, netuid: int, uid: int) -> str:
        return (
            f"last update at block {self._last_update(netuid, uid)}, rate limit "
            f"{self.weights_rate_limit(netuid) or 0} blocks, now block {self.block_number}"
        )

    def _weights_refusal(
        self,
        netuid: int,
        uid: int,
        uids: Sequence[int],
        values: Sequence[int],
        version_key: int,
        *,
        rate_limited: bool,
    ) -> ExtrinsicResponse | None:
        """Subtensor's `do_set_weights` checks, in the pallet's order. A reveal is not rate limited."""
        state = self._state()
        size = int(self._get_most_recent_storage(state["SubnetworkN"][netuid]))
        required_key = int(self._hyperparameter("WeightsVersionKey", netuid) or 0)
        min_length = min(size, self.min_allowed_weights(netuid))
        self_weight = len(uids) == 1 and uids[0] == uid
        permit = bool(self._get_most_recent_storage(state["ValidatorPermit"][netuid][uid]))
        checks = (
            ("UidsLengthExceedUidsInSubNet", len(uids) <= size, f"{len(uids)} uids, {size} neurons"),
            (
                "IncorrectWeightVersionKey",
                required_key == 0 or version_key >= required_key,
                f"version_key {version_key}, the subnet requires at least {required_key}",
            ),
            (
                "SettingWeightsTooFast",
                not rate_limited or self._rate_limit_ok(netuid, uid),
                self._rate_limit_detail(netuid, uid),
            ),
            ("NeuronNoValidatorPermit", self_weight or permit, "setting weights needs a validator permit"),
            ("DuplicateUids", len(set(uids)) == len(uids), ""),
            (
                "UidVecContainInvalidOne",
                all(0 <= u < size for u in uids),
                f"the subnet has uids 0..{size - 1}",
            ),
            (
                "WeightVecLengthIsLow",
                self_weight or len(values) >= min_length,
                f"{len(values)} weights, at least {min_length} needed",
            ),
        )
        return next((chain_refusal(error, detail) for error, ok, detail in checks if not ok), None)

    def _store_weights(self, netuid: int, uid: int, uids: Sequence[int], values: Sequence[int]) -> None:
        self._state()["Weights"][netuid][uid][self.block_number] = [
            [int(u), int(v)] for u, v in zip(uids, values, strict=True)
        ]

    # ---------------------------------------------------------------- state

    def _hyperparameter(self, name: str, netuid: int, block: int | None = None) -> Any:
        """A per-subnet hyperparameter at `block` (default: the head); None when the subnet does not exist."""
        history = self._state().get(name, {}).get(netuid)
        return None if history is None else self._get_most_recent_storage(history, block)

    def _last_update(self, netuid: int, uid: int) -> int:
        return int(self._get_most_recent_storage(self._state()["LastUpdate"][netuid][uid]) or 0)

    def _set_hyperparameter(self, name: str, netuid: int, value: Any) -> None:
        if netuid not in self._state()["NetworksAdded"]:
            raise ValueError(f"netuid {netuid} does not exist on the devnet chain")
        self._state()[name][netuid][self.block_number] = value

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.chain_state["SubtensorModule"]
        return state
