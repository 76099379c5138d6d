"""Integration fixtures: a real local network (devnet chain, Axons, HTTP servers) per test."""

from collections.abc import AsyncIterator

import pytest_asyncio

from orchestra.config import SN13_NETUID, ValidatorSettings
from orchestra.devnet.network import LocalNetwork


@pytest_asyncio.fixture
async def network() -> AsyncIterator[LocalNetwork]:
    """Producers and a validator are up; tests add the miners they need, then call `refresh()`."""
    net = LocalNetwork()
    try:
        net.start_producers()
        net.add_validator(
            settings=ValidatorSettings(step_interval_s=0, producer_netuids=[SN13_NETUID], seed=7)
        )
        yield net
    finally:
        await net.aclose()
