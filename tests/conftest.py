"""Shared fixtures. Everything runs offline on 127.0.0.1."""

from pathlib import Path

import bittensor as bt
import pytest

from orchestra.devnet.wallets import make_wallet

# bittensor logs every refused request as an ERROR; tests assert on outcomes instead.
bt.logging.disable_logging()


@pytest.fixture(scope="session")
def wallets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bt.Wallet]:
    """Throwaway wallets, created once per test session."""
    root: Path = tmp_path_factory.mktemp("wallets")
    names = ("validator", "miner", "miner2", "stranger", "producer", "producer2")
    return {name: make_wallet(root, name) for name in names}
