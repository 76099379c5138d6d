import json
import math
from typing import Any

import bittensor as bt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.errors import CanonicalizationError
from orchestra.proofs import (
    ReceiptFault,
    TimeWindow,
    axon_message,
    canonical_json,
    compute_proof_root,
    dendrite_message,
    digest,
    evidence_matches,
    format_number,
    merkle_root,
    receipt_digest,
    verify_receipt,
)
from protocol.models import (
    CallEvidence,
    CallReceipt,
    CallStatus,
    DendriteProof,
    Provider,
    RouteKind,
    TaskSpec,
)

NOW = 1_800_000_000_000_000_000
WINDOW = TimeWindow(start_ns=NOW, end_ns=NOW + 10_000_000_000)
SPEC = TaskSpec(task_id="t-1", objective="Find GPU prices", target_schema={"price": "float"})

# ------------------------------------------------------------------ canonical JSON


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (4.50, "4.5"),
        (2e-3, "0.002"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (123e-20, "1.23e-18"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1e30, "1e+30"),
        (333333333.33333329, "333333333.3333333"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (-1.5, "-1.5"),
    ],
)
def test_numbers_use_the_ecmascript_shortest_form(value: float, text: str) -> None:
    assert format_number(value) == text


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_have_no_canonical_form(value: float) -> None:
    with pytest.raises(CanonicalizationError):
        canonical_json({"x": value})


