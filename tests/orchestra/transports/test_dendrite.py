"""A real Dendrite against a real Axon (the SN13 stand-in) on 127.0.0.1."""

import asyncio
import contextlib
import itertools
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import bittensor as bt
import bittensor.utils.networking as networking
import pytest
from aiohttp import web

from orchestra.adapters.data_universe import CompressedMinerIndex, GetMinerIndex
from orchestra.adapters.desearch import ScraperStreamingSynapse
from orchestra.chain import ChainClient
from orchestra.devnet.data_universe import DataUniverseEmulator
from orchestra.devnet.servers import ThreadedAiohttpServer
from orchestra.ports import free_port
from orchestra.proofs import axon_message, canonical_json, dendrite_message, verify_signature
from orchestra.transports import CallTimeout, InvalidResponse, ProducerRejected, ProducerUnavailable
from orchestra.transports.dendrite import DendriteTransport, LocalDendrite, synapse_body
from tests.conftest import devnet_chain
from tests.orchestra.adapters.fakes import recorded


@pytest.fixture(scope="module")
def sn13(wallets: dict[str, bt.Wallet]) -> Iterator[tuple[ChainClient, DataUniverseEmulator]]:
    chain = devnet_chain(
        wallets, 13, [("producer", 100.0, False), ("miner", 20_000.0, True), ("miner2", 20_000.0, False)]
    )
    emulator = DataUniverseEmulator(wallets["producer"], chain, 13).start()
    yield chain, emulator
    emulator.stop()


