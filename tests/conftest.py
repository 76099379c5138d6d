"""Shared fixtures. Everything runs offline on 127.0.0.1."""

from pathlib import Path

import bittensor as bt
import pytest

from orchestra.chain import ChainClient
from orchestra.devnet.wallets import make_wallet

# bittensor logs every refused request as an ERROR; tests assert on outcomes instead.
bt.logging.disable_logging()


@pytest.fixture(scope="session")
def wallets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bt.Wallet]:
    """Throwaway wallets, created once per test session."""
    root: Path = tmp_path_factory.mktemp("wallets")
    names = ("validator", "miner", "miner2", "stranger", "producer", "producer2")
    return {name: make_wallet(root, name) for name in names}


Member = tuple[str, float, bool]  # wallet name, stake in TAO, validator permit


def devnet_chain(wallets: dict[str, bt.Wallet], netuid: int, members: list[Member]) -> ChainClient:
    """A fresh devnet chain with one subnet and the given wallets registered on it, in order."""
    chain = ChainClient.connect("mock")
    chain.subtensor.create_subnet(netuid)
    for name, stake, permit in members:
        wallet = wallets[name]
        chain.subtensor.register(
            netuid,
            wallet.hotkey.ss58_address,
            wallet.coldkeypub.ss58_address,
            stake_tao=stake,
            validator_permit=permit,
        )
    return chain
