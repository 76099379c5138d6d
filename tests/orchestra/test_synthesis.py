from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from orchestra.adapters.base import Record
from orchestra.devnet.corpus import load_corpus, rank
from orchestra.errors import SynthesisError
from orchestra.planner import analyse
from orchestra.schema import compile_schema, iter_leaf_paths
from orchestra.synthesis import RuleSynthesizer, _drop_optional, dedupe, url_key
from tests.orchestra.test_schema import compact_objects

OBJECTIVE = (
    "Research the H100 GPU cloud pricing and strengths of the top 3 competitors and recommend a price point."
)
SEED_SCHEMA = {
    "competitors": [{"name": "str", "pricing": "dict", "strengths": "list"}],
    "recommendation": {"price_point": "float", "rationale": "str"},
}


def gpu_records() -> list[Record]:
    """Evidence as the two devnet producers return it for the GPU objective: receipt 0 web, 1 x, 2 reddit."""
    corpus = load_corpus()
    web = [corpus.web[i] for i in rank(OBJECTIVE, [f"{d['title']} {d['snippet']}" for d in corpus.web])[:10]]
    records = [
        Record(
            kind="web_page", text=d["snippet"], title=d["title"], url=d["link"], source="web", receipt_index=0
        )
        for d in web
    ]
    records += [
        Record(
            kind="post", text=p["text"], url=p["url"], source="x", receipt_index=1, published=p["timestamp"]
        )
        for p in corpus.x
        if p["topic"] == "gpu_cloud"
    ]
    records += [
        Record(
            kind="post",
            text=p["body"],
            title=p["title"],
            url=p["url"],
            source="reddit",
            receipt_index=2,
            published=p["createdAt"],
        )
        for p in corpus.reddit
        if p["topic"] == "gpu_cloud"
    ]
    return records


def synthesise(
    schema: dict[str, Any], records: list[Record] | None = None, objective: str = OBJECTIVE
) -> Any:
    compiled = compile_schema(schema)
    return RuleSynthesizer().synthesise(
        compiled, analyse(objective, compiled.root), gpu_records() if records is None else records
    )


def evidence_text(records: list[Record]) -> str:
    return " ".join(f"{r.title or ''} {r.text}" for r in records)


def test_the_seed_task_is_filled_from_the_evidence() -> None:
    records = gpu_records()
    synthesis = synthesise(SEED_SCHEMA, records)
    result = synthesis.result
    text = evidence_text(records)
    competitors = result["competitors"]
    assert len(competitors) == 3  # "top 3" in the objective
    assert {c["name"] for c in competitors} <= {"NimbusGPU", "CoreForge Cloud", "VoltStack", "Lumen Compute"}
    for competitor in competitors:
        assert competitor["pricing"]["H100"] in text and competitor["pricing"]["H100"].endswith("/hr")
        assert competitor["strengths"] and all(s.lower() in text.lower() for s in competitor["strengths"])
    # The lowest H100 list price in the evidence: VoltStack's $1.99/hr.
    assert result["recommendation"]["price_point"] == 1.99
    assert "$1.99/hr" in result["recommendation"]["rationale"]
    assert synthesis.filled == synthesis.total


def test_every_filled_leaf_has_provenance_pointing_at_real_receipts() -> None:
    synthesis = synthesise(SEED_SCHEMA)
    leaves = [
        path
        for path, _, value in iter_leaf_paths(compile_schema(SEED_SCHEMA).root, synthesis.result)
        if value
    ]
    assert set(leaves) <= set(synthesis.provenance)
    assert {i for receipts in synthesis.provenance.values() for i in receipts} <= {0, 1, 2}