def test_local_dendrite_never_looks_up_the_public_ip(
    wallets: dict[str, bt.Wallet], monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline() -> str:
        raise AssertionError("no network lookups")

    monkeypatch.setattr(networking, "get_external_ip", offline)
    dendrite = LocalDendrite(wallets["miner"])
    assert dendrite.keypair.ss58_address == wallets["miner"].hotkey.ss58_address


async def test_call_returns_the_answer_and_a_checkable_request_signature(
    sn13: tuple[ChainClient, DataUniverseEmulator], wallets: dict[str, bt.Wallet]
) -> None:
    chain, _ = sn13
    axon = chain.metagraph(13).neuron(0).axon
    transport = DendriteTransport(wallets["miner"])
    answered, meta = await transport.call(axon, GetMinerIndex(version=4), uid=0, timeout=5)
    await transport.aclose()

    index = CompressedMinerIndex.model_validate_json(answered.compressed_index_serialized or "")
    assert index.sources  # the stand-in serves the bundled corpus
    assert "compressed_index_serialized" in synapse_body(answered)
    assert "dendrite" not in synapse_body(answered)
    proof = meta.proof
    assert proof is not None and meta.status_code == 200
    assert proof.dendrite_hotkey == wallets["miner"].hotkey.ss58_address
    assert proof.axon_hotkey == wallets["producer"].hotkey.ss58_address
    assert verify_signature(proof.dendrite_hotkey, dendrite_message(proof), proof.dendrite_signature)
    # Verified on loopback: a stock 10.5 Axon does not sign the answers its forward produces.
    assert proof.axon_signature is None


async def test_refused_call_carries_the_axons_real_signature(
    sn13: tuple[ChainClient, DataUniverseEmulator], wallets: dict[str, bt.Wallet]
) -> None:
    chain, _ = sn13
    axon = chain.metagraph(13).neuron(0).axon
    transport = DendriteTransport(wallets["miner2"])  # registered on SN13 but without a permit
    with pytest.raises(ProducerRejected, match="403") as caught:
        await transport.call(axon, GetMinerIndex(version=4), uid=0, timeout=5)
    await transport.aclose()
    proof = caught.value.meta.proof
    assert proof is not None and proof.axon_signature is not None
    assert verify_signature(proof.axon_hotkey, axon_message(proof), proof.axon_signature)
    assert not verify_signature(
        wallets["stranger"].hotkey.ss58_address, axon_message(proof), proof.axon_signature
    )


async def test_unreachable_axon_is_unavailable(wallets: dict[str, bt.Wallet]) -> None:
    dead = bt.AxonInfo(
        version=1,
        ip="127.0.0.1",
        port=free_port(),
        ip_type=4,
        hotkey=wallets["producer"].hotkey.ss58_address,
        coldkey="",
    )
    transport = DendriteTransport(wallets["miner"])
    with pytest.raises(ProducerUnavailable):
        await transport.call(dead, GetMinerIndex(version=4), uid=0, timeout=2)
    await transport.aclose()


@pytest.fixture
def impostor(wallets: dict[str, bt.Wallet]) -> Iterator[bt.AxonInfo]:
    """An 'axon' that answers 200 with forged terminal fields in its body and headers."""

    async def answer(request: web.Request) -> web.Response:
        body = {
            "version": 4,
            "compressed_index_serialized": "{}",
            "dendrite": {"hotkey": "5Evil", "signature": "0xdead", "nonce": 1, "uuid": "x"},
            "axon": {"hotkey": "5SomeoneElse", "signature": "0xbeef", "nonce": 2},
        }
        headers = {
            "bt_header_axon_hotkey": "5SomeoneElse",
            "bt_header_axon_nonce": "3",
            "bt_header_axon_uuid": "u",
            "bt_header_axon_signature": "0x" + "ab" * 64,
            "bt_header_dendrite_hotkey": "5Evil",
        }
        return web.json_response(body, headers=headers)

    app = web.Application()
    app.router.add_post("/GetMinerIndex", answer)
    server = ThreadedAiohttpServer(app).start()
    yield bt.AxonInfo(
        version=1,
        ip="127.0.0.1",
        port=server.port,
        ip_type=4,
        hotkey=wallets["producer"].hotkey.ss58_address,
        coldkey="",
    )
    server.stop()


async def test_an_answering_axon_cannot_rewrite_the_proof(
    impostor: bt.AxonInfo, wallets: dict[str, bt.Wallet]
) -> None:
    transport = DendriteTransport(wallets["miner"])
    _, meta = await transport.call(impostor, GetMinerIndex(version=4), uid=0, timeout=5)
    await transport.aclose()
    proof = meta.proof
    assert proof is not None
    assert proof.dendrite_hotkey == wallets["miner"].hotkey.ss58_address
    assert verify_signature(proof.dendrite_hotkey, dendrite_message(proof), proof.dendrite_signature)
    assert proof.axon_hotkey == wallets["producer"].hotkey.ss58_address  # whom we called, not what it claims
    assert proof.axon_signature is None  # a signature that does not verify is dropped, not recorded


async def test_an_oversized_answer_is_refused(wallets: dict[str, bt.Wallet]) -> None:
    async def answer(_: web.Request) -> web.Response:
        return web.json_response({"compressed_index_serialized": "x" * 2_000})

    app = web.Application()
    app.router.add_post("/GetMinerIndex", answer)
    server = ThreadedAiohttpServer(app).start()
    axon = bt.AxonInfo(version=1, ip="127.0.0.1", port=server.port, ip_type=4, hotkey="5P", coldkey="")
    transport = DendriteTransport(wallets["miner"], max_response_bytes=1_000)
    try:
        with pytest.raises(InvalidResponse, match="more than 1000 bytes"):
            await transport.call(axon, GetMinerIndex(version=4), uid=0, timeout=5)
    finally:
        await transport.aclose()
        server.stop()


async def test_a_large_answer_arriving_in_many_chunks_is_read_whole(wallets: dict[str, bt.Wallet]) -> None:
    big = "x" * 600_000  # far beyond one socket read

    async def answer(_: web.Request) -> web.Response:
        return web.json_response({"version": 4, "compressed_index_serialized": big})

    app = web.Application()
    app.router.add_post("/GetMinerIndex", answer)
    server = ThreadedAiohttpServer(app).start()
    axon = bt.AxonInfo(version=1, ip="127.0.0.1", port=server.port, ip_type=4, hotkey="5P", coldkey="")
    transport = DendriteTransport(wallets["miner"])
    try:
        answered, _ = await transport.call(axon, GetMinerIndex(version=4), uid=0, timeout=5)
    finally:
        await transport.aclose()
        server.stop()
    assert answered.compressed_index_serialized == big


# ----------------------------------------------------------------------------- streaming synapses

STREAM = recorded("sn22_scraper_stream.json")


def stream_body(chunks: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(chunk).encode() for chunk in chunks)


@contextlib.contextmanager
def streaming_axon(
    wallets: dict[str, bt.Wallet],
    pieces: Callable[[], Iterator[bytes]],
    *,
    release: threading.Event | None = None,
) -> Iterator[bt.AxonInfo]:
    """A stand-in axon that streams `pieces` for ScraperStreamingSynapse, each in its own write.

    With `release`, it then holds the stream open until the test releases it."""

    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "bt_header_axon_status_code": "200"}
        )
        await response.prepare(request)
        for piece in pieces():
            await response.write(piece)
        if release is not None:
            await asyncio.to_thread(release.wait)
        return response

    app = web.Application()
    app.router.add_post("/ScraperStreamingSynapse", answer)
    app.router.add_post("/SwallowingScraper", answer)
    server = ThreadedAiohttpServer(app).start()
    try:
        yield bt.AxonInfo(
            version=1,
            ip="127.0.0.1",
            port=server.port,
            ip_type=4,
            hotkey=wallets["producer"].hotkey.ss58_address,
            coldkey="",
        )
    finally:
        if release is not None:
            release.set()
        server.stop()


def odd_pieces(data: bytes, size: int = 7) -> Callable[[], Iterator[bytes]]:
    return lambda: (data[i : i + size] for i in range(0, len(data), size))


class SwallowingScraper(ScraperStreamingSynapse):
    """Reads its stream the way upstream SN22 does: every error is logged and swallowed."""

    async def process_streaming_response(self, response: Any) -> AsyncIterator[dict[str, Any]]:
        try:
            async for item in super().process_streaming_response(response):
                yield item
        except Exception:  # the upstream behaviour under test
            pass


