"""The `signed-http` route: JSON requests signed with the miner's hotkey, btauth/1 or Epistula v2.

The body is serialised once (compact JSON); those exact bytes are hashed, signed and sent, so the
receiver's hash of what it read matches what was signed. Both schemes sign with the hotkey's
sr25519 (or ed25519) key; the same module verifies, for the devnet stand-ins and for tests.

**btauth/1** (bittensor 11, `bittensor/http_auth.py`, restated): headers `X-Bittensor-Version: 1`,
`X-Bittensor-Hotkey`, `X-Bittensor-Nonce` (decimal nanoseconds since the epoch),
`X-Bittensor-Signature` (`0x` + hex), `X-Bittensor-Receiver` (only when bound to a receiver) and
`X-Bittensor-Crypto` (only when not sr25519). The signed payload is the UTF-8 of the newline-joined
lines `btauth/1`, the scheme (`sr25519`/`ed25519`), the upper-case method, the request target as sent
(path and `?query`), the lower-case hex sha256 of the raw body, the nonce, the sender ss58 and the
receiver ss58 or `-`. A verifier checks, in order: header shape, receiver binding, freshness (10 s
back, 2 s ahead), the signature, then replay; the replay cache is written only after the signature
verifies, so unauthenticated traffic cannot fill it.

**Epistula v2** (manifold-inc/targon `validator/epistula.go`; macrocosm-os/prompting
`shared/epistula.py`): headers `Epistula-Version: 2`, `Epistula-Timestamp` (milliseconds),
`Epistula-Uuid` (uuid4), `Epistula-Signed-By`, `Epistula-Request-Signature` = `0x` + hex of the
signature over `"{sha256(body).hexdigest()}.{uuid}.{timestamp}.{signed_for}"` (`signed_for` empty when
unbound) and, when bound, `Epistula-Signed-For` and `Epistula-Secret-Signature-{0,1,2}` over
`"{interval-1|interval|interval+1}.{signed_for}"` with `interval = ceil(timestamp / 10_000)` as
Targon's validator computes it. The verifiers in those repositories check only the request signature
and an 8 s staleness window; `verify_epistula` does that, refuses timestamps from the future beyond a
small skew, and adds a replay cache keyed on the uuid.
"""

import hashlib
import json
import logging
import math
import threading
import time
import uuid as uuidlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, Protocol

import httpx
from bittensor_wallet import Keypair

from ledger.entry import AuthKind
from orchestra.transports.base import CallReply
from orchestra.transports.http import HttpTransport, classify

log = logging.getLogger(__name__)

BTAUTH_PROTOCOL = "btauth/1"
BTAUTH_VERSION = "1"
BTAUTH_MAX_AGE_S = 10.0
BTAUTH_SKEW_S = 2.0
NO_RECEIVER = "-"

EPISTULA_VERSION = "2"
EPISTULA_MAX_AGE_S = 8.0  # ALLOWED_DELTA_MS = 8000 in the reference verifiers
EPISTULA_SKEW_S = 2.0
EPISTULA_INTERVAL_MS = 10_000

# Signature schemes by bittensor_wallet `crypto_type` (0 ed25519, 1 sr25519; ecdsa has no btauth name).
CRYPTO_NAMES = {0: "ed25519", 1: "sr25519"}
CRYPTO_TYPES = {name: crypto for crypto, name in CRYPTO_NAMES.items()}
DEFAULT_CRYPTO = "sr25519"

SIGNING_SCHEMES = frozenset({AuthKind.BTAUTH, AuthKind.EPISTULA})
AUTH_HEADER_PREFIXES = ("x-bittensor-", "epistula-")


class Signer(Protocol):
    """What signing needs of a hotkey: `bittensor_wallet.Keypair` (e.g. `wallet.hotkey`) fits."""

    @property
    def ss58_address(self) -> str: ...

    @property
    def crypto_type(self) -> int: ...

    def sign(self, data: bytes | str) -> bytes: ...


class UnsignableRoute(ValueError):
    """A `signed-http` route whose `auth` is not a signing scheme (btauth or epistula).

    A configuration error found before anything is sent, so it is no `TransportError`: there is no call
    to record a receipt for.
    """


# --- signing -----------------------------------------------------------------------------------


