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
from orchestra.transports.http import HttpTransport, Throttled
from orchestra.transports.openai import (
    AuthenticationFailed,
    ContextLengthExceeded,
    ModelNotFound,
    NoCapacity,
    OpenAITransport,
    QuotaExhausted,
)
from orchestra.transports.signed_http import (
    SignatureError,
    SignatureFailure,
    SignedHttpTransport,
    UnsignableRoute,
)

__all__ = [
    "AuthenticationFailed",
    "CallMeta",
    "CallReply",
    "CallTimeout",
    "ContextLengthExceeded",
    "HttpTransport",
    "InvalidResponse",
    "ModelNotFound",
    "NoCapacity",
    "OpenAITransport",
    "ProducerFailed",
    "ProducerRejected",
    "ProducerUnavailable",
    "QuotaExhausted",
    "RateLimited",
    "SignatureError",
    "SignatureFailure",
    "SignedHttpTransport",
    "Throttled",
    "TransportError",
    "UnsignableRoute",
]
