"""Throwaway wallets for the devnet: unencrypted keys in a directory the caller owns."""

from pathlib import Path

import bittensor as bt


def make_wallet(root: Path, name: str) -> "bt.Wallet":
    """A fresh coldkey + hotkey pair under `root`, without password prompts. Never hold value with them."""
    wallet = bt.Wallet(name=name, hotkey="default", path=str(root))
    wallet.create_new_coldkey(use_password=False, overwrite=True, suppress=True)
    wallet.create_new_hotkey(use_password=False, overwrite=True, suppress=True)
    return wallet
