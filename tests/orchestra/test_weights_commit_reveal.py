"""Commit-reveal weights on the devnet chain, through `ChainClient`: hidden when committed, visible once the
chain reveals them in the epoch `reveal period` after the commit's."""

import bittensor as bt
import pytest

from orchestra.chain import ChainClient
from orchestra.devnet.chain import epoch_index
from protocol.version import SPEC_VERSION

NETUID, TEMPO = 7, 4


@pytest.fixture
def chain(wallets: dict[str, bt.Wallet]) -> ChainClient:
    """A subnet with a short tempo, so epochs pass in a few blocks, and commit-reveal on."""
    client = ChainClient.connect("mock")
    client.subtensor.create_subnet(NETUID, tempo=TEMPO)
    for name, permit in (("validator", True), ("miner", False), ("miner2", False)):
        wallet = wallets[name]
        client.subtensor.register(
            NETUID,
            wallet.hotkey.ss58_address,
            wallet.coldkeypub.ss58_address,
            stake_tao=5_000.0 if permit else 10.0,
            validator_permit=permit,
        )
    client.subtensor.set_commit_reveal(NETUID, True)
    return client


def commit(
    chain: ChainClient, wallet: bt.Wallet, scores: list[float], *, version_key: int = SPEC_VERSION
) -> None:
    outcome = chain.set_weights(wallet, NETUID, [0, 1, 2], scores, version_key=version_key)
    assert outcome.success and outcome.committed, outcome.message
    assert "commit-reveal" in outcome.message


@pytest.mark.parametrize("reveal_period_epochs", [1, 2])
def test_committed_weights_stay_hidden_until_the_reveal_block(
    chain: ChainClient, wallets: dict[str, bt.Wallet], reveal_period_epochs: int
) -> None:
    devnet = chain.subtensor
    devnet.set_commit_reveal(NETUID, True, reveal_period_epochs=reveal_period_epochs)
    gate = chain.weights_status(wallets["validator"], NETUID)
    assert gate.commit_reveal and gate.reveal_period_epochs == reveal_period_epochs

    commit(chain, wallets["validator"], [0.0, 0.3, 0.1])
    assert chain.weights(NETUID) == {}
    [pending] = devnet.pending_commits(NETUID)
    assert epoch_index(NETUID, TEMPO, pending.reveal_block) == (
        epoch_index(NETUID, TEMPO, pending.commit_block) + reveal_period_epochs
    )

    devnet.advance(pending.reveal_block - chain.block() - 1)
    assert chain.weights(NETUID) == {}  # one block before the reveal
    devnet.advance(1)
    revealed = chain.weights(NETUID)
    assert revealed[0][1] == pytest.approx(0.75, abs=1e-3)
    assert revealed[0][2] == pytest.approx(0.25, abs=1e-3)
    assert devnet.pending_commits(NETUID) == []


def test_commits_are_rate_limited_like_weights(chain: ChainClient, wallets: dict[str, bt.Wallet]) -> None:
    chain.subtensor.set_weights_rate_limit(NETUID, 2)
    chain.subtensor.advance(2)
    commit(chain, wallets["validator"], [0.0, 0.3, 0.1])
    again = chain.set_weights(
        wallets["validator"], NETUID, [0, 1, 2], [0.0, 0.1, 0.3], version_key=SPEC_VERSION
    )
    assert again.rate_limited and again.retry_in_blocks == 2 and not again.committed
    assert len(chain.subtensor.pending_commits(NETUID)) == 1


def test_the_chain_refuses_a_commit_that_comes_too_early(
    chain: ChainClient, wallets: dict[str, bt.Wallet]
) -> None:
    devnet = chain.subtensor
    devnet.set_weights_rate_limit(NETUID, 3)
    devnet.advance(3)
    assert devnet.set_weights(
        wallets["validator"], NETUID, [1, 2], [0.5, 0.5], version_key=SPEC_VERSION
    ).success
    refused = devnet.set_weights(wallets["validator"], NETUID, [1, 2], [0.9, 0.1], version_key=SPEC_VERSION)
    assert not refused.success and "CommittingWeightsTooFast" in refused.message


def test_a_commit_with_a_stale_version_key_is_never_revealed(
    chain: ChainClient, wallets: dict[str, bt.Wallet]
) -> None:
    devnet = chain.subtensor
    devnet.set_weights_version_key(NETUID, SPEC_VERSION + 1)
    # The chain cannot read a commit, so it accepts it; the version key is checked when it is revealed.
    commit(chain, wallets["validator"], [0.0, 0.3, 0.1])
    [pending] = devnet.pending_commits(NETUID)
    devnet.advance(pending.reveal_block - chain.block() + 1)
    assert chain.weights(NETUID) == {}
    assert devnet.pending_commits(NETUID) == []


def test_turning_commit_reveal_off_sets_weights_directly(
    chain: ChainClient, wallets: dict[str, bt.Wallet]
) -> None:
    chain.subtensor.set_commit_reveal(NETUID, False)
    outcome = chain.set_weights(
        wallets["validator"], NETUID, [0, 1, 2], [0.0, 0.3, 0.1], version_key=SPEC_VERSION
    )
    assert outcome.success and not outcome.committed
    assert chain.weights(NETUID)[0][1] == pytest.approx(0.75, abs=1e-3)
