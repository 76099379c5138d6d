"""Canonical JSON, blake3 digests, the proof root, and verification of call receipts.

Canonical JSON follows RFC 8785 (JCS): object keys sorted by UTF-16 code units, no insignificant
whitespace, strings escaped minimally and emitted as UTF-8, floats in ECMAScript's shortest round-trip
form (so ``1.0`` and ``1`` hash alike and ``-0.0`` is ``0``). One deliberate difference: integers are
emitted exactly, at any size, because receipts carry nanosecond timestamps beyond 2**53.

The proof root is a Merkle root over ``[task digest, receipt digests..., result digest]`` with domain
separated leaves and nodes; an odd node is promoted unchanged, so no two leaf lists share a root.
"""

import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any

import blake3
from bittensor_wallet import Keypair
from pydantic import BaseModel

from orchestra.errors import CanonicalizationError
from protocol.models import CallEvidence, CallReceipt, CallStatus, DendriteProof, RouteKind, TaskSpec

_LEAF = b"\x00"
_NODE = b"\x01"


# --------------------------------------------------------------------------------------------------
# Canonical JSON and digests
# --------------------------------------------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 encoding of a JSON value (pydantic models are dumped in JSON mode first)."""
    parts: list[str] = []
    try:
        _encode(value, parts)
        return "".join(parts).encode("utf-8")
    except RecursionError:
        raise CanonicalizationError("value nests too deeply to canonicalise") from None
    except UnicodeEncodeError as exc:
        raise CanonicalizationError(f"string is not valid Unicode: {exc.reason}") from None


# What json.dumps(s, ensure_ascii=False) does for a string, without its per-call setup.
_quote: Callable[[str], str] = json.encoder.encode_basestring


def _encode(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_quote(value))
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(format_number(value))
    elif isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise CanonicalizationError("object keys must be strings")
        out.append("{")
        for index, key in enumerate(sorted(value, key=_utf16_key)):
            if index:
                out.append(",")
            out.append(_quote(key))
            out.append(":")
            _encode(value[key], out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, BaseModel):
        _encode(value.model_dump(mode="json"), out)
    else:
        raise CanonicalizationError(f"{type(value).__name__} is not a JSON value")


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def format_number(value: float) -> str:
    """ECMAScript `Number.prototype.toString` for a finite double, as RFC 8785 requires."""
    if value != value or value in (float("inf"), float("-inf")):
        raise CanonicalizationError(f"{value} has no JSON representation")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    digits_tuple = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(str(d) for d in digits_tuple.digits)
    exponent = int(digits_tuple.exponent)
    k = len(digits)
    n = exponent + k  # value = 0.digits * 10**n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        mantissa = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
        text = f"{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
    return sign + text


def digest_bytes(data: bytes) -> str:
    """blake3 of raw bytes, hex."""
    return blake3.blake3(data).hexdigest()


def digest(value: Any) -> str:
    """blake3 of the canonical JSON of `value`, hex."""
    return digest_bytes(canonical_json(value))


def task_digest(spec: TaskSpec) -> str:
    return digest(spec.model_dump(mode="json"))


def receipt_digest(receipt: CallReceipt) -> str:
    return digest(receipt.model_dump(mode="json"))


def result_digest(result: dict[str, Any] | None) -> str:
    return digest(result)


# --------------------------------------------------------------------------------------------------
# Merkle root
# --------------------------------------------------------------------------------------------------


def merkle_root(leaves: Sequence[str]) -> str:
    """Root over hex digests; leaves and inner nodes are hashed with different prefixes."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    level = [blake3.blake3(_LEAF + bytes.fromhex(leaf)).digest() for leaf in leaves]
    while len(level) > 1:
        paired = [
            blake3.blake3(_NODE + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0].hex()


def proof_root(task: str, receipts: Iterable[str], result: str) -> str:
    """The root that hash-locks a result to the task and to exactly the calls that produced it."""
    return merkle_root([task, *receipts, result])


def compute_proof_root(spec: TaskSpec, receipts: Sequence[CallReceipt], result: dict[str, Any] | None) -> str:
    return proof_root(task_digest(spec), (receipt_digest(r) for r in receipts), result_digest(result))


# --------------------------------------------------------------------------------------------------
# Signatures and receipt verification
# --------------------------------------------------------------------------------------------------


def verify_signature(ss58_address: str, message: str, signature: str) -> bool:
    """True when `signature` (0x-hex sr25519) signs `message` for `ss58_address`; never raises."""
    try:
        return bool(Keypair(ss58_address=ss58_address).verify(message, signature))
    except (ValueError, TypeError):
        return False


def dendrite_message(proof: DendriteProof) -> str:
    """What a bittensor 10.5 Dendrite signs for a request."""
    return ".".join(
        (
            str(proof.dendrite_nonce),
            proof.dendrite_hotkey,
            proof.axon_hotkey,
            proof.dendrite_uuid,
            proof.body_hash,
        )
    )


def axon_message(proof: DendriteProof) -> str:
    """What a bittensor 10.5 Axon signs when it answers."""
    return f"{proof.axon_nonce}.{proof.dendrite_hotkey}.{proof.axon_hotkey}.{proof.axon_uuid}"


class ReceiptFault(str, Enum):
    """Why a receipt failed verification."""

    MISSING_PROOF = "missing_proof"
    WRONG_MINER = "wrong_miner"
    BAD_DENDRITE_SIGNATURE = "bad_dendrite_signature"
    BAD_AXON_SIGNATURE = "bad_axon_signature"
    PROVIDER_MISMATCH = "provider_mismatch"
    UNKNOWN_PRODUCER = "unknown_producer"
    OUTSIDE_WINDOW = "outside_window"
    EVIDENCE_MISMATCH = "evidence_mismatch"
    REUSED = "reused"  # claimed before, by another task or miner, or twice in one answer
    SPOT_MISMATCH = "spot_mismatch"  # the validator re-queried the call and got another answer
    UNBOUND = "unbound"  # none of the answer's calls asked about the task: made for another task


@dataclass(frozen=True)
class TimeWindow:
    """When a task ran, in nanoseconds since the epoch; `skew_ns` allows for clock drift between hosts."""

    start_ns: int
    end_ns: int
    skew_ns: int = 2_000_000_000

    def contains(self, ns: int | None) -> bool:
        return ns is not None and self.start_ns - self.skew_ns <= ns <= self.end_ns + self.skew_ns


@dataclass(frozen=True)
class ReceiptVerdict:
    """`producer_signed` is True when the answering axon's own signature was present and valid."""

    faults: tuple[ReceiptFault, ...] = field(default_factory=tuple)
    producer_signed: bool = False

    @property
    def ok(self) -> bool:
        return not self.faults


