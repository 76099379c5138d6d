"""One module per producer subnet: its request/response shapes <-> normalised records."""

from orchestra.adapters.base import Adapter, AdapterError, Caller, Record
from orchestra.adapters.data_universe import DataUniverseAdapter
from orchestra.adapters.desearch import DesearchAdapter


def default_adapters() -> dict[str, Adapter]:
    """A fresh instance of every adapter, by the name routes refer to."""
    adapters: list[Adapter] = [DataUniverseAdapter(), DesearchAdapter()]
    return {adapter.name: adapter for adapter in adapters}


__all__ = [
    "Adapter",
    "AdapterError",
    "Caller",
    "DataUniverseAdapter",
    "DesearchAdapter",
    "Record",
    "default_adapters",
]
