"""The only module that talks to subtensor: metagraphs, registration, serving and weights.

Everything above this layer works with `MetagraphView`, a plain snapshot, so moving to bittensor 11
(chain-only SDK) means rewriting this file and `orchestra/transports/dendrite.py`, nothing else.
All methods block; async callers use `asyncio.to_thread`. One lock serialises access to the
underlying subtensor, which is not thread-safe (neither the websocket client nor the devnet chain).
"""

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import bittensor as bt
import numpy as np
from bittensor.utils.weight_utils import process_weights

from orchestra.errors import ChainError, ConfigError, InvalidRequestError

log = logging.getLogger(__name__)

NETWORKS = ("finney", "test", "local", "archive", "mock")


@dataclass(frozen=True)
class NeuronView:
    uid: int
    hotkey: str
    coldkey: str
    stake: float
    validator_permit: bool
    axon: Any  # bittensor AxonInfo

    @property
    def is_serving(self) -> bool:
        return bool(self.axon is not None and self.axon.is_serving)


@dataclass(frozen=True)
class MetagraphView:
    """A snapshot of one subnet's neurons, safe to share between threads."""

    netuid: int
    block: int
    neurons: tuple[NeuronView, ...]

    @property
    def hotkeys(self) -> list[str]:
        return [n.hotkey for n in self.neurons]

    def uid_of(self, hotkey: str) -> int | None:
        return next((n.uid for n in self.neurons if n.hotkey == hotkey), None)

    def neuron(self, uid: int) -> NeuronView:
        return self.neurons[uid]

    def by_hotkey(self, hotkey: str) -> NeuronView | None:
        uid = self.uid_of(hotkey)
        return None if uid is None else self.neurons[uid]


@dataclass(frozen=True)
class WeightsGate:
    """Whether a hotkey may submit weights on a subnet now, read at one block.

    The rule is the SDK's own pre-check in `Subtensor.set_weights` (`blocks_since_last_update >
    weights_rate_limit`), one block stricter than the chain's `>=`: a submission the SDK would skip is
    never attempted.
    """

    netuid: int
    uid: int | None  # None: the hotkey is not registered on the subnet
    block: int
    blocks_since_last_update: int | None  # None when not registered
    rate_limit: int  # WeightsSetRateLimit, in blocks
    commit_reveal: bool  # submissions are committed and revealed by the chain later
    reveal_period_epochs: int  # epochs from commit to reveal; 0 without commit-reveal

    @property
    def blocks_to_wait(self) -> int | None:
        """Blocks until a submission is allowed: 0 now, None never (not registered)."""
        if self.blocks_since_last_update is None:
            return None
        return max(0, self.rate_limit + 1 - self.blocks_since_last_update)

    @property
    def allowed(self) -> bool:
        return self.blocks_to_wait == 0


@dataclass(frozen=True)
class WeightsOutcome:
    """What became of one weights submission. `committed`: it went through commit-reveal, so the weights
    stay hidden until the chain reveals them. `rate_limited`: nothing was submitted; retry in
    `retry_in_blocks` blocks."""

    success: bool
    message: str
    uids: list[int]
    weights: list[float]
    committed: bool = False
    rate_limited: bool = False
    retry_in_blocks: int | None = None