def test_field_semantics_beyond_the_seed() -> None:
    schema = {
        "vendors": [
            {
                "name": "str",
                "h100_price": "float",
                "weaknesses": "list[str]",
                "website": "str",
                "mentions": "int",
            }
        ],
        "cheapest_vendor": "str?",
    }
    result = synthesise(schema, objective="List GPU cloud vendors").result
    by_name = {v["name"]: v for v in result["vendors"]}
    assert by_name["VoltStack"]["h100_price"] == 1.99
    assert by_name["CoreForge Cloud"]["website"] == "https://coreforge.example/pricing"
    assert "Frequent spot preemptions" in by_name["VoltStack"]["weaknesses"]
    assert all(v["mentions"] >= 2 for v in result["vendors"])


def test_numbers_come_from_sentences_about_the_field() -> None:
    result = synthesise({"providers": [{"name": "str", "uptime": "float?"}]}, objective="GPU clouds").result
    by_name = {p["name"]: p for p in result["providers"]}
    assert by_name["CoreForge Cloud"]["uptime"] == 99.95
    assert "uptime" not in by_name.get("VoltStack", {})  # nobody says, so nothing is made up


def test_a_required_field_without_evidence_fails_instead_of_inventing() -> None:
    with pytest.raises(SynthesisError, match=r"\$\.ceo_age"):
        synthesise({"ceo_age": "int"})


def test_optional_fields_without_evidence_are_left_out() -> None:
    result = synthesise({"ceo_age": "int?", "summary": "str"}).result
    assert "ceo_age" not in result and result["summary"]


def test_no_evidence_at_all_is_a_typed_error() -> None:
    with pytest.raises(SynthesisError, match="no usable evidence"):
        synthesise(SEED_SCHEMA, records=[])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(compact_objects())
def test_synthesis_returns_a_valid_result_or_a_typed_error(schema: dict[str, Any]) -> None:
    compiled = compile_schema(schema)
    try:
        synthesis = synthesise(schema)
    except SynthesisError:
        return
    assert compiled.is_valid(synthesis.result)


def test_text_is_fitted_to_string_constraints_and_failing_optional_fields_are_dropped() -> None:
    schema = {
        "type": "object",
        "properties": {
            "summary": {"type": "string", "maxLength": 40},
            "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 2},
        },
        "required": ["summary"],
    }
    result = synthesise(schema).result
    assert 0 < len(result["summary"]) <= 40
    assert "code" not in result  # no quote matches the pattern: left out rather than invented
    assert all(len(tag) <= 12 for tag in result.get("tags", []))
    assert compile_schema(schema).is_valid(result)


def test_a_required_field_that_cannot_meet_its_constraints_still_fails() -> None:
    schema = {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"}},
        "required": ["code"],
    }
    with pytest.raises(SynthesisError, match=r"\$\.code"):
        synthesise(schema)


def test_the_schemas_max_items_bounds_the_objectives_count() -> None:
    schema = {
        "type": "object",
        "properties": {
            "competitors": {
                "type": "array",
                "maxItems": 2,
                "items": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
            }
        },
        "required": ["competitors"],
    }
    assert len(synthesise(schema).result["competitors"]) == 2  # the objective asks for the top 3


def test_dropping_a_list_item_keeps_the_provenance_of_the_others_in_step() -> None:
    schema = compile_schema({"items": [{"name": "str", "note": "str?"}]})
    result = {"items": [{"name": "a"}, {"name": "b", "note": "x"}, {"name": "c"}]}
    provenance = {
        "$.items[0].name": [0],
        "$.items[1].name": [1],
        "$.items[1].note": [4],
        "$.items[2].name": [2],
    }
    assert _drop_optional(schema.root, result, [("items", 1)], provenance)
    assert result == {"items": [{"name": "a"}, {"name": "c"}]}
    assert provenance == {"$.items[0].name": [0], "$.items[1].name": [2]}
    assert not _drop_optional(schema.root, result, [("items", 0, "name")], provenance)  # required


