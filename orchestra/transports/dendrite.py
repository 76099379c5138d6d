"""The `dendrite` route: a bittensor 10.5 Synapse to a producer's Axon, with its signatures kept.

Every call returns (or raises with) a `DendriteProof`: the request signature our Dendrite made, taken
from the request as it was signed, and the axon's fields as its response headers state them. Nothing
in a proof comes from the response body, which the answering axon controls.

A `bt.StreamingSynapse` goes the way bittensor's `Dendrite.call_stream` sends it: the synapse's own
`process_streaming_response` reads the body as it arrives and fills the synapse, then
`extract_response_json` and the headers complete it. The body is bounded the same way. Verified on
loopback with bittensor 10.5: an Axon streams with the headers of the synapse its forward was given,
which carry no axon signature (as for non-streaming answers); refusals (401/403) carry a signed one.
"""

import asyncio
import collections
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import aiohttp
import bittensor as bt

from orchestra.proofs import axon_message, verify_signature
from orchestra.transports.base import (
    CallMeta,
    CallTimeout,
    InvalidResponse,
    LoopLocal,
    ProducerFailed,
    ProducerRejected,
    ProducerUnavailable,
    TransportError,
    strict_json,
)
from protocol.models import DendriteProof, Provider

SynapseT = TypeVar("SynapseT", bound=bt.Synapse)

MAX_RESPONSE_BYTES = 32 * 1024 * 1024

# Synapse fields that describe the envelope rather than the request or the answer.
ENVELOPE_FIELDS = frozenset(
    {"name", "timeout", "total_size", "header_size", "dendrite", "axon", "computed_body_hash"}
)


def synapse_body(synapse: bt.Synapse) -> dict[str, Any]:
    """The request/response fields of a synapse as JSON: what receipts digest."""
    body: dict[str, Any] = synapse.model_dump(mode="json", exclude=set(ENVELOPE_FIELDS))
    return body


@dataclass
class Exchange:
    """One request and what came back: the signed request, the axon's headers and the outcome."""

    synapse: bt.Synapse
    sent: Any  # bittensor TerminalInfo as signed
    answered: Any  # bittensor TerminalInfo from the response headers, or None
    status_code: int | None
    outcome: Literal["ok", "http_error", "timeout", "unavailable", "invalid"]
    detail: str = ""