class ChainClient:
    """Chain access for neurons, over a bittensor 10.5 `Subtensor` (or the devnet chain)."""

    def __init__(self, subtensor: Any, network: str) -> None:
        self.subtensor = subtensor
        self.network = network
        self._lock = threading.RLock()

    @classmethod
    def connect(cls, network: str, config: "bt.Config | None" = None) -> "ChainClient":
        """Open a chain: `mock` starts an in-process devnet chain, the others connect to a subtensor node
        (`config` carries `--subtensor.chain_endpoint` and the other bittensor flags)."""
        if network == "mock":
            from orchestra.devnet.chain import DevnetSubtensor

            return cls(DevnetSubtensor(), "mock")
        if network not in NETWORKS and not network.startswith(("ws://", "wss://")):
            raise ConfigError(
                f"unknown network {network!r}; use one of {', '.join(NETWORKS)} or a ws(s):// endpoint"
            )
        try:
            subtensor = bt.Subtensor(network=network, config=config)
        except Exception as exc:
            raise ChainError(f"cannot connect to {network}: {exc}") from exc
        return cls(subtensor, network)

    @property
    def is_devnet(self) -> bool:
        return self.network == "mock"

    def block(self) -> int:
        with self._lock:
            return int(self.subtensor.get_current_block())

    def metagraph(self, netuid: int) -> MetagraphView:
        with self._lock:
            try:
                graph = bt.Metagraph(
                    netuid=netuid, network=self.subtensor.network, sync=False, subtensor=self.subtensor
                )
                graph.sync(subtensor=self.subtensor, lite=True)
            except Exception as exc:
                raise ChainError(f"cannot sync the metagraph of netuid {netuid}: {exc}") from exc
        stakes = np.asarray(graph.S, dtype=float)
        neurons = tuple(
            NeuronView(
                uid=int(uid),
                hotkey=str(graph.hotkeys[i]),
                coldkey=str(graph.coldkeys[i]),
                stake=float(stakes[i]),
                validator_permit=bool(graph.validator_permit[i]),
                axon=graph.axons[i],
            )
            for i, uid in enumerate(graph.uids)
        )
        return MetagraphView(netuid=netuid, block=int(graph.block), neurons=neurons)

    def is_registered(self, hotkey: str, netuid: int) -> bool:
        with self._lock:
            return bool(self.subtensor.is_hotkey_registered(hotkey, netuid=netuid))

    def serve_axon(self, netuid: int, axon: "bt.Axon") -> None:
        with self._lock:
            response = self.subtensor.serve_axon(netuid=netuid, axon=axon)
        if not getattr(response, "success", False):
            raise ChainError(
                f"serving the axon on netuid {netuid} failed: {getattr(response, 'message', response)}"
            )

    def weights_status(self, hotkey: "str | bt.Wallet", netuid: int) -> WeightsGate:
        """Whether `hotkey` (an ss58 address or a wallet) may submit weights on `netuid` now, how long it
        must wait otherwise, and whether the subnet runs commit-reveal."""
        ss58 = hotkey if isinstance(hotkey, str) else hotkey.hotkey.ss58_address
        with self._lock:
            try:
                return self._weights_gate(ss58, netuid)
            except ChainError:
                raise
            except Exception as exc:
                raise ChainError(f"cannot read the weights status of netuid {netuid}: {exc}") from exc

    def _weights_gate(self, ss58: str, netuid: int) -> WeightsGate:
        """All reads at one block, so the answer is consistent. Caller holds the lock."""
        block = int(self.subtensor.get_current_block())
        rate_limit = self.subtensor.weights_rate_limit(netuid, block=block)
        if rate_limit is None:
            raise ChainError(f"netuid {netuid} does not exist")
        uid = self.subtensor.get_uid_for_hotkey_on_subnet(ss58, netuid, block=block)
        since = None if uid is None else self.subtensor.blocks_since_last_update(netuid, uid, block=block)
        commit_reveal = bool(self.subtensor.commit_reveal_enabled(netuid, block=block))
        period = self.subtensor.get_subnet_reveal_period_epochs(netuid, block=block) if commit_reveal else 0
        return WeightsGate(
            netuid=netuid,
            uid=None if uid is None else int(uid),
            block=block,
            blocks_since_last_update=None if since is None else int(since),
            rate_limit=int(rate_limit),
            commit_reveal=commit_reveal,
            reveal_period_epochs=int(period),
        )

    def set_weights(
        self,
        wallet: "bt.Wallet",
        netuid: int,
        uids: Sequence[int],
        scores: Sequence[float],
        *,
        version_key: int,
    ) -> WeightsOutcome:
        """Normalise `scores` (one per uid; `uids` lists every uid of the subnet) under the subnet's weight
        limits and submit them: set directly, or committed when the subnet runs commit-reveal (the SDK's
        `set_weights` picks). Nothing is signed while the rate limit forbids it. Scores that are NaN,
        infinite or negative count as 0; `uids` and `scores` that do not pair up are an
        `InvalidRequestError`."""
        raw = normalised_scores(uids, scores)
        if raw is None:
            # process_weights would spread uniform weights over everyone, rewarding nobody in particular.
            return WeightsOutcome(False, "no miner has a positive score yet; weights not set", [], [])
        with self._lock:
            gate = self.weights_status(wallet, netuid)
            if gate.uid is None:
                hotkey = wallet.hotkey.ss58_address
                return WeightsOutcome(False, f"hotkey {hotkey} is not registered on netuid {netuid}", [], [])
            if not gate.allowed:
                return rate_limited(gate)
            try:
                processed_uids, processed = process_weights(
                    uids=np.asarray(uids, dtype=np.int64),
                    weights=raw,
                    num_neurons=len(uids),
                    min_allowed_weights=self.subtensor.min_allowed_weights(netuid=netuid),
                    max_weight_limit=self.subtensor.max_weight_limit(netuid=netuid),
                )
                response = self.subtensor.set_weights(
                    wallet=wallet,
                    netuid=netuid,
                    uids=processed_uids,
                    weights=processed,
                    version_key=version_key,
                    wait_for_inclusion=True,  # so a rejected extrinsic (rate limit, version key) is reported
                    wait_for_finalization=False,
                )
            except Exception as exc:
                raise ChainError(f"setting weights on netuid {netuid} failed: {exc}") from exc
        success = bool(getattr(response, "success", False))
        message = str(getattr(response, "message", "") or "")
        committed = success and gate.commit_reveal
        if committed:
            message = (
                "weights committed under commit-reveal; the chain reveals them "
                f"{gate.reveal_period_epochs} epoch(s) later. {message}"
            ).strip()
        return WeightsOutcome(
            success=success,
            message=message,
            uids=[int(u) for u in np.asarray(processed_uids).tolist()],
            weights=[float(w) for w in np.asarray(processed).tolist()],
            committed=committed,
        )

    def weights(self, netuid: int) -> dict[int, dict[int, float]]:
        """Weights on chain, `{validator_uid: {miner_uid: weight}}`, each row normalised to sum 1."""
        with self._lock:
            rows = self.subtensor.weights(netuid=netuid)
        out: dict[int, dict[int, float]] = {}
        for validator_uid, pairs in rows:
            total = sum(value for _, value in pairs)
            if total:
                out[int(validator_uid)] = {int(uid): value / total for uid, value in pairs}
        return out