def test_dedupe_merges_the_same_url_or_words_keeping_the_union_of_receipts() -> None:
    merged = dedupe(
        [
            ("https://www.voltstack.example/pricing/", {0}),
            ("Simple hourly pricing", {1}),
            ("http://voltstack.example/pricing?utm_source=x#plans", {2}),
            ("simple  hourly pricing!", {3}),
            ("Not simple hourly pricing", {4}),
            ("https://voltstack.example/pricing/h100", {5}),
        ]
    )
    assert merged == [
        ("https://www.voltstack.example/pricing/", {0, 2}),
        ("Simple hourly pricing", {1, 3}),
        ("Not simple hourly pricing", {4}),  # a different statement, not a duplicate
        ("https://voltstack.example/pricing/h100", {5}),
    ]
    assert url_key("https://a.example/x?b=2&a=1") == url_key("https://A.example/x/?a=1&b=2")
    assert url_key("not a url") is None and url_key("ftp://a.example/x") is None


def test_list_items_from_several_receipts_are_merged_with_the_union_of_their_provenance() -> None:
    records = [
        Record(
            kind="web_page",
            text="VoltStack is praised for simple hourly pricing.",
            url="https://www.voltstack.example/pricing/",
            source="web",
            receipt_index=0,
        ),
        Record(
            kind="post",
            text="VoltStack praised for Simple hourly pricing!",
            url="https://voltstack.example/pricing?utm_source=x",
            source="x",
            receipt_index=1,
        ),
        Record(
            kind="post",
            text="VoltStack is praised for large H100 availability.",
            url="https://forum.example/t/1",
            source="reddit",
            receipt_index=2,
        ),
    ]
    synthesis = synthesise({"strengths": "list[str]", "sources": "list[str]"}, records, "VoltStack strengths")
    assert synthesis.result == {
        "strengths": ["Simple hourly pricing", "Large H100 availability"],
        "sources": ["https://www.voltstack.example/pricing/", "https://forum.example/t/1"],
    }
    provenance = synthesis.provenance
    assert provenance["$.strengths[0]"] == [0, 1] and provenance["$.strengths[1]"] == [2]
    assert provenance["$.sources[0]"] == [0, 1] and provenance["$.sources[1]"] == [2]
    assert provenance["$.strengths"] == provenance["$.sources"] == [0, 1, 2]


def test_the_lowest_price_is_compared_within_one_currency_and_unit() -> None:
    texts = [
        "Acme lists the H100 at $2.49/hr.",
        "Bolt lists the H100 at $1.99/hr.",
        "Cirrus lists the H100 at \u20ac1.50/hr.",
        "Dyno bills the H100 at $0.05/min.",
    ]
    records = [Record(kind="web_page", text=t, source="web", receipt_index=i) for i, t in enumerate(texts)]
    synthesis = synthesise({"price_point": "float"}, records, "H100 GPU price")
    assert synthesis.result == {"price_point": 1.99}  # not the euro or the per-minute figure
    assert synthesis.provenance == {"$.price_point": [1]}


def test_dates_are_the_newest_instant_in_the_schemas_format() -> None:
    schema = {
        "type": "object",
        "properties": {
            "updated": {"type": "string", "format": "date-time"},
            "published_date": {"type": "string", "format": "date"},
            "date": {"type": "string"},
        },
    }
    records = [
        Record(
            kind="post", text="VoltStack cut prices.", source="x", receipt_index=0, published="March 3, 2026"
        ),
        Record(
            kind="post",
            text="VoltStack added H100s.",
            source="x",
            receipt_index=1,
            published="2026-03-04T08:00:00+02:00",
        ),
        Record(
            kind="post",
            text="VoltStack is fast.",
            source="x",
            receipt_index=2,
            published="2026-03-04T03:00:00-05:00",
        ),
    ]
    synthesis = synthesise(schema, records, "VoltStack news")
    # 03:00 at UTC-5 is 08:00 UTC: later than 08:00 at UTC+2, whatever the strings sort like.
    assert synthesis.result == {
        "updated": "2026-03-04T03:00:00-05:00",
        "published_date": "2026-03-04",
        "date": "2026-03-04",
    }
    assert synthesis.provenance["$.updated"] == [2]