def scraper() -> ScraperStreamingSynapse:
    return ScraperStreamingSynapse(**STREAM["request"])


async def test_a_streamed_answer_is_assembled_with_the_same_proof(wallets: dict[str, bt.Wallet]) -> None:
    with streaming_axon(wallets, odd_pieces(stream_body(STREAM["chunks"]))) as axon:
        transport = DendriteTransport(wallets["miner"])
        try:
            answered, meta = await transport.call(axon, scraper(), uid=3, timeout=5)
        finally:
            await transport.aclose()
    assert isinstance(answered, ScraperStreamingSynapse)
    assert answered.completion.startswith("**Prices**") and len(answered.search_results or []) == 2
    assert answered.prompt == STREAM["request"]["prompt"]  # the request fields survive the merge
    body = synapse_body(answered)
    assert json.loads(canonical_json(body))["miner_tweets"][0]["id"] == "1850000000000000001"
    proof = meta.proof
    assert proof is not None and meta.status_code == 200 and meta.operation == "ScraperStreamingSynapse"
    assert proof.dendrite_hotkey == wallets["miner"].hotkey.ss58_address
    assert proof.axon_hotkey == wallets["producer"].hotkey.ss58_address
    assert verify_signature(proof.dendrite_hotkey, dendrite_message(proof), proof.dendrite_signature)
    assert proof.axon_signature is None  # a streamed answer carries no axon signature in 10.5


async def test_a_garbage_stream_is_an_invalid_response(wallets: dict[str, bt.Wallet]) -> None:
    data = stream_body(STREAM["chunks"][:2]) + b"\x00<html>upstream hiccup"
    with streaming_axon(wallets, odd_pieces(data)) as axon:
        transport = DendriteTransport(wallets["miner"])
        try:
            with pytest.raises(InvalidResponse, match=r"does not parse.*expected a JSON object") as caught:
                await transport.call(axon, scraper(), uid=3, timeout=5)
        finally:
            await transport.aclose()
    proof = caught.value.meta.proof
    assert proof is not None and proof.dendrite_signature  # the failed call keeps its request signature


@pytest.mark.parametrize("synapse_class", [ScraperStreamingSynapse, SwallowingScraper])
async def test_an_endless_stream_is_cut_at_the_size_bound(
    wallets: dict[str, bt.Wallet], synapse_class: type[ScraperStreamingSynapse]
) -> None:
    piece = json.dumps({"type": "text", "role": "summary", "content": "x" * 1_000}).encode()
    with streaming_axon(wallets, lambda: itertools.repeat(piece, 10_000)) as axon:
        transport = DendriteTransport(wallets["miner"], max_response_bytes=20_000)
        try:
            with pytest.raises(InvalidResponse, match="more than 20000 bytes"):
                await transport.call(axon, synapse_class(prompt="q"), uid=3, timeout=10)
        finally:
            await transport.aclose()


@pytest.mark.parametrize("synapse_class", [ScraperStreamingSynapse, SwallowingScraper])
async def test_a_stalled_stream_is_a_timeout(
    wallets: dict[str, bt.Wallet], synapse_class: type[ScraperStreamingSynapse]
) -> None:
    release = threading.Event()
    with streaming_axon(wallets, lambda: iter([stream_body(STREAM["chunks"][:2])]), release=release) as axon:
        transport = DendriteTransport(wallets["miner"])
        try:
            with pytest.raises(CallTimeout):
                await transport.call(axon, synapse_class(prompt="q"), uid=3, timeout=0.5)
        finally:
            await transport.aclose()


async def test_a_stream_cut_off_mid_object_is_an_invalid_response(wallets: dict[str, bt.Wallet]) -> None:
    data = stream_body(STREAM["chunks"])[:-25]
    with streaming_axon(wallets, odd_pieces(data)) as axon:
        transport = DendriteTransport(wallets["miner"])
        try:
            with pytest.raises(InvalidResponse, match="ends inside a JSON object"):
                await transport.call(axon, scraper(), uid=3, timeout=5)
        finally:
            await transport.aclose()


async def test_a_refused_streaming_call_is_rejected(wallets: dict[str, bt.Wallet]) -> None:
    async def refuse(_: web.Request) -> web.Response:
        return web.json_response({"message": "Forbidden. Key is blacklisted: Low stake."}, status=403)

    app = web.Application()
    app.router.add_post("/ScraperStreamingSynapse", refuse)
    server = ThreadedAiohttpServer(app).start()
    axon = bt.AxonInfo(version=1, ip="127.0.0.1", port=server.port, ip_type=4, hotkey="5P", coldkey="")
    transport = DendriteTransport(wallets["miner"])
    try:
        with pytest.raises(ProducerRejected, match=r"\(403\): Forbidden. Key is blacklisted: Low stake"):
            await transport.call(axon, scraper(), uid=3, timeout=5)
    finally:
        await transport.aclose()
        server.stop()