def canonical_body(json_body: Any) -> bytes:
    """The bytes a JSON body is sent (and signed) as: compact, UTF-8, no NaN/Infinity (ValueError)."""
    if json_body is None:
        return b""
    return json.dumps(json_body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def request_target(url: str) -> str:
    """The request target exactly as httpx sends it: the percent-encoded path plus `?query`."""
    return httpx.URL(url).raw_path.decode("ascii")


def btauth_payload(
    *,
    scheme: str,
    method: str,
    path: str,
    body: bytes,
    nonce_ns: int,
    sender: str,
    receiver: str | None,
) -> bytes:
    """The exact bytes btauth/1 signs."""
    lines = (
        BTAUTH_PROTOCOL,
        scheme,
        method.upper(),
        path,
        hashlib.sha256(body).hexdigest(),
        str(nonce_ns),
        sender,
        receiver or NO_RECEIVER,
    )
    return "\n".join(lines).encode()


def btauth_headers(
    signer: Signer,
    *,
    method: str,
    path: str,
    body: bytes,
    receiver: str | None,
    nonce_ns: int | None = None,
) -> dict[str, str]:
    """btauth/1 headers for one request; `path` is the request target with its query string."""
    scheme = CRYPTO_NAMES.get(signer.crypto_type)
    if scheme is None:
        raise ValueError(f"btauth/1 cannot sign with crypto type {signer.crypto_type}")
    nonce = time.time_ns() if nonce_ns is None else nonce_ns
    payload = btauth_payload(
        scheme=scheme,
        method=method,
        path=path,
        body=body,
        nonce_ns=nonce,
        sender=signer.ss58_address,
        receiver=receiver,
    )
    headers = {
        "X-Bittensor-Version": BTAUTH_VERSION,
        "X-Bittensor-Hotkey": signer.ss58_address,
        "X-Bittensor-Nonce": str(nonce),
        "X-Bittensor-Signature": "0x" + bytes(signer.sign(payload)).hex(),
    }
    if scheme != DEFAULT_CRYPTO:
        headers["X-Bittensor-Crypto"] = scheme
    if receiver is not None:
        headers["X-Bittensor-Receiver"] = receiver
    return headers


def epistula_message(body: bytes, uuid: str, timestamp_ms: int | str, signed_for: str | None) -> str:
    """The exact text Epistula v2's request signature covers."""
    return f"{hashlib.sha256(body).hexdigest()}.{uuid}.{timestamp_ms}.{signed_for or ''}"


def epistula_headers(
    signer: Signer,
    body: bytes,
    *,
    signed_for: str | None,
    timestamp_ms: int | None = None,
    uuid: str | None = None,
) -> dict[str, str]:
    """Epistula v2 headers for one request body."""
    timestamp = round(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    request_id = str(uuidlib.uuid4()) if uuid is None else uuid
    message = epistula_message(body, request_id, timestamp, signed_for)
    headers = {
        "Epistula-Version": EPISTULA_VERSION,
        "Epistula-Timestamp": str(timestamp),
        "Epistula-Uuid": request_id,
        "Epistula-Signed-By": signer.ss58_address,
        "Epistula-Request-Signature": "0x" + bytes(signer.sign(message)).hex(),
    }
    if signed_for:
        interval = math.ceil(timestamp / EPISTULA_INTERVAL_MS)
        headers["Epistula-Signed-For"] = signed_for
        for index, offset in enumerate((-1, 0, 1)):
            secret = signer.sign(f"{interval + offset}.{signed_for}")
            headers[f"Epistula-Secret-Signature-{index}"] = "0x" + bytes(secret).hex()
    return headers


class SignedHttpTransport:
    """Hotkey-signed JSON calls over a shared `HttpTransport`, whose connection pool they reuse."""

    def __init__(self, http: HttpTransport, keypair: Signer) -> None:
        if keypair.crypto_type not in CRYPTO_NAMES:
            raise ValueError(f"cannot sign requests with crypto type {keypair.crypto_type}")
        self.http = http
        self.keypair = keypair

    @property
    def hotkey(self) -> str:
        return self.keypair.ss58_address

    async def request(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float,
        scheme: AuthKind,
        receiver: str | None = None,
    ) -> CallReply:
        """Sign `json_body` by `scheme` for `receiver` and send it; errors are typed as for `http`.

        Raises, before sending, `UnsignableRoute` when `scheme` is neither btauth nor epistula and
        ValueError for a body JSON cannot carry (NaN, Infinity). Every call signs afresh, so a retry
        carries a new nonce and is no replay.
        """
        if scheme not in SIGNING_SCHEMES:
            raise UnsignableRoute(
                f"signed-http needs auth btauth or epistula to sign with, not {AuthKind(scheme).value!r}"
            )
        body = canonical_body(json_body)
        if scheme == AuthKind.BTAUTH:
            auth = btauth_headers(
                self.keypair, method=method, path=request_target(url), body=body, receiver=receiver
            )
        else:
            auth = epistula_headers(self.keypair, body, signed_for=receiver)
        # The caller's headers cannot add to or replace the auth headers, or describe the body differently.
        sent = {
            name: value
            for name, value in (headers or {}).items()
            if not name.lower().startswith(AUTH_HEADER_PREFIXES) and name.lower() != "content-type"
        }
        sent.update(auth)
        if body:
            sent["Content-Type"] = "application/json"
        response = await self.http.exchange(method, url, content=body or None, headers=sent, timeout=timeout)
        return classify(response)


# --- verifying ---------------------------------------------------------------------------------


class SignatureFailure(str, Enum):
    MALFORMED = "malformed"  # a header is missing or unparseable
    WRONG_RECEIVER = "wrong-receiver"  # signed for another hotkey, or for none when one is required
    STALE = "stale"  # outside the freshness window (too old, or too far in the future)
    BAD_SIGNATURE = "bad-signature"  # does not verify against the claimed hotkey
    REPLAYED = "replayed"  # this nonce was already accepted from this hotkey


class SignatureError(Exception):
    """A signed request that fails verification; `reason` says why. The message never echoes secrets."""

    def __init__(self, reason: SignatureFailure, message: str) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason


class NonceStore(Protocol):
    """Replay protection: remembers accepted (sender, nonce) pairs for at least a freshness window."""

    def check_and_store(self, sender: str, nonce: str) -> bool:
        """True, and remembered, if the pair is new; False if it was seen."""
        ...


class InMemoryNonceStore:
    """A process-local `NonceStore` with bounded memory.

    Entries expire `retention_s` after they were stored; it must cover the verifier's `max_age +
    skew` (verification refuses a store that keeps entries for less). Past `max_entries` the oldest
    entries are dropped early, which re-opens a replay window for them only: size it above the
    expected accepted-request rate times the retention. Thread-safe (stand-ins run on own loops).
    """

    def __init__(
        self,
        *,
        retention_s: float = 60.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if retention_s <= 0 or max_entries < 1:
            raise ValueError("retention_s must be > 0 and max_entries >= 1")
        self.retention_s = retention_s
        self.max_entries = max_entries
        self._clock = clock
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()  # key -> expiry, oldest first
        self._lock = threading.Lock()

    def check_and_store(self, sender: str, nonce: str) -> bool:
        key = (sender, nonce)
        now = self._clock()
        with self._lock:
            while self._seen:
                oldest, expiry = next(iter(self._seen.items()))
                if expiry > now:
                    break
                del self._seen[oldest]
            if key in self._seen:
                return False
            self._seen[key] = now + self.retention_s
            while len(self._seen) > self.max_entries:
                self._seen.popitem(last=False)
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)


_default_nonces = InMemoryNonceStore()


def verify_btauth(
    method: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    receiver: str,
    require_receiver: bool = True,
    max_age_s: float = BTAUTH_MAX_AGE_S,
    skew_s: float = BTAUTH_SKEW_S,
    nonces: NonceStore | None = None,
    now_ns: int | None = None,
) -> str:
    """Authenticate a btauth/1 request; returns the sender's ss58 or raises `SignatureError`.

    `path` is the request target as received, query included (aiohttp: `request.raw_path`); `body`
    the raw bytes, before any parsing; `receiver` this server's hotkey. Without `nonces` a
    process-wide in-memory store is used.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    if lowered.get("x-bittensor-version") != BTAUTH_VERSION:
        raise SignatureError(SignatureFailure.MALFORMED, "missing or unsupported X-Bittensor-Version")
    sender = lowered.get("x-bittensor-hotkey")
    if not sender:
        raise SignatureError(SignatureFailure.MALFORMED, "missing X-Bittensor-Hotkey")
    raw_nonce = lowered.get("x-bittensor-nonce", "")
    if not (raw_nonce.isascii() and raw_nonce.isdecimal()):
        raise SignatureError(SignatureFailure.MALFORMED, "X-Bittensor-Nonce is not a decimal integer")
    nonce = int(raw_nonce)
    scheme = lowered.get("x-bittensor-crypto", DEFAULT_CRYPTO).lower()
    if scheme not in CRYPTO_TYPES:
        raise SignatureError(SignatureFailure.MALFORMED, "unsupported X-Bittensor-Crypto")
    signature = _hex_signature(lowered.get("x-bittensor-signature"), "X-Bittensor-Signature")

    signed_for = lowered.get("x-bittensor-receiver")
    _check_receiver(signed_for, receiver, require_receiver)
    now = time.time_ns() if now_ns is None else now_ns
    _check_fresh(age_s=(now - nonce) / 1e9, max_age_s=max_age_s, skew_s=skew_s)

    payload = btauth_payload(
        scheme=scheme,
        method=method,
        path=path,
        body=body,
        nonce_ns=nonce,
        sender=sender,
        receiver=signed_for,
    )
    _check_signature(payload, signature, sender, CRYPTO_TYPES[scheme])
    _check_replay(nonces, sender, f"btauth:{nonce}", max_age_s + skew_s)
    return sender


def verify_epistula(
    body: bytes,
    headers: Mapping[str, str],
    *,
    receiver: str,
    require_receiver: bool = True,
    max_age_s: float = EPISTULA_MAX_AGE_S,
    skew_s: float = EPISTULA_SKEW_S,
    nonces: NonceStore | None = None,
    now_ms: int | None = None,
) -> str:
    """Authenticate an Epistula v2 request; returns the sender's ss58 or raises `SignatureError`.

    `body` is the raw bytes as received; `receiver` this server's hotkey, which `Epistula-Signed-For`
    must name (unless `require_receiver` is off and the header is absent). Replay is refused per
    (sender, `Epistula-Uuid`); without `nonces` a process-wide in-memory store is used.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    if lowered.get("epistula-version") != EPISTULA_VERSION:
        raise SignatureError(SignatureFailure.MALFORMED, "missing or unsupported Epistula-Version")
    sender = lowered.get("epistula-signed-by")
    if not sender:
        raise SignatureError(SignatureFailure.MALFORMED, "missing Epistula-Signed-By")
    raw_timestamp = lowered.get("epistula-timestamp", "")
    if not (raw_timestamp.isascii() and raw_timestamp.isdecimal()):
        raise SignatureError(SignatureFailure.MALFORMED, "Epistula-Timestamp is not a decimal integer")
    request_id = lowered.get("epistula-uuid", "")
    try:
        uuidlib.UUID(request_id)
    except ValueError:
        raise SignatureError(SignatureFailure.MALFORMED, "Epistula-Uuid is not a UUID") from None
    signature = _hex_signature(lowered.get("epistula-request-signature"), "Epistula-Request-Signature")

    signed_for = lowered.get("epistula-signed-for")
    _check_receiver(signed_for, receiver, require_receiver)
    now = round(time.time() * 1000) if now_ms is None else now_ms
    _check_fresh(age_s=(now - int(raw_timestamp)) / 1000, max_age_s=max_age_s, skew_s=skew_s)

    message = epistula_message(body, request_id, raw_timestamp, signed_for).encode()
    _check_signature(message, signature, sender, CRYPTO_TYPES[DEFAULT_CRYPTO])
    _check_replay(nonces, sender, f"epistula:{request_id}", max_age_s + skew_s)
    return sender


def _hex_signature(raw: str | None, header: str) -> bytes:
    if raw is None:
        raise SignatureError(SignatureFailure.MALFORMED, f"missing {header}")
    try:
        return bytes.fromhex(raw.removeprefix("0x"))
    except ValueError:
        raise SignatureError(SignatureFailure.MALFORMED, f"{header} is not hex") from None


def _check_receiver(signed_for: str | None, receiver: str, required: bool) -> None:
    if signed_for is None:
        if required:
            raise SignatureError(SignatureFailure.WRONG_RECEIVER, "the request is not bound to a receiver")
    elif signed_for != receiver:
        raise SignatureError(SignatureFailure.WRONG_RECEIVER, "the request was signed for another hotkey")


def _check_fresh(*, age_s: float, max_age_s: float, skew_s: float) -> None:
    if age_s > max_age_s:
        raise SignatureError(SignatureFailure.STALE, f"older than the {max_age_s:g}s freshness window")
    if -age_s > skew_s:
        raise SignatureError(SignatureFailure.STALE, f"more than {skew_s:g}s in the future")


def _check_signature(message: bytes, signature: bytes, sender: str, crypto_type: int) -> None:
    try:
        valid = bool(Keypair(ss58_address=sender, crypto_type=crypto_type).verify(message, signature))
    except ValueError:  # an undecodable ss58 address or a signature of the wrong length
        raise SignatureError(
            SignatureFailure.MALFORMED, "invalid hotkey address or signature encoding"
        ) from None
    if not valid:
        raise SignatureError(
            SignatureFailure.BAD_SIGNATURE, "the signature does not verify against the hotkey"
        )


def _check_replay(nonces: NonceStore | None, sender: str, nonce: str, window_s: float) -> None:
    store = _default_nonces if nonces is None else nonces
    retention = getattr(store, "retention_s", None)
    if isinstance(retention, (int, float)) and retention < window_s:
        # Entries would expire while their requests are still fresh, and replays in the gap would pass.
        raise ValueError(f"the nonce store keeps entries {retention:g}s, less than the {window_s:g}s window")
    if not store.check_and_store(sender, nonce):
        raise SignatureError(SignatureFailure.REPLAYED, "this request was already accepted")
