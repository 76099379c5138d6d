"""What `neurons/miner.py` and `neurons/validator.py` share: flags, logging, wallet, chain, signals."""

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import bittensor as bt
from pydantic_settings import BaseSettings

from orchestra.chain import ChainClient
from orchestra.config import load_config
from orchestra.errors import OrchestraError

SettingsT = TypeVar("SettingsT", bound=BaseSettings)
DEVNET_STAKE_TAO = 10_000.0


def setup(role: str, model: type[SettingsT], argv: list[str] | None) -> tuple["bt.Config", SettingsT]:
    config, settings = load_config(role, model, argv)
    bt.logging(config=config)
    logging.basicConfig(level=logging.DEBUG if config.logging.debug else logging.INFO, stream=sys.stderr)
    return config, settings


def open_wallet(config: "bt.Config") -> "bt.Wallet":
    wallet = bt.Wallet(config=config)
    try:
        _ = wallet.hotkey
    except Exception as exc:
        raise OrchestraError(
            f"cannot load hotkey {wallet.hotkey_str!r} of wallet {wallet.name!r} under {wallet.path}: {exc}. "
            "Create one with `btcli wallet new_coldkey` and `btcli wallet new_hotkey`."
        ) from None
    return wallet


def open_chain(config: "bt.Config", wallet: "bt.Wallet", *, validator: bool) -> ChainClient:
    """Connect to the configured network. `mock` is a private in-process devnet chain on which this
    neuron registers itself; `orchestra localnet` is the way to see a whole network locally."""
    network = str(config.subtensor.chain_endpoint or config.subtensor.network)
    chain = ChainClient.connect(network, config)
    if chain.is_devnet:
        devnet = chain.subtensor
        devnet.create_subnet(config.netuid)
        devnet.register(
            config.netuid,
            wallet.hotkey.ss58_address,
            wallet.coldkeypub.ss58_address,
            stake_tao=DEVNET_STAKE_TAO,
            validator_permit=validator,
        )
        logging.getLogger(__name__).warning(
            "network 'mock': a devnet chain in this process with this neuron alone; run `orchestra localnet` "
            "for miners, validators and producers together"
        )
    return chain


def serve(run: Callable[[asyncio.Event], Awaitable[None]]) -> int:
    """Run a neuron until SIGINT/SIGTERM; typed errors become a one-line message and exit code 2."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await run(stop)

    try:
        asyncio.run(main())
    except OrchestraError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    return 0
