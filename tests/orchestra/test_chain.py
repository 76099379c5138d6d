"""The devnet chain behind `orchestra.chain.ChainClient`: the reads and writes the stock mock gets wrong."""

import bittensor as bt
import pytest

from orchestra.chain import ChainClient, MetagraphCache
from orchestra.errors import ConfigError
from orchestra.ports import LOOPBACK, free_port
from tests.conftest import devnet_chain


@pytest.fixture
def chain(wallets: dict[str, bt.Wallet]) -> ChainClient:
    client = devnet_chain(
        wallets, 7, [("validator", 5_000.0, True), ("miner", 10.0, False), ("miner2", 20.0, False)]
    )
    return client


def test_each_devnet_chain_has_its_own_state(wallets: dict[str, bt.Wallet]) -> None:
    first, second = ChainClient.connect("mock"), ChainClient.connect("mock")
    first.subtensor.create_subnet(3)
    w = wallets["miner"]
    first.subtensor.register(3, w.hotkey.ss58_address, w.coldkeypub.ss58_address)
    assert first.is_registered(w.hotkey.ss58_address, 3)
    second.subtensor.create_subnet(3)  # would raise "Subnet already exists" with shared state
    assert not second.is_registered(w.hotkey.ss58_address, 3)


def test_registration_lookups(chain: ChainClient, wallets: dict[str, bt.Wallet]) -> None:
    assert chain.is_registered(wallets["miner"].hotkey.ss58_address, 7)
    assert not chain.is_registered(wallets["stranger"].hotkey.ss58_address, 7)


def test_metagraph_lists_neurons_with_stake_and_permits(
    chain: ChainClient, wallets: dict[str, bt.Wallet]
) -> None:
    graph = chain.metagraph(7)
    assert graph.hotkeys == [wallets[n].hotkey.ss58_address for n in ("validator", "miner", "miner2")]
    assert [n.validator_permit for n in graph.neurons] == [True, False, False]
    assert [n.stake for n in graph.neurons] == [5_000.0, 10.0, 20.0]
    assert graph.uid_of(wallets["miner2"].hotkey.ss58_address) == 2
    assert graph.uid_of(wallets["stranger"].hotkey.ss58_address) is None
    assert not any(n.is_serving for n in graph.neurons)


def test_serving_an_axon_publishes_its_address(chain: ChainClient, wallets: dict[str, bt.Wallet]) -> None:
    port = free_port()
    axon = bt.Axon(wallet=wallets["miner"], port=port, external_ip=LOOPBACK, external_port=port)
    chain.serve_axon(7, axon)
    neuron = chain.metagraph(7).neuron(1)
    assert neuron.is_serving and (neuron.axon.ip, neuron.axon.port) == (LOOPBACK, port)


def test_serving_an_unregistered_axon_is_refused(chain: ChainClient, wallets: dict[str, bt.Wallet]) -> None:
    axon = bt.Axon(wallet=wallets["stranger"], port=free_port(), external_ip=LOOPBACK)
    with pytest.raises(Exception, match="not registered"):
        chain.serve_axon(7, axon)


def test_weights_are_stored_normalised_and_read_back(
    chain: ChainClient, wallets: dict[str, bt.Wallet]
) -> None:
    outcome = chain.set_weights(wallets["validator"], 7, [0, 1, 2], [0.0, 0.3, 0.1], version_key=1000)
    assert outcome.success, outcome.message
    on_chain = chain.weights(7)
    assert set(on_chain) == {0}
    assert on_chain[0][1] == pytest.approx(0.75, abs=1e-3)
    assert on_chain[0][2] == pytest.approx(0.25, abs=1e-3)
    assert 0 not in on_chain[0]


def test_all_zero_scores_set_no_weights(chain: ChainClient, wallets: dict[str, bt.Wallet]) -> None:
    outcome = chain.set_weights(
        wallets["validator"], 7, [0, 1, 2], [0.0, 0.0, float("nan")], version_key=1000
    )
    assert not outcome.success
    assert chain.weights(7) == {}


def test_setting_weights_needs_a_validator_permit(chain: ChainClient, wallets: dict[str, bt.Wallet]) -> None:
    outcome = chain.set_weights(wallets["miner"], 7, [0, 1, 2], [0.0, 0.5, 0.5], version_key=1000)
    assert not outcome.success and "permit" in outcome.message


def test_unknown_network_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown network"):
        ChainClient.connect("moon")


def test_metagraph_cache_serves_snapshots_without_io(
    chain: ChainClient, wallets: dict[str, bt.Wallet]
) -> None:
    cache = MetagraphCache(chain, [7, 7])
    assert cache.get(7) is None
    cache.refresh()
    before = cache.get(7)
    assert before is not None and len(before.neurons) == 3
    w = wallets["stranger"]
    chain.subtensor.register(7, w.hotkey.ss58_address, w.coldkeypub.ss58_address)
    assert cache.get(7) is before  # unchanged until the next refresh
    cache.refresh()
    refreshed = cache.get(7)
    assert refreshed is not None and len(refreshed.neurons) == 4
