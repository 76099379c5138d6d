"""A real Dendrite against a real Axon (the SN13 stand-in) on 127.0.0.1."""

from collections.abc import Iterator

import bittensor as bt
import bittensor.utils.networking as networking
import pytest
from aiohttp import web

from orchestra.adapters.data_universe import CompressedMinerIndex, GetMinerIndex
from orchestra.chain import ChainClient
from orchestra.devnet.data_universe import DataUniverseEmulator
from orchestra.devnet.servers import ThreadedAiohttpServer
from orchestra.ports import free_port
from orchestra.proofs import axon_message, dendrite_message, verify_signature
from orchestra.transports import InvalidResponse, ProducerRejected, ProducerUnavailable
from orchestra.transports.dendrite import DendriteTransport, LocalDendrite, synapse_body
from tests.conftest import devnet_chain


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
