"""The `dendrite` route: a bittensor 10.5 Synapse to a producer's Axon, with its signatures kept.

Every call returns (or raises with) a `DendriteProof`: the request signature our Dendrite made and the
signature the producer's Axon put in its response headers. Those are what make a receipt checkable.
"""

import collections
import time
import uuid
from typing import Any, TypeVar

import bittensor as bt

from orchestra.transports.base import (
    CallMeta,
    CallTimeout,
    InvalidResponse,
    LoopLocal,
    ProducerFailed,
    ProducerRejected,
    ProducerUnavailable,
    TransportError,
)
from protocol.models import DendriteProof, Provider

SynapseT = TypeVar("SynapseT", bound=bt.Synapse)

# Synapse fields that describe the envelope rather than the request or the answer.
ENVELOPE_FIELDS = frozenset(
    {"name", "timeout", "total_size", "header_size", "dendrite", "axon", "computed_body_hash"}
)


def synapse_body(synapse: bt.Synapse) -> dict[str, Any]:
    """The request/response fields of a synapse as JSON: what receipts digest."""
    body: dict[str, Any] = synapse.model_dump(mode="json", exclude=set(ENVELOPE_FIELDS))
    return body


class LocalDendrite(bt.Dendrite):  # type: ignore[misc]
    """bittensor's Dendrite without the parts that misbehave in a long-running, offline process.

    The stock constructor looks up the public IP over the internet (and fails offline); the stock
    client rewrites a target whose IP equals ours to 0.0.0.0, and keeps every synapse it ever sent in
    `synapse_history`. Here the advertised IP is given, targets are used as published, and no history
    is kept.
    """

    def __init__(self, wallet: "bt.Wallet", ip: str = "127.0.0.1") -> None:
        self.uuid = str(uuid.uuid1())
        self.external_ip = ip
        self.keypair = wallet.hotkey
        self.synapse_history: collections.deque[Any] = collections.deque(maxlen=0)
        self._session = None

    def _get_endpoint_url(self, target_axon: Any, request_name: str) -> str:
        return f"http://{target_axon.ip}:{target_axon.port}/{request_name}"

    def __del__(self) -> None:
        # DendriteTransport.aclose closes sessions on their own loop. The stock finaliser would try to
        # run an event loop, and warns when the collector happens to run inside one.
        pass


class DendriteTransport:
    """Signs and sends synapses to axons. One Dendrite session per event loop."""

    def __init__(self, wallet: "bt.Wallet", *, ip: str = "127.0.0.1") -> None:
        self.hotkey = wallet.hotkey.ss58_address
        self._dendrites: LoopLocal[LocalDendrite] = LoopLocal(
            lambda: LocalDendrite(wallet, ip=ip), lambda dendrite: dendrite.aclose_session()
        )

    async def call(
        self, axon: Any, synapse: SynapseT, *, uid: int | None, timeout: float
    ) -> tuple[SynapseT, CallMeta]:
        """Send `synapse` to `axon` and return the answered synapse. Raises a `TransportError`."""
        dendrite = self._dendrites.get()
        operation = type(synapse).__name__
        body_hash = synapse.body_hash  # what the Dendrite is about to sign
        started_ns = time.time_ns()
        started = time.perf_counter()
        response: SynapseT = await dendrite.call(
            target_axon=axon, synapse=synapse, timeout=timeout, deserialize=False
        )
        meta = CallMeta(
            provider=Provider(hotkey=axon.hotkey, uid=uid),
            operation=operation,
            started_ns=started_ns,
            latency_ms=(time.perf_counter() - started) * 1000,
            status_code=_status_code(response),
            proof=_proof(response, operation, body_hash),
        )
        error = _error_for(response, meta, axon, timeout)
        if error is not None:
            raise error
        return response, meta

    async def aclose(self) -> None:
        await self._dendrites.aclose()


def _status_code(synapse: bt.Synapse) -> int | None:
    try:
        return int(synapse.dendrite.status_code)
    except (TypeError, ValueError):
        return None


def _proof(synapse: bt.Synapse, operation: str, body_hash: str) -> DendriteProof | None:
    sent, answered = synapse.dendrite, synapse.axon
    if sent is None or sent.signature is None or sent.nonce is None or answered is None:
        return None
    return DendriteProof(
        synapse=operation,
        dendrite_hotkey=str(sent.hotkey),
        dendrite_nonce=int(sent.nonce),
        dendrite_uuid=str(sent.uuid),
        body_hash=body_hash,
        dendrite_signature=str(sent.signature),
        axon_hotkey=str(answered.hotkey),
        axon_nonce=int(answered.nonce) if answered.nonce is not None and answered.signature else None,
        axon_uuid=str(answered.uuid) if answered.uuid and answered.signature else None,
        axon_signature=str(answered.signature) if answered.signature else None,
    )


def _error_for(synapse: bt.Synapse, meta: CallMeta, axon: Any, timeout: float) -> TransportError | None:
    code = meta.status_code
    where = f"{meta.operation} at {axon.ip}:{axon.port}"
    message = synapse.dendrite.status_message or ""
    if code == 200:
        return None
    if code in (408, 504):
        return CallTimeout(f"{where} timed out after {timeout:.1f}s", meta)
    if code == 503:
        return ProducerUnavailable(f"{where} is unreachable: {message}", meta)
    if code in (401, 403, 404, 400):
        return ProducerRejected(f"{where} refused the call ({code}): {message}", meta)
    if code == 422:
        return InvalidResponse(f"{where} sent a response that does not parse: {message}", meta)
    return ProducerFailed(f"{where} failed ({code}): {message}", meta)