ProducerHotkeys = Callable[[int], Collection[str]]


def verify_receipt(
    receipt: CallReceipt,
    *,
    miner_hotkey: str,
    window: TimeWindow,
    producer_hotkeys: ProducerHotkeys,
    evidence: CallEvidence | None = None,
) -> ReceiptVerdict:
    """Check one receipt against the miner that claims it, the task window and the producer metagraph.

    For the `dendrite` route: the Dendrite that signed the request must be the miner, its signature must
    verify, the answering axon must be registered on the producer subnet, the nonces must fall inside the
    window, and an axon signature, when present, must verify. A stock bittensor 10.5 Axon signs only the
    answers its middleware rejects (401/403/...): successful answers come back unsigned, so a missing
    axon signature is not a fault, and `producer_signed` tells the two cases apart. Other routes carry no
    signatures; their timing and (when given) evidence digests are checked.
    """
    faults: list[ReceiptFault] = []
    if not window.contains(receipt.started_ns):
        faults.append(ReceiptFault.OUTSIDE_WINDOW)
    if receipt.route is RouteKind.DENDRITE:
        faults.extend(_dendrite_faults(receipt, miner_hotkey, window, producer_hotkeys))
    if evidence is not None and not evidence_matches(receipt, evidence):
        faults.append(ReceiptFault.EVIDENCE_MISMATCH)
    signed = receipt.dendrite is not None and receipt.dendrite.axon_signature is not None
    return ReceiptVerdict(tuple(dict.fromkeys(faults)), producer_signed=signed and not faults)


def _dendrite_faults(
    receipt: CallReceipt, miner_hotkey: str, window: TimeWindow, producer_hotkeys: ProducerHotkeys
) -> list[ReceiptFault]:
    proof = receipt.dendrite
    if proof is None:
        # A hedge cancelled before its answer has no proof to show, and claims no content either.
        return [] if receipt.status is CallStatus.CANCELLED else [ReceiptFault.MISSING_PROOF]
    faults: list[ReceiptFault] = []
    if proof.dendrite_hotkey != miner_hotkey:
        faults.append(ReceiptFault.WRONG_MINER)
    if not verify_signature(proof.dendrite_hotkey, dendrite_message(proof), proof.dendrite_signature):
        faults.append(ReceiptFault.BAD_DENDRITE_SIGNATURE)
    if not window.contains(proof.dendrite_nonce):
        faults.append(ReceiptFault.OUTSIDE_WINDOW)
    if receipt.provider.hotkey is not None and receipt.provider.hotkey != proof.axon_hotkey:
        faults.append(ReceiptFault.PROVIDER_MISMATCH)
    if receipt.netuid is None or proof.axon_hotkey not in producer_hotkeys(receipt.netuid):
        faults.append(ReceiptFault.UNKNOWN_PRODUCER)
    if proof.axon_signature is None:
        return faults
    if not verify_signature(proof.axon_hotkey, axon_message(proof), proof.axon_signature):
        faults.append(ReceiptFault.BAD_AXON_SIGNATURE)
    if not window.contains(proof.axon_nonce):
        faults.append(ReceiptFault.OUTSIDE_WINDOW)
    return faults


def evidence_matches(receipt: CallReceipt, evidence: CallEvidence) -> bool:
    """The evidence payloads hash to the digests the receipt committed to."""
    try:
        if digest(evidence.request) != receipt.request_digest:
            return False
        if receipt.response_digest is None:
            return evidence.response is None
        return digest(evidence.response) == receipt.response_digest
    except CanonicalizationError:
        return False
