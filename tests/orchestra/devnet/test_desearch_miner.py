"""The SN22 miner stand-in: a real Axon answering a real Dendrite, through the transport and the adapter."""

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import bittensor as bt
import httpx
import pytest

from orchestra.adapters.base import AdapterError
from orchestra.adapters.desearch import (
    DesearchMinerAdapter,
    ResultType,
    ScraperStreamingSynapse,
    TwitterSearchSynapse,
    build_scraper_synapse,
)
from orchestra.chain import ChainClient
from orchestra.devnet.desearch_miner import DesearchMinerEmulator
from orchestra.devnet.faults import Fault, FaultInjector, FaultKind
from orchestra.proofs import axon_message, canonical_json, dendrite_message, verify_signature
from orchestra.routing import Candidate, RouteSpec
from orchestra.transports import InvalidResponse, ProducerFailed, ProducerRejected
from orchestra.transports.base import CallMeta, CallReply
from orchestra.transports.dendrite import DendriteTransport, synapse_body
from protocol.models import Provider, RouteKind, Step
from tests.conftest import devnet_chain

NETUID = 22


@pytest.fixture(scope="module")
def sn22(wallets: dict[str, bt.Wallet]) -> Iterator[tuple[ChainClient, DesearchMinerEmulator]]:
    chain = devnet_chain(
        wallets,
        NETUID,
        [
            ("producer", 100.0, False),
            ("miner", 20_000.0, True),  # a validator on SN22 with enough stake
            ("miner2", 20_000.0, False),  # stake but no permit
            ("validator", 500.0, True),  # a validator with too little stake
        ],
    )
    emulator = DesearchMinerEmulator(wallets["producer"], chain, NETUID, faults=FaultInjector()).start()
    yield chain, emulator
    emulator.stop()


class TransportCaller:
    """A `Caller` bound to one SN22 axon: every synapse goes through the real `DendriteTransport`."""

    def __init__(self, transport: DendriteTransport, chain: ChainClient) -> None:
        neuron = chain.metagraph(NETUID).neuron(0)
        route = RouteSpec(
            name="sn22-miners",
            netuid=NETUID,
            kind=RouteKind.DENDRITE,
            adapter="desearch_miners",
            capabilities=("web_search", "social_search"),
            timeout_s=20,
        )
        self._candidate = Candidate(
            route=route, provider=Provider(hotkey=neuron.hotkey, uid=0), axon=neuron.axon
        )
        self.transport = transport
        self.metas: list[CallMeta] = []

    @property
    def candidate(self) -> Candidate:
        return self._candidate

    async def dendrite(self, synapse: bt.Synapse) -> CallReply:
        answered, meta = await self.transport.call(
            self._candidate.axon, synapse, uid=0, timeout=self._candidate.route.timeout_s
        )
        self.metas.append(meta)
        # What the executor records and hands back: the parse of the exact bytes it digests.
        payload = json.loads(canonical_json(synapse_body(answered)))
        return CallReply(payload=payload, meta=meta, receipt_index=len(self.metas) - 1)

    async def http(
        self, method: str, path: str, *, json_body: Any = None, headers: dict[str, str] | None = None
    ) -> CallReply:
        raise AssertionError("SN22 miners are called by dendrite")


async def run_step(
    sn22: tuple[ChainClient, DesearchMinerEmulator], wallet: bt.Wallet, step: Step
) -> tuple[list[Any], TransportCaller]:
    chain, _ = sn22
    caller = TransportCaller(DendriteTransport(wallet), chain)
    try:
        records = await DesearchMinerAdapter().run(step, caller)
    finally:
        await caller.transport.aclose()
    return records, caller


async def test_a_web_search_streams_from_the_axon_into_records(
    sn22: tuple[ChainClient, DesearchMinerEmulator], wallets: dict[str, bt.Wallet]
) -> None:
    _, emulator = sn22
    served = emulator.served["ScraperStreamingSynapse"]
    step = Step(id="web", capability="web_search", inputs={"query": "H100 GPU cloud pricing", "count": 10})
    records, caller = await run_step(sn22, wallets["miner"], step)

    pages = [r for r in records if r.kind == "web_page"]
    [answer] = [r for r in records if r.kind == "answer"]
    assert 0 < len(pages) <= 10 and all(r.source == "web" and r.url for r in pages)
    assert "H100" in pages[0].text  # the best-ranked page is about the query
    assert f"[1]({pages[0].url})" in answer.text  # the summary cites the pages it streamed first
    assert emulator.served["ScraperStreamingSynapse"] == served + 1
    [meta] = caller.metas
    proof = meta.proof
    assert proof is not None and proof.synapse == "ScraperStreamingSynapse"
    assert verify_signature(proof.dendrite_hotkey, dendrite_message(proof), proof.dendrite_signature)
    assert proof.axon_hotkey == wallets["producer"].hotkey.ss58_address
    assert proof.axon_signature is None  # a 10.5 Axon streams with unsigned headers; recorded as such


async def test_an_x_search_returns_the_latest_matching_posts(
    sn22: tuple[ChainClient, DesearchMinerEmulator], wallets: dict[str, bt.Wallet]
) -> None:
    step = Step(
        id="social",
        capability="social_search",
        inputs={"query": "H100 pricing", "count": 5, "sort": "Latest"},
    )
    records, _ = await run_step(sn22, wallets["miner"], step)
    assert 0 < len(records) <= 5 and all(r.kind == "post" and r.source == "x" for r in records)
    published = [r.published for r in records]
    assert published == sorted(published, reverse=True)
    assert all(r.author and r.url and "like_count" in r.metrics for r in records)