def normalised_scores(uids: Sequence[int], scores: Sequence[float]) -> "np.ndarray[Any, Any] | None":
    """Scores as float32 summing to 1, with NaN, infinite and negative scores as 0; None when no score is
    positive. Raises `InvalidRequestError` when `uids` and `scores` cannot describe one weight per uid."""
    if len(uids) != len(scores):
        raise InvalidRequestError(
            f"{len(uids)} uids but {len(scores)} scores; weights need one score per uid"
        )
    if len(set(uids)) != len(uids):
        raise InvalidRequestError("uids repeat; weights need each uid once")
    if any(int(uid) < 0 for uid in uids):
        raise InvalidRequestError("uids are never negative")
    raw = np.asarray(scores, dtype=np.float32)
    raw = np.nan_to_num(raw, nan=0.0, posinf=0.0, neginf=0.0).clip(min=0.0)
    total = float(raw.sum())
    return None if total <= 0 else raw / total


def rate_limited(gate: WeightsGate) -> WeightsOutcome:
    wait = gate.blocks_to_wait
    return WeightsOutcome(
        False,
        f"rate limited: the last weights update was {gate.blocks_since_last_update} block(s) ago and the "
        f"subnet's rate limit is {gate.rate_limit} blocks; retry in {wait} block(s)",
        [],
        [],
        rate_limited=True,
        retry_in_blocks=wait,
    )


class MetagraphCache:
    """Metagraph snapshots of the subnets a neuron cares about, refreshed off the hot path.

    Request handlers read snapshots with `get` (no I/O); a background loop calls `refresh`.
    """

    def __init__(self, chain: ChainClient, netuids: Sequence[int]) -> None:
        self.chain = chain
        self.netuids = list(dict.fromkeys(netuids))
        self._views: dict[int, MetagraphView] = {}

    def refresh(self) -> None:
        for netuid in self.netuids:
            try:
                self._views[netuid] = self.chain.metagraph(netuid)
            except ChainError as exc:  # keep serving the last good snapshot
                log.warning("metagraph refresh failed: %s", exc)

    def get(self, netuid: int) -> MetagraphView | None:
        return self._views.get(netuid)