def test_keys_sort_by_utf16_code_units_as_rfc8785_requires() -> None:
    value = {"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\U0001f600": 5, "\u0080": 6, "\u00f6": 7}
    keys = list(json.loads(canonical_json(value)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_strings_are_minimally_escaped_utf8_without_whitespace() -> None:
    assert (
        canonical_json({"b": ['é\n"\\', None, True], "a": 1})
        == '{"a":1,"b":["é\\n\\"\\\\",null,true]}'.encode()
    )


def test_big_integers_stay_exact() -> None:
    assert canonical_json(1_795_530_157_558_005_050) == b"1795530157558005050"


@pytest.mark.parametrize("value", [{1: "int key"}, {"x": {1, 2}}, {"x": b"bytes"}, "\ud800"])
def test_values_without_a_json_form_are_refused(value: Any) -> None:
    with pytest.raises(CanonicalizationError):
        canonical_json(value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_canonical_json_round_trips_to_the_same_bytes(value: Any) -> None:
    encoded = canonical_json(value)
    assert canonical_json(json.loads(encoded)) == encoded


@given(st.dictionaries(st.text(max_size=6), json_values, min_size=2, max_size=6), st.randoms())
def test_key_order_does_not_change_the_digest(value: dict[str, Any], rng: Any) -> None:
    items = list(value.items())
    rng.shuffle(items)
    assert digest(dict(items)) == digest(value)


# ------------------------------------------------------------------ the proof root


def http_receipt(**overrides: Any) -> CallReceipt:
    fields: dict[str, Any] = {
        "step_id": "web",
        "attempt": 1,
        "netuid": 22,
        "route": RouteKind.HTTP,
        "operation": "POST /desearch/ai/search",
        "provider": Provider(host="api.example"),
        "request_digest": digest({"q": 1}),
        "response_digest": digest({"a": 2}),
        "started_ns": NOW + 1,
        "latency_ms": 3.0,
        "status": CallStatus.OK,
    }
    fields.update(overrides)
    return CallReceipt.model_validate(fields)


def test_merkle_root_depends_on_every_leaf_and_its_position() -> None:
    leaves = [digest(i) for i in range(5)]
    root = merkle_root(leaves)
    assert merkle_root(list(reversed(leaves))) != root
    assert merkle_root(leaves[:-1]) != root
    assert merkle_root([*leaves, leaves[-1]]) != root  # no duplicate-last-leaf ambiguity
    assert len({merkle_root(leaves[:n]) for n in range(1, 6)}) == 5


results = st.dictionaries(st.text(min_size=1, max_size=6), json_values, min_size=1, max_size=5)


@st.composite
def result_and_mutation(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    original = draw(results)
    key = draw(st.sampled_from(sorted(original)))
    replacement = draw(json_values.filter(lambda v: canonical_json(v) != canonical_json(original[key])))
    return original, {**original, key: replacement}


@given(result_and_mutation())
def test_any_change_to_the_result_changes_the_root(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    original, mutated = pair
    receipts = [http_receipt()]
    assert compute_proof_root(SPEC, receipts, original) != compute_proof_root(SPEC, receipts, mutated)


RECEIPT_MUTATIONS = {
    "step_id": "social",
    "attempt": 2,
    "netuid": 13,
    "operation": "GET /other",
    "provider": Provider(host="evil.example"),
    "request_digest": digest({"q": 2}),
    "response_digest": None,
    "started_ns": NOW + 2,
    "latency_ms": 3.5,
    "status": CallStatus.ERROR,
    "status_code": 500,
    "cost": 0.01,
}


@given(st.sampled_from(sorted(RECEIPT_MUTATIONS)))
def test_any_change_to_a_receipt_changes_its_digest_and_the_root(field: str) -> None:
    original = http_receipt()
    changed = http_receipt(**{field: RECEIPT_MUTATIONS[field]})
    assert receipt_digest(changed) != receipt_digest(original)
    assert compute_proof_root(SPEC, [changed], {"price": 1.0}) != compute_proof_root(
        SPEC, [original], {"price": 1.0}
    )


def test_dropping_or_reordering_receipts_changes_the_root() -> None:
    first, second = http_receipt(), http_receipt(attempt=2)
    root = compute_proof_root(SPEC, [first, second], {"price": 1.0})
    assert compute_proof_root(SPEC, [second, first], {"price": 1.0}) != root
    assert compute_proof_root(SPEC, [first], {"price": 1.0}) != root


def test_a_different_task_changes_the_root() -> None:
    other = SPEC.model_copy(update={"objective": "Find CPU prices"})
    receipts = [http_receipt()]
    assert compute_proof_root(other, receipts, {"p": 1}) != compute_proof_root(SPEC, receipts, {"p": 1})


# ------------------------------------------------------------------ receipt verification


def sign(wallet: bt.Wallet, message: str) -> str:
    return "0x" + wallet.hotkey.sign(message).hex()


def dendrite_receipt(
    wallets: dict[str, bt.Wallet],
    *,
    caller: str = "miner",
    producer: str = "producer",
    signer: str | None = None,
    axon_signer: str | None = None,
    nonce: int = NOW + 5,
    axon_signed: bool = True,
    status: CallStatus = CallStatus.OK,
) -> CallReceipt:
    base = DendriteProof(
        synapse="GetMinerIndex",
        dendrite_hotkey=wallets[caller].hotkey.ss58_address,
        dendrite_nonce=nonce,
        dendrite_uuid="d-uuid",
        body_hash="ab" * 32,
        dendrite_signature="",
        axon_hotkey=wallets[producer].hotkey.ss58_address,
        axon_nonce=nonce + 1 if axon_signed else None,
        axon_uuid="a-uuid" if axon_signed else None,
        axon_signature=None,
    )
    proof = base.model_copy(
        update={
            "dendrite_signature": sign(wallets[signer or caller], dendrite_message(base)),
            "axon_signature": sign(wallets[axon_signer or producer], axon_message(base))
            if axon_signed
            else None,
        }
    )
    return CallReceipt(
        step_id="social",
        attempt=1,
        netuid=13,
        route=RouteKind.DENDRITE,
        operation="GetMinerIndex",
        provider=Provider(hotkey=wallets[producer].hotkey.ss58_address, uid=0),
        request_digest=digest({"version": 4}),
        response_digest=digest({"ok": True}),
        started_ns=nonce,
        latency_ms=12.0,
        status=status,
        dendrite=proof,
    )


def check(receipt: CallReceipt, wallets: dict[str, bt.Wallet], **kwargs: Any) -> set[ReceiptFault]:
    producers = {wallets["producer"].hotkey.ss58_address}
    verdict = verify_receipt(
        receipt,
        miner_hotkey=kwargs.pop("miner", wallets["miner"].hotkey.ss58_address),
        window=kwargs.pop("window", WINDOW),
        producer_hotkeys=lambda netuid: producers if netuid == 13 else set(),
        **kwargs,
    )
    return set(verdict.faults)


def test_a_genuine_signed_receipt_verifies(wallets: dict[str, bt.Wallet]) -> None:
    receipt = dendrite_receipt(wallets)
    verdict = verify_receipt(
        receipt,
        miner_hotkey=wallets["miner"].hotkey.ss58_address,
        window=WINDOW,
        producer_hotkeys=lambda _: {wallets["producer"].hotkey.ss58_address},
    )
    assert verdict.ok and verdict.producer_signed


def test_a_successful_answer_without_axon_signature_verifies_as_unsigned(
    wallets: dict[str, bt.Wallet],
) -> None:
    # A stock bittensor 10.5 Axon signs only the requests its middleware rejects.
    receipt = dendrite_receipt(wallets, axon_signed=False)
    verdict = verify_receipt(
        receipt,
        miner_hotkey=wallets["miner"].hotkey.ss58_address,
        window=WINDOW,
        producer_hotkeys=lambda _: {wallets["producer"].hotkey.ss58_address},
    )
    assert verdict.ok and not verdict.producer_signed


def test_wrong_dendrite_signature_fails(wallets: dict[str, bt.Wallet]) -> None:
    assert check(dendrite_receipt(wallets, signer="stranger"), wallets) == {
        ReceiptFault.BAD_DENDRITE_SIGNATURE
    }


def test_forged_axon_signature_fails(wallets: dict[str, bt.Wallet]) -> None:
    assert check(dendrite_receipt(wallets, axon_signer="stranger"), wallets) == {
        ReceiptFault.BAD_AXON_SIGNATURE
    }


def test_receipt_made_by_another_hotkey_than_the_miner_fails(wallets: dict[str, bt.Wallet]) -> None:
    # A real, correctly signed receipt of miner2 presented by miner: the dendrite hotkey gives it away.
    assert check(dendrite_receipt(wallets, caller="miner2"), wallets) == {ReceiptFault.WRONG_MINER}


def test_axon_not_registered_on_the_producer_subnet_fails(wallets: dict[str, bt.Wallet]) -> None:
    assert check(dendrite_receipt(wallets, producer="stranger"), wallets) == {ReceiptFault.UNKNOWN_PRODUCER}


def test_stale_nonce_fails(wallets: dict[str, bt.Wallet]) -> None:
    stale = dendrite_receipt(wallets, nonce=NOW - 3_600 * 10**9)
    assert check(stale, wallets) == {ReceiptFault.OUTSIDE_WINDOW}


def test_tampered_signed_fields_fail(wallets: dict[str, bt.Wallet]) -> None:
    genuine = dendrite_receipt(wallets)
    assert genuine.dendrite is not None
    moved = genuine.model_copy(
        update={"dendrite": genuine.dendrite.model_copy(update={"dendrite_nonce": NOW + 9})}
    )
    assert ReceiptFault.BAD_DENDRITE_SIGNATURE in check(moved, wallets)
    rebodied = genuine.model_copy(
        update={"dendrite": genuine.dendrite.model_copy(update={"body_hash": "cd" * 32})}
    )
    assert check(rebodied, wallets) == {ReceiptFault.BAD_DENDRITE_SIGNATURE}


def test_provider_that_is_not_the_signing_axon_fails(wallets: dict[str, bt.Wallet]) -> None:
    receipt = dendrite_receipt(wallets).model_copy(update={"provider": Provider(hotkey="5" * 48, uid=0)})
    assert ReceiptFault.PROVIDER_MISMATCH in check(receipt, wallets)


def test_dendrite_receipt_without_proof_fails(wallets: dict[str, bt.Wallet]) -> None:
    receipt = dendrite_receipt(wallets).model_copy(update={"dendrite": None})
    assert check(receipt, wallets) == {ReceiptFault.MISSING_PROOF}


def test_a_cancelled_hedge_needs_no_proof_but_an_answered_call_does(wallets: dict[str, bt.Wallet]) -> None:
    cancelled = dendrite_receipt(wallets).model_copy(
        update={"dendrite": None, "status": CallStatus.CANCELLED, "response_digest": None}
    )
    assert check(cancelled, wallets) == set()
    failed = cancelled.model_copy(update={"status": CallStatus.TIMEOUT})
    assert check(failed, wallets) == {ReceiptFault.MISSING_PROOF}


def test_http_receipt_is_checked_for_time_and_evidence(wallets: dict[str, bt.Wallet]) -> None:
    assert check(http_receipt(), wallets) == set()
    assert check(http_receipt(started_ns=NOW - 10**12), wallets) == {ReceiptFault.OUTSIDE_WINDOW}
    good = CallEvidence(request={"q": 1}, response={"a": 2})
    assert check(http_receipt(), wallets, evidence=good) == set()
    forged = CallEvidence(request={"q": 1}, response={"a": 3})
    assert check(http_receipt(), wallets, evidence=forged) == {ReceiptFault.EVIDENCE_MISMATCH}


def test_evidence_for_a_failed_call_has_no_response() -> None:
    failed = http_receipt(response_digest=None, status=CallStatus.TIMEOUT)
    assert evidence_matches(failed, CallEvidence(request={"q": 1}))
    assert not evidence_matches(failed, CallEvidence(request={"q": 1}, response={"made": "up"}))
