"""One module per producer subnet: its request/response shapes <-> normalised records."""

from orchestra.adapters.base import Adapter, AdapterError, Caller, Record
from orchestra.adapters.blockmachine import BlockmachineAdapter
from orchestra.adapters.data_universe import (
    SN13_REQUESTS_PER_HOUR,
    DataUniverseAdapter,
    DataUniverseApiAdapter,
)
from orchestra.adapters.desearch import DesearchAdapter, DesearchMinerAdapter
from orchestra.adapters.inference import InferenceAdapter
from protocol.models import RouteKind


def default_adapters(*, sn13_requests_per_hour: int = SN13_REQUESTS_PER_HOUR) -> dict[str, Adapter]:
    """A fresh instance of every adapter, by the name routes refer to."""
    adapters: list[Adapter] = [
        DataUniverseAdapter(requests_per_hour=sn13_requests_per_hour),
        DataUniverseApiAdapter(),
        DesearchAdapter(),
        DesearchMinerAdapter(),
        InferenceAdapter.chutes(),
        InferenceAdapter.targon(),
        BlockmachineAdapter(),
    ]
    return {adapter.name: adapter for adapter in adapters}


def adapter_route_kinds() -> dict[str, frozenset[RouteKind]]:
    """The route kinds each adapter speaks, by adapter name (what `LedgerDirectory` needs)."""
    return {name: adapter.route_kinds for name, adapter in default_adapters().items()}


__all__ = [
    "Adapter",
    "AdapterError",
    "BlockmachineAdapter",
    "Caller",
    "DataUniverseAdapter",
    "DataUniverseApiAdapter",
    "DesearchAdapter",
    "DesearchMinerAdapter",
    "InferenceAdapter",
    "Record",
    "adapter_route_kinds",
    "default_adapters",
]