class LocalDendrite(bt.Dendrite):  # type: ignore[misc]
    """bittensor's Dendrite signing, with an exchange that suits a long-running, offline process.

    The stock constructor looks up the public IP over the internet (and fails offline); the stock client
    rewrites a target whose IP equals ours to 0.0.0.0, keeps every synapse it ever sent, reads bodies of
    any size, and lets the response body overwrite the signed request fields. Here the advertised IP is
    given, targets are used as published, nothing is kept, bodies are bounded, and the proof fields are
    taken from the signed request and the response headers only.
    """

    def __init__(self, wallet: "bt.Wallet", ip: str = "127.0.0.1") -> None:
        self.uuid = str(uuid.uuid1())
        self.external_ip = ip
        self.keypair = wallet.hotkey
        self.synapse_history: collections.deque[Any] = collections.deque(maxlen=0)
        self._session = None

    def __del__(self) -> None:
        # DendriteTransport.aclose closes sessions on their own loop. The stock finaliser would try to
        # run an event loop, and warns when the collector happens to run inside one.
        pass

    async def exchange(self, axon: Any, synapse: bt.Synapse, *, timeout: float, max_bytes: int) -> Exchange:
        request_name = type(synapse).__name__
        synapse = self.preprocess_synapse_for_request(axon, synapse, timeout)
        sent = synapse.dendrite.model_copy()
        url = f"http://{axon.ip}:{axon.port}/{request_name}"
        session = await self.session
        try:
            async with session.post(
                url,
                headers=synapse.to_headers(),
                json=synapse.model_dump(),
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                answered = bt.Synapse.from_headers(response.headers).axon
                if response.status != 200 or not isinstance(synapse, bt.StreamingSynapse):
                    raw = await _read_bounded(response.content, max_bytes)
                    if raw is None:
                        return Exchange(
                            synapse,
                            sent,
                            answered,
                            response.status,
                            "invalid",
                            f"more than {max_bytes} bytes",
                        )
                    if response.status != 200:
                        return Exchange(synapse, sent, answered, response.status, "http_error", _message(raw))
                    answer = strict_json(raw)
                else:
                    problem = await _read_stream(synapse, response, max_bytes)
                    if problem is not None:
                        return Exchange(synapse, sent, answered, 200, "invalid", problem)
                    answer = synapse.extract_response_json(response)
                self.process_server_response(response, answer, synapse)
                return Exchange(synapse, sent, answered, 200, "ok")
        except asyncio.TimeoutError:
            return Exchange(synapse, sent, None, None, "timeout", f"no answer within {timeout:.1f}s")
        except aiohttp.ClientError as exc:
            return Exchange(synapse, sent, None, None, "unavailable", str(exc) or type(exc).__name__)
        except ValueError as exc:  # pydantic's ValidationError included
            return Exchange(synapse, sent, None, None, "invalid", str(exc)[:300])


async def _read_stream(
    synapse: bt.StreamingSynapse, response: aiohttp.ClientResponse, max_bytes: int
) -> str | None:
    """Let a streaming synapse assemble itself from the response body, bounded to `max_bytes`.

    Returns why the stream is unusable, or None. A transport failure under the stream (timeout, reset)
    is raised even when the synapse's parser swallowed it, so it is classified as what it was.
    """
    content = _BoundedStream(response.content, max_bytes)
    try:
        async for _ in synapse.process_streaming_response(_StreamedResponse(response, content)):
            pass
        problem = None
    except Exception as exc:  # a parser may fail any way; what it failed on is decided below
        problem = f"the answer stream does not parse: {str(exc)[:300] or type(exc).__name__}"
    if content.failure is not None:
        raise content.failure
    if content.overflowed:
        return f"more than {max_bytes} bytes"
    return problem


class _BoundedStream:
    """`response.content` as a streaming synapse reads it: ends past `max_bytes`, remembers why it ended."""

    def __init__(self, stream: aiohttp.StreamReader, max_bytes: int) -> None:
        self._stream = stream
        self.max_bytes = max_bytes
        self.size = 0
        self.overflowed = False
        self.failure: BaseException | None = None

    async def iter_any(self) -> AsyncIterator[bytes]:
        async for data in self._guard(self._stream.iter_any()):
            yield data

    async def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        async for data in self._guard(self._stream.iter_chunked(n)):
            yield data

    async def read(self, n: int = -1) -> bytes:
        if n >= 0:
            data = await self._stream.read(n)
            self._count(data)
            return data
        return b"".join([data async for data in self.iter_any()])

    async def _guard(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        try:
            async for data in chunks:
                self._count(data)
                yield data
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            self.failure = exc
            raise

    def _count(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            self.overflowed = True
            raise ValueError(f"the answer stream is longer than {self.max_bytes} bytes")


class _StreamedResponse:
    """The aiohttp response with its body replaced by a `_BoundedStream`."""

    def __init__(self, response: aiohttp.ClientResponse, content: _BoundedStream) -> None:
        self._response = response
        self.content = content

    def __getattr__(self, name: str) -> Any:
        return getattr(self._response, name)


async def _read_bounded(stream: aiohttp.StreamReader, max_bytes: int) -> bytes | None:
    """The whole body, or None once it passes `max_bytes` (`read(n)` alone may stop at a chunk)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _message(raw: bytes) -> str:
    """The `message` of an Axon's error body, if it has one."""
    try:
        body = strict_json(raw)
    except ValueError:
        return ""
    return str(body.get("message") or "") if isinstance(body, dict) else ""


class DendriteTransport:
    """Signs and sends synapses to axons. One Dendrite session per event loop."""

    def __init__(
        self, wallet: "bt.Wallet", *, ip: str = "127.0.0.1", max_response_bytes: int = MAX_RESPONSE_BYTES
    ) -> None:
        self.hotkey = wallet.hotkey.ss58_address
        self.max_response_bytes = max_response_bytes
        self._dendrites: LoopLocal[LocalDendrite] = LoopLocal(
            lambda: LocalDendrite(wallet, ip=ip), lambda dendrite: dendrite.aclose_session()
        )

    async def call(
        self, axon: Any, synapse: SynapseT, *, uid: int | None, timeout: float
    ) -> tuple[SynapseT, CallMeta]:
        """Send `synapse` to `axon` and return the answered synapse. Raises a `TransportError`.

        A streaming synapse comes back assembled from its stream, or the call fails as an invalid answer.
        """
        operation = type(synapse).__name__
        body_hash = synapse.body_hash  # what the Dendrite is about to sign
        started_ns = time.time_ns()
        started = time.perf_counter()
        exchange = await self._dendrites.get().exchange(
            axon, synapse, timeout=timeout, max_bytes=self.max_response_bytes
        )
        meta = CallMeta(
            provider=Provider(hotkey=axon.hotkey, uid=uid),
            operation=operation,
            started_ns=started_ns,
            latency_ms=(time.perf_counter() - started) * 1000,
            status_code=exchange.status_code,
            proof=_proof(exchange, operation, axon.hotkey, body_hash),
        )
        error = _error_for(exchange, meta, axon)
        if error is not None:
            raise error
        answered: SynapseT = exchange.synapse
        return answered, meta

    async def aclose(self) -> None:
        await self._dendrites.aclose()


def _proof(exchange: Exchange, operation: str, axon_hotkey: str, body_hash: str) -> DendriteProof | None:
    sent, answered = exchange.sent, exchange.answered
    if sent is None or sent.signature is None or sent.nonce is None:
        return None
    signed = answered is not None and answered.signature is not None and answered.nonce is not None
    proof = DendriteProof(
        synapse=operation,
        dendrite_hotkey=str(sent.hotkey),
        dendrite_nonce=int(sent.nonce),
        dendrite_uuid=str(sent.uuid),
        body_hash=body_hash,
        dendrite_signature=str(sent.signature),
        axon_hotkey=axon_hotkey,  # whom we addressed, which is what an axon signs
        axon_nonce=int(answered.nonce) if signed else None,
        axon_uuid=str(answered.uuid) if signed else None,
        axon_signature=str(answered.signature) if signed else None,
    )
    if signed and not verify_signature(axon_hotkey, axon_message(proof), str(answered.signature)):
        # A producer sending a signature that does not verify must not spoil the miner's receipt.
        proof = proof.model_copy(update={"axon_nonce": None, "axon_uuid": None, "axon_signature": None})
    return proof


def _error_for(exchange: Exchange, meta: CallMeta, axon: Any) -> TransportError | None:
    where = f"{meta.operation} at {axon.ip}:{axon.port}"
    code = exchange.status_code
    if exchange.outcome == "ok":
        return None
    if exchange.outcome == "timeout":
        return CallTimeout(f"{where}: {exchange.detail}", meta)
    if exchange.outcome == "unavailable":
        return ProducerUnavailable(f"{where} is unreachable: {exchange.detail}", meta)
    if exchange.outcome == "invalid":
        return InvalidResponse(f"{where} sent an answer that does not parse: {exchange.detail}", meta)
    if code in (408, 504):
        return CallTimeout(f"{where} timed out ({code}): {exchange.detail}", meta)
    if code is not None and 400 <= code < 500:
        return ProducerRejected(f"{where} refused the call ({code}): {exchange.detail}", meta)
    return ProducerFailed(f"{where} failed ({code}): {exchange.detail}", meta)
