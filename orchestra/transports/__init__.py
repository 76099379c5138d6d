"""One module per route kind. Every transport returns `CallReply` or raises a typed `TransportError`."""

from orchestra.transports.base import (
    CallMeta,
    CallReply,
    CallTimeout,
    InvalidResponse,
    ProducerFailed,
    ProducerRejected,
    ProducerUnavailable,
    RateLimited,
    TransportError,
)

__all__ = [
    "CallMeta",
    "CallReply",
    "CallTimeout",
    "InvalidResponse",
    "ProducerFailed",
    "ProducerRejected",
    "ProducerUnavailable",
    "RateLimited",
    "TransportError",
]
