"""The devnet chain behind `orchestra.chain.ChainClient`: the reads and writes the stock mock gets wrong."""

import bittensor as bt
import pytest

from orchestra.chain import ChainClient, MetagraphCache
from orchestra.errors import ChainError, ConfigError, InvalidRequestError
from orchestra.ports import LOOPBACK, free_port
from protocol.version import SPEC_VERSION
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


# ---------------------------------------------------------------- weights: rate limit, version key, bad input


def test_weights_status_tells_whether_a_validator_may_submit(
    chain: ChainClient, wallets: dict[str, bt.Wallet]
) -> None:
    chain.subtensor.set_weights_rate_limit(7, 4)
    chain.subtensor.advance(2)
    gate = chain.weights_status(wallets["validator"], 7)
    assert (gate.uid, gate.rate_limit, gate.commit_reveal) == (0, 4, False)
    assert gate.blocks_since_last_update == chain.block()  # registered at block 0: never set weights
    assert gate.allowed and gate.blocks_to_wait == 0
    stranger = chain.weights_status(wallets["stranger"].hotkey.ss58_address, 7)
    assert stranger.uid is None and not stranger.allowed and stranger.blocks_to_wait is None


def test_weights_status_of_a_missing_subnet_is_a_chain_error(
    chain: ChainClient, wallets: dict[str, bt.Wallet]
) -> None:
    with pytest.raises(ChainError, match="netuid 99 does not exist"):
        chain.weights_status(wallets["validator"], 99)


def test_rate_limit_refuses_without_signing_then_allows_after_blocks(
    chain: ChainClient, wallets: dict[str, bt.Wallet]
) -> None:
    validator = wallets["validator"]
    chain.subtensor.set_weights_rate_limit(7, 3)
    chain.subtensor.advance(3)
    assert chain.set_weights(validator, 7, [0, 1, 2], [0.0, 0.3, 0.1], version_key=SPEC_VERSION).success
    head = chain.block()

    early = chain.set_weights(validator, 7, [0, 1, 2], [0.0, 0.1, 0.3], version_key=SPEC_VERSION)
    assert not early.success and early.rate_limited and early.retry_in_blocks == 3
    assert "rate limited" in early.message
    assert chain.block() == head  # nothing was submitted: no extrinsic, no block
    assert chain.weights(7)[0][1] == pytest.approx(0.75, abs=1e-3)  # the first weights stand

    chain.subtensor.advance(2)
    assert chain.weights_status(validator, 7).blocks_to_wait == 1
    chain.subtensor.advance(1)
    later = chain.set_weights(validator, 7, [0, 1, 2], [0.0, 0.1, 0.3], version_key=SPEC_VERSION)
    assert later.success and not later.rate_limited, later.message
    assert chain.weights(7)[0][2] == pytest.approx(0.75, abs=1e-3)


def test_the_chain_refuses_weights_set_too_fast(chain: ChainClient, wallets: dict[str, bt.Wallet]) -> None:
    devnet, validator = chain.subtensor, wallets["validator"]
    devnet.set_weights_rate_limit(7, 2)
    assert devnet.set_weights(validator, 7, [1, 2], [0.5, 0.5], version_key=SPEC_VERSION).success
    refused = devnet.set_weights(validator, 7, [1, 2], [0.9, 0.1], version_key=SPEC_VERSION)
    assert not refused.success and "SettingWeightsTooFast" in refused.message
    devnet.advance(1)
    # The chain accepts once `rate limit` blocks have passed; the SDK, and so the gate, waits one more.
    assert chain.weights_status(validator, 7).blocks_to_wait == 1
    assert devnet.set_weights(validator, 7, [1, 2], [0.9, 0.1], version_key=SPEC_VERSION).success


def test_a_stale_version_key_is_refused(chain: ChainClient, wallets: dict[str, bt.Wallet]) -> None:
    chain.subtensor.set_weights_version_key(7, SPEC_VERSION + 1)
    stale = chain.set_weights(wallets["validator"], 7, [0, 1, 2], [0.0, 0.3, 0.1], version_key=SPEC_VERSION)
    assert not stale.success and not stale.rate_limited
    assert "IncorrectWeightVersionKey" in stale.message
    assert chain.weights(7) == {}
    chain.subtensor.set_weights_version_key(7, SPEC_VERSION)
    current = chain.set_weights(wallets["validator"], 7, [0, 1, 2], [0.0, 0.3, 0.1], version_key=SPEC_VERSION)
    assert current.success, current.message


@pytest.mark.parametrize(
    ("uids", "scores", "match"),
    [
        ([0, 1, 2], [0.5, 0.5], "3 uids but 2 scores"),
        ([0, 1, 1], [0.2, 0.3, 0.5], "repeat"),
        ([0, -1, 2], [0.2, 0.3, 0.5], "negative"),
    ],
)
def test_forged_weight_vectors_are_typed_errors(
    chain: ChainClient,
    wallets: dict[str, bt.Wallet],
    uids: list[int],
    scores: list[float],
    match: str,
) -> None:
    head = chain.block()
    with pytest.raises(InvalidRequestError, match=match):
        chain.set_weights(wallets["validator"], 7, uids, scores, version_key=SPEC_VERSION)
    assert chain.block() == head and chain.weights(7) == {}


def test_negative_nan_and_infinite_scores_earn_nothing(
    chain: ChainClient, wallets: dict[str, bt.Wallet]
) -> None:
    outcome = chain.set_weights(
        wallets["validator"], 7, [0, 1, 2], [float("inf"), -3.0, float("nan")], version_key=SPEC_VERSION
    )
    assert not outcome.success and chain.weights(7) == {}
    outcome = chain.set_weights(
        wallets["validator"], 7, [0, 1, 2], [float("nan"), -3.0, 0.5], version_key=SPEC_VERSION
    )
    assert outcome.success, outcome.message
    assert chain.weights(7) == {0: {2: pytest.approx(1.0)}}


def test_weights_for_a_uid_off_the_subnet_are_refused(
    chain: ChainClient, wallets: dict[str, bt.Wallet]
) -> None:
    outcome = chain.set_weights(
        wallets["validator"], 7, [0, 1, 99], [0.0, 0.5, 0.5], version_key=SPEC_VERSION
    )
    assert not outcome.success and "UidVecContainInvalidOne" in outcome.message
    assert chain.weights(7) == {}


@pytest.mark.parametrize(
    ("uids", "weights", "match"),
    [([1, 2], [0.5], "same length"), ([1, 2], [0.5, -0.5], "negative")],
)
def test_the_chain_refuses_raw_vectors_it_cannot_encode(
    chain: ChainClient, wallets: dict[str, bt.Wallet], uids: list[int], weights: list[float], match: str
) -> None:
    refused = chain.subtensor.set_weights(wallets["validator"], 7, uids, weights, version_key=SPEC_VERSION)
    assert not refused.success and match in refused.message
    assert chain.weights(7) == {}


def test_devnet_weight_settings_refuse_impossible_values(chain: ChainClient) -> None:
    with pytest.raises(ValueError, match="blocks >= 0"):
        chain.subtensor.set_weights_rate_limit(7, -1)
    with pytest.raises(ValueError, match="at least 1 epoch"):
        chain.subtensor.set_commit_reveal(7, True, reveal_period_epochs=0)
    with pytest.raises(ValueError, match="netuid 99 does not exist"):
        chain.subtensor.set_weights_version_key(99, SPEC_VERSION)
