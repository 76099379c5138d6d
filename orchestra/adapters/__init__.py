"""One module per producer subnet: its request/response shapes <-> normalised records."""

from orchestra.adapters.base import Adapter, AdapterError, Caller, Record
from orchestra.adapters.data_universe import SN13_REQUESTS_PER_HOUR, DataUniverseAdapter
from orchestra.adapters.desearch import DesearchAdapter


def default_adapters(*, sn13_requests_per_hour: int = SN13_REQUESTS_PER_HOUR) -> dict[str, Adapter]:
    """A fresh instance of every adapter, by the name routes refer to."""
    adapters: list[Adapter] = [
        DataUniverseAdapter(requests_per_hour=sn13_requests_per_hour),
        DesearchAdapter(),
    ]
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