@pytest.mark.parametrize(
    ("caller", "refusal"),
    [
        ("miner2", "Non-validator hotkey"),
        ("validator", "Low stake"),
        ("stranger", "Unrecognized hotkey"),
    ],
)
async def test_callers_without_a_validator_permit_and_stake_are_refused(
    sn22: tuple[ChainClient, DesearchMinerEmulator], wallets: dict[str, bt.Wallet], caller: str, refusal: str
) -> None:
    chain, emulator = sn22
    served = dict(emulator.served)
    axon = chain.metagraph(NETUID).neuron(0).axon
    transport = DendriteTransport(wallets[caller])
    try:
        with pytest.raises(ProducerRejected, match=f"403.*{refusal}") as caught:
            await transport.call(
                axon, build_scraper_synapse({"query": "q"}, now=emulator.now), uid=0, timeout=5
            )
    finally:
        await transport.aclose()
    assert emulator.served == served  # refused before the forward ran
    proof = caught.value.meta.proof
    assert proof is not None and proof.axon_signature is not None
    assert verify_signature(proof.axon_hotkey, axon_message(proof), proof.axon_signature)


async def test_a_caller_over_the_request_rate_is_refused(
    sn22: tuple[ChainClient, DesearchMinerEmulator], wallets: dict[str, bt.Wallet]
) -> None:
    chain, _ = sn22
    emulator = DesearchMinerEmulator(wallets["producer2"], chain, NETUID, requests_per_minute=2)
    synapse = TwitterSearchSynapse(query="q")
    synapse.dendrite = bt.TerminalInfo(hotkey=wallets["miner"].hotkey.ss58_address)
    verdicts = [await emulator.blacklist_twitter_search(synapse) for _ in range(3)]
    assert [blocked for blocked, _ in verdicts] == [False, False, True]
    assert "per minute" in verdicts[-1][1]


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        (FaultKind.GARBAGE, InvalidResponse, "expected a JSON object"),
        (FaultKind.SCHEMA, InvalidResponse, "no `type`"),
        (FaultKind.ERROR, ProducerFailed, "500"),
    ],
)
async def test_injected_faults_reach_the_caller_as_typed_errors(
    sn22: tuple[ChainClient, DesearchMinerEmulator],
    wallets: dict[str, bt.Wallet],
    fault: FaultKind,
    error: type[Exception],
    message: str,
) -> None:
    _, emulator = sn22
    assert emulator.faults is not None
    emulator.faults.set((Fault(fault),))
    try:
        with pytest.raises(error, match=message):
            await run_step(
                sn22, wallets["miner"], Step(id="web", capability="web_search", inputs={"query": "H100"})
            )
    finally:
        emulator.faults.set(())


async def test_a_renamed_x_answer_is_an_adapter_error(
    sn22: tuple[ChainClient, DesearchMinerEmulator], wallets: dict[str, bt.Wallet]
) -> None:
    _, emulator = sn22
    assert emulator.faults is not None
    emulator.faults.set((Fault(FaultKind.SCHEMA),))
    try:
        with pytest.raises(AdapterError, match="tweet shape") as caught:
            await run_step(
                sn22,
                wallets["miner"],
                Step(id="x", capability="social_search", inputs={"query": "H100 pricing"}),
            )
    finally:
        emulator.faults.set(())
    assert caught.value.receipt_index == 0


def test_every_response_says_it_comes_from_a_stand_in(
    sn22: tuple[ChainClient, DesearchMinerEmulator],
) -> None:
    _, emulator = sn22
    reply = httpx.post(
        f"http://127.0.0.1:{emulator.port}/TwitterSearchSynapse", json={"query": "q"}, timeout=5
    )
    assert reply.status_code != 200  # unsigned: refused
    assert reply.headers["x-orchestra-devnet"] == "stand-in"


def test_the_stream_sends_results_first_then_the_summary(
    sn22: tuple[ChainClient, DesearchMinerEmulator],
) -> None:
    _, emulator = sn22
    synapse = ScraperStreamingSynapse(
        prompt="H100 GPU cloud pricing",
        tools=["Web Search", "Twitter Search", "Youtube Search"],
        result_type=ResultType.LINKS_WITH_FINAL_SUMMARY,
    )
    items = emulator.scraper_stream(synapse)
    kinds = [item["type"] for item in items]
    assert kinds[:3] == ["search", "youtube_search", "tweets"] and kinds[-1] == "completion"
    assert set(kinds[3:-1]) == {"text"} and len(kinds) > 5
    assert "".join(item["content"] for item in items if item["type"] == "text") == items[-1]["content"]
    assert items[1]["content"] == []  # the corpus has no videos
    links_only = emulator.scraper_stream(synapse.model_copy(update={"result_type": ResultType.ONLY_LINKS}))
    assert [item["type"] for item in links_only] == ["search", "youtube_search", "tweets"]


def test_date_filters_count_back_from_the_corpus_clock(
    sn22: tuple[ChainClient, DesearchMinerEmulator],
) -> None:
    _, emulator = sn22
    synapse = ScraperStreamingSynapse(prompt="GPU pricing", tools=["Web Search"], count=200)
    everything = emulator.scraper_stream(synapse)[0]["content"]
    recent = emulator.scraper_stream(synapse.model_copy(update={"date_filter_type": "PAST_WEEK"}))[0][
        "content"
    ]
    since = emulator.now - dt.timedelta(days=7)
    assert 0 < len(recent) < len(everything)
    assert all(dt.date.fromisoformat(page["published_date"][:10]) >= since.date() for page in recent)
