import copy
import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.entry import AuthKind, Compatibility, Provenance, Route, SubnetEntry, SubnetStatus
from ledger.versioning import (
    _ENTRY_RULES,
    _ROUTE_RULES,
    Change,
    EntryDiff,
    compare_schemas,
    conforms,
    diff_entries,
    infer_schema,
)
from protocol.models import RouteKind

NONE, ADDITIVE, BREAKING = Compatibility.NONE, Compatibility.ADDITIVE, Compatibility.BREAKING

SEARCH_ITEM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "link": {"type": "string", "format": "uri"},
        "snippet": {"type": "string"},
    },
    "required": ["title", "link"],
}
SEARCH_RESPONSE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "search": {"type": "array", "items": SEARCH_ITEM},
        "completion": {"type": "string"},
        "count": {"type": "integer"},
    },
    "required": ["search"],
}
SEARCH_REQUEST: dict[str, Any] = {
    "type": "object",
    "properties": {
        "prompt": {"type": "string", "minLength": 1},
        "tools": {"type": "array", "items": {"type": "string", "enum": ["web", "hackernews", "reddit"]}},
        "count": {"type": "integer", "minimum": 10, "maximum": 200},
        "result_type": {"type": "string", "enum": ["ONLY_LINKS", "LINKS_WITH_FINAL_SUMMARY"]},
    },
    "required": ["prompt"],
}
ITEM_PATH = "properties/search/items/properties"


def edited(schema: dict[str, Any], path: str, value: Any = ..., *, delete: bool = False) -> dict[str, Any]:
    """A deep copy of `schema` with the value at slash-separated `path` replaced or deleted."""
    result = copy.deepcopy(schema)
    *parents, last = path.split("/")
    node = result
    for step in parents:
        node = node[int(step)] if isinstance(node, list) else node[step]
    key: Any = int(last) if isinstance(node, list) else last
    if delete:
        del node[key]
    else:
        node[key] = value
    return result


def classes(changes: list[Change]) -> dict[str, Compatibility]:
    return {c.path: c.compatibility for c in changes}


def only(changes: list[Change]) -> Change:
    assert len(changes) == 1, changes
    return changes[0]


# ------------------------------------------------------------------ response schemas


def test_removing_link_from_desearch_results_is_breaking() -> None:
    new = edited(SEARCH_RESPONSE, f"{ITEM_PATH}/link", delete=True)
    new = edited(new, "properties/search/items/required", ["title"])
    change = only(
        compare_schemas(
            SEARCH_RESPONSE, new, role="response", base_path="routes/desearch-api/response_schema"
        )
    )
    assert change.path == "routes/desearch-api/response_schema/properties/search/items/properties/link"
    assert (change.op, change.compatibility, change.reason) == ("removed", BREAKING, "response field removed")
    assert change.old == {"type": "string", "format": "uri"}


def test_a_new_optional_favicon_in_results_is_additive() -> None:
    new = edited(SEARCH_RESPONSE, f"{ITEM_PATH}/favicon", {"type": "string"})
    change = only(compare_schemas(SEARCH_RESPONSE, new, role="response"))
    assert (change.path, change.op, change.compatibility) == (f"{ITEM_PATH}/favicon", "added", ADDITIVE)


def test_a_new_required_response_field_is_additive() -> None:
    new = edited(SEARCH_RESPONSE, "properties/id", {"type": "string"})
    new = edited(new, "required", ["search", "id"])
    assert classes(compare_schemas(SEARCH_RESPONSE, new, role="response")) == {"properties/id": ADDITIVE}


def test_a_response_field_that_becomes_optional_is_breaking() -> None:
    new = edited(SEARCH_RESPONSE, "properties/search/items/required", ["title"])
    change = only(compare_schemas(SEARCH_RESPONSE, new, role="response"))
    assert change.path == f"{ITEM_PATH}/link/required"
    assert (change.old, change.new, change.compatibility) == (True, False, BREAKING)


def test_a_response_field_that_becomes_nullable_is_breaking_in_either_spelling() -> None:
    as_list = edited(SEARCH_RESPONSE, f"{ITEM_PATH}/link/type", ["string", "null"])
    as_any_of = edited(
        SEARCH_RESPONSE,
        f"{ITEM_PATH}/link",
        {"anyOf": [{"type": "string", "format": "uri"}, {"type": "null"}]},
    )
    for new in (as_list, as_any_of):
        assert classes(compare_schemas(SEARCH_RESPONSE, new, role="response")) == {
            f"{ITEM_PATH}/link/nullable": BREAKING
        }
    assert compare_schemas(as_list, as_any_of, role="response") == []


def test_a_retyped_response_field_is_breaking() -> None:
    new = edited(SEARCH_RESPONSE, "properties/completion/type", "object")
    change = only(compare_schemas(SEARCH_RESPONSE, new, role="response"))
    assert (change.path, change.old, change.new, change.compatibility) == (
        "properties/completion/type",
        "string",
        "object",
        BREAKING,
    )


def test_integer_to_number_breaks_readers_and_number_to_integer_does_not() -> None:
    widened = edited(SEARCH_RESPONSE, "properties/count/type", "number")
    assert classes(compare_schemas(SEARCH_RESPONSE, widened, role="response")) == {
        "properties/count/type": BREAKING
    }
    assert classes(compare_schemas(widened, SEARCH_RESPONSE, role="response")) == {
        "properties/count/type": ADDITIVE
    }


def test_a_new_enum_value_in_a_response_is_breaking_and_a_removed_one_additive() -> None:
    old = edited(SEARCH_RESPONSE, "properties/status", {"type": "string", "enum": ["ok", "partial"]})
    new = edited(old, "properties/status/enum", ["ok", "partial", "throttled"])
    change = only(compare_schemas(old, new, role="response"))
    assert (change.path, change.op, change.new, change.compatibility) == (
        "properties/status/enum",
        "added",
        "throttled",
        BREAKING,
    )
    assert only(compare_schemas(new, old, role="response")).compatibility is ADDITIVE


def test_changing_what_a_list_holds_is_breaking() -> None:
    new = edited(SEARCH_RESPONSE, "properties/search/items", {"type": "string"})
    changes = compare_schemas(SEARCH_RESPONSE, new, role="response")
    assert classes(changes)["properties/search/items/type"] is BREAKING


# ------------------------------------------------------------------ request schemas


def test_a_new_required_request_field_is_breaking_and_an_optional_one_additive() -> None:
    optional = edited(SEARCH_REQUEST, "properties/language", {"type": "string"})
    change = only(compare_schemas(SEARCH_REQUEST, optional, role="request"))
    assert (change.op, change.compatibility, change.reason) == (
        "added",
        ADDITIVE,
        "new optional request field",
    )
    required = edited(optional, "required", ["prompt", "language"])
    change = only(compare_schemas(SEARCH_REQUEST, required, role="request"))
    assert (change.op, change.compatibility, change.reason) == (
        "added",
        BREAKING,
        "new required request field",
    )


def test_a_removed_request_field_breaks_only_when_extra_fields_are_rejected() -> None:
    tolerant = edited(SEARCH_REQUEST, "properties/result_type", delete=True)
    assert only(compare_schemas(SEARCH_REQUEST, tolerant, role="request")).compatibility is ADDITIVE
    strict_old = edited(SEARCH_REQUEST, "additionalProperties", False)
    strict_new = edited(tolerant, "additionalProperties", False)
    assert classes(compare_schemas(strict_old, strict_new, role="request")) == {
        "properties/result_type": BREAKING
    }


def test_request_types_may_widen_but_not_change() -> None:
    to_number = edited(SEARCH_REQUEST, "properties/count/type", "number")
    assert only(compare_schemas(SEARCH_REQUEST, to_number, role="request")).compatibility is ADDITIVE
    either = edited(SEARCH_REQUEST, "properties/prompt/type", ["string", "array"])
    assert only(compare_schemas(SEARCH_REQUEST, either, role="request")).compatibility is ADDITIVE
    to_string = edited(SEARCH_REQUEST, "properties/count/type", "string")
    assert only(compare_schemas(SEARCH_REQUEST, to_string, role="request")).compatibility is BREAKING


def test_request_enum_values_removed_break_and_added_do_not() -> None:
    enum_path = "properties/tools/items/enum"
    more = edited(SEARCH_REQUEST, enum_path, ["web", "hackernews", "reddit", "arxiv"])
    fewer = edited(SEARCH_REQUEST, enum_path, ["web", "reddit"])
    assert classes(compare_schemas(SEARCH_REQUEST, more, role="request")) == {enum_path: ADDITIVE}
    change = only(compare_schemas(SEARCH_REQUEST, fewer, role="request"))
    assert (change.op, change.old, change.compatibility) == ("removed", "hackernews", BREAKING)


def test_request_fields_may_become_optional_but_not_required() -> None:
    relaxed = edited(SEARCH_REQUEST, "required", [])
    demanding = edited(SEARCH_REQUEST, "required", ["prompt", "count"])
    assert classes(compare_schemas(SEARCH_REQUEST, relaxed, role="request")) == {
        "properties/prompt/required": ADDITIVE
    }
    assert classes(compare_schemas(SEARCH_REQUEST, demanding, role="request")) == {
        "properties/count/required": BREAKING
    }


@pytest.mark.parametrize(
    ("keyword", "value", "expected"),
    [
        ("maximum", 100, BREAKING),
        ("maximum", 500, ADDITIVE),
        ("minimum", 20, BREAKING),
        ("minimum", 1, ADDITIVE),
    ],
)
def test_request_bounds_tightened_break_and_loosened_do_not(
    keyword: str, value: int, expected: Compatibility
) -> None:
    new = edited(SEARCH_REQUEST, f"properties/count/{keyword}", value)
    assert classes(compare_schemas(SEARCH_REQUEST, new, role="request")) == {
        f"properties/count/{keyword}": expected
    }


def test_new_and_removed_length_limits_on_a_request() -> None:
    capped = edited(SEARCH_REQUEST, "properties/prompt/maxLength", 4000)
    assert only(compare_schemas(SEARCH_REQUEST, capped, role="request")).compatibility is BREAKING
    uncapped = edited(SEARCH_REQUEST, "properties/prompt/minLength", delete=True)
    assert only(compare_schemas(SEARCH_REQUEST, uncapped, role="request")).compatibility is ADDITIVE


def test_a_request_that_starts_rejecting_extra_fields_is_breaking() -> None:
    strict = edited(SEARCH_REQUEST, "additionalProperties", False)
    assert classes(compare_schemas(SEARCH_REQUEST, strict, role="request")) == {
        "additionalProperties": BREAKING
    }
    assert classes(compare_schemas(strict, SEARCH_REQUEST, role="request")) == {
        "additionalProperties": ADDITIVE
    }


# ------------------------------------------------------------------ schema form and edge cases


def test_unknown_and_withdrawn_schemas() -> None:
    assert compare_schemas(None, None, role="response") == []
    known = only(
        compare_schemas(None, SEARCH_RESPONSE, role="response", base_path="routes/x/response_schema")
    )
    assert (known.path, known.op, known.compatibility) == ("routes/x/response_schema", "added", ADDITIVE)
    withdrawn = only(compare_schemas(SEARCH_RESPONSE, None, role="response"))
    assert (withdrawn.op, withdrawn.compatibility) == ("removed", BREAKING)


def test_pydantic_and_hand_written_spellings_of_one_schema_are_equal() -> None:
    hand_written = {
        "type": "object",
        "properties": {"link": {"type": ["string", "null"]}, "score": {"type": ["integer", "number"]}},
        "required": ["link"],
    }
    result = {
        "properties": {
            "link": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "score": {"anyOf": [{"type": "integer"}, {"type": "number"}]},
        },
        "required": ["link"],
        "type": "object",
    }
    pydantic_style = {"$defs": {"Result": result}, "allOf": [{"$ref": "#/$defs/Result"}]}
    assert compare_schemas(hand_written, pydantic_style, role="response") == []
    assert compare_schemas(pydantic_style, hand_written, role="request") == []


def test_a_change_inside_a_definition_is_reported_where_it_is_used() -> None:
    old = {
        "$defs": {"Item": SEARCH_ITEM},
        "type": "object",
        "properties": {"search": {"type": "array", "items": {"$ref": "#/$defs/Item"}}},
    }
    new = edited(old, "$defs/Item/properties/link", delete=True)
    assert classes(compare_schemas(old, new, role="response")) == {f"{ITEM_PATH}/link": BREAKING}


def test_recursive_schemas_are_compared_without_looping() -> None:
    tree = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
            }
        },
        "$ref": "#/$defs/Node",
    }
    renamed = edited(tree, "$defs/Node/properties/name/type", "integer")
    assert compare_schemas(tree, copy.deepcopy(tree), role="response") == []
    found = classes(compare_schemas(tree, renamed, role="response"))
    assert found["properties/name/type"] is BREAKING
    assert found["properties/children/items/properties/name/type"] is BREAKING
    assert set(found.values()) == {BREAKING}


def test_descriptions_are_listed_as_none() -> None:
    new = edited(SEARCH_RESPONSE, "properties/completion/description", "The final summary.")
    change = only(compare_schemas(SEARCH_RESPONSE, new, role="response"))
    assert (change.path, change.op, change.compatibility) == (
        "properties/completion/description",
        "added",
        NONE,
    )


def test_unfamiliar_keywords_are_breaking_when_they_change() -> None:
    old = edited(SEARCH_REQUEST, "properties/count/multipleOf", 10)
    new = edited(old, "properties/count/multipleOf", 20)
    assert classes(compare_schemas(old, new, role="request")) == {"properties/count/multipleOf": BREAKING}


def test_union_variants_added_break_readers_but_not_writers() -> None:
    old = {"anyOf": [{"type": "object", "properties": {"url": {"type": "string"}}}, {"type": "null"}]}
    new = edited(old, "anyOf/1", {"type": "object", "properties": {"video": {"type": "string"}}})
    assert [(c.op, c.compatibility) for c in compare_schemas(old, new, role="response")] == [
        ("added", BREAKING),
        ("changed", ADDITIVE),  # the null variant is gone: no longer nullable
    ]
    assert {c.compatibility for c in compare_schemas(old, new, role="request")} == {ADDITIVE, BREAKING}


def test_dropping_the_item_schema_of_a_response_list_is_one_breaking_change() -> None:
    new = edited(SEARCH_RESPONSE, "properties/search/items", delete=True)
    change = only(compare_schemas(SEARCH_RESPONSE, new, role="response"))
    assert (change.path, change.op, change.compatibility) == ("properties/search/items", "removed", BREAKING)


def test_map_values_are_compared_like_fields() -> None:
    old = {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}
    new = edited(old, "additionalProperties/items/type", "object")
    assert classes(compare_schemas(old, new, role="response")) == {
        "additionalProperties/items/type": BREAKING
    }


def test_an_enum_without_a_type_is_typed_by_its_values() -> None:
    untyped = {"enum": ["fast", "balanced", "deep"]}
    assert compare_schemas(untyped, {**untyped, "type": "string"}, role="request") == []


def test_property_names_with_slashes_stay_one_path_step() -> None:
    new = copy.deepcopy(SEARCH_RESPONSE)
    new["properties"]["text/chunks"] = {"type": "object"}
    assert only(compare_schemas(SEARCH_RESPONSE, new, role="response")).path == "properties/text~1chunks"


# ------------------------------------------------------------------ schema properties

_NAMES = st.text(alphabet=string.ascii_lowercase + "_/~", min_size=1, max_size=5)
_SCALARS = st.sampled_from(["string", "integer", "number", "boolean", "null"])
_LEAVES = st.one_of(
    st.just({}),
    _SCALARS.map(lambda t: {"type": t}),
    st.lists(_SCALARS, min_size=1, max_size=3, unique=True).map(lambda ts: {"type": ts}),
    st.lists(st.text(max_size=3), min_size=1, max_size=4, unique=True).map(
        lambda v: {"type": "string", "enum": v}
    ),
    st.tuples(st.integers(-5, 5), st.integers(6, 50)).map(
        lambda b: {"type": "integer", "minimum": b[0], "maximum": b[1], "description": "bounded"}
    ),
    st.just({"type": "string", "format": "date-time", "maxLength": 40}),
    st.just({"const": "fixed"}),
)


def _object(fields: dict[str, tuple[dict[str, Any], bool]], extra: bool | None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: s for name, (s, _) in fields.items()},
        "required": [name for name, (_, req) in fields.items() if req],
    }
    if extra is not None:
        schema["additionalProperties"] = extra
    return schema


def _extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(
            _object,
            st.dictionaries(_NAMES, st.tuples(children, st.booleans()), max_size=4),
            st.sampled_from([None, False, True]),
        ),
        children.map(lambda s: {"type": "array", "items": s}),
        children.map(lambda s: {"anyOf": [s, {"type": "null"}]}),
        st.lists(children, min_size=2, max_size=3).map(lambda bs: {"oneOf": bs}),
        children.map(lambda s: {"type": "object", "additionalProperties": s}),
    )


_SCHEMAS = st.recursive(_LEAVES, _extend, max_leaves=12)
_ROOTS = st.one_of(
    _SCHEMAS,
    st.tuples(_SCHEMAS, _SCHEMAS).map(
        lambda p: {
            "$defs": {"Item": p[0]},
            "type": "object",
            "properties": {"item": {"$ref": "#/$defs/Item"}, "other": p[1]},
        }
    ),
)


_SET_KEYWORDS = ("required", "type", "enum", "anyOf", "oneOf")


def reordered(value: Any) -> Any:
    """`value` with every object's keys and every set-like keyword list in reverse order."""
    if isinstance(value, dict):
        result = {}
        for key in reversed(list(value)):
            item = value[key]
            if key in _SET_KEYWORDS and isinstance(item, list):
                item = list(reversed(item))
            result[key] = reordered(item)
        return result
    if isinstance(value, list):
        return [reordered(v) for v in value]
    return value


def summary(changes: list[Change]) -> list[tuple[str, str, Compatibility, str]]:
    return [(c.path, c.op, c.compatibility, c.reason) for c in changes]


@given(_ROOTS, st.sampled_from(["request", "response"]))
def test_a_schema_never_differs_from_itself(schema: dict[str, Any], role: Any) -> None:
    assert compare_schemas(schema, copy.deepcopy(schema), role=role) == []
    assert compare_schemas(schema, reordered(schema), role=role) == []


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(_ROOTS, _ROOTS, st.sampled_from(["request", "response"]))
def test_key_order_never_changes_the_diff(old: dict[str, Any], new: dict[str, Any], role: Any) -> None:
    assert summary(compare_schemas(reordered(old), reordered(new), role=role)) == summary(
        compare_schemas(old, new, role=role)
    )


@given(_ROOTS, _ROOTS, st.sampled_from(["request", "response"]))
def test_changes_are_json_and_carry_a_class(old: dict[str, Any], new: dict[str, Any], role: Any) -> None:
    for change in compare_schemas(old, new, role=role):
        assert json.loads(json.dumps(change.model_dump(mode="json")))["compatibility"] in (
            "none",
            "additive",
            "breaking",
        )
        assert change.reason


# ------------------------------------------------------------------ entries


def desearch(**changes: Any) -> SubnetEntry:
    route = Route(
        name="desearch-api",
        kind=RouteKind.HTTP,
        endpoint="https://api.desearch.ai",
        auth=AuthKind.API_KEY,
        capabilities=("web_search",),
        request_schema=SEARCH_REQUEST,
        response_schema=SEARCH_RESPONSE,
        timeout_s=20,
    )
    fields: dict[str, Any] = {
        "netuid": 22,
        "name": "Desearch",
        "description": "AI search over the web and X.",
        "capabilities": ("web_search", "social_search"),
        "tags": ("search",),
        "routes": (route,),
        "provenance": Provenance(source="public-facts-2026-08"),
    }
    return SubnetEntry(**{**fields, **changes})


def with_route(entry: SubnetEntry, **changes: Any) -> SubnetEntry:
    route = entry.routes[0].model_copy(update=changes)
    return entry.model_copy(update={"routes": (route,)})


def test_a_new_subnet_is_one_additive_change() -> None:
    diff = diff_entries(None, desearch())
    change = only(diff.changes)
    assert (change.path, change.op, diff.compatibility) == ("", "added", ADDITIVE)
    assert change.new == desearch().content()


def test_an_unchanged_entry_has_an_empty_diff() -> None:
    diff = diff_entries(desearch(), desearch())
    assert diff.is_empty
    assert diff.compatibility is NONE


def test_provenance_and_verification_are_not_content() -> None:
    reverified = desearch(provenance=Provenance(source="probe", verified_by=("5F...",)))
    assert diff_entries(desearch(), reverified).is_empty


def test_removing_a_route_is_breaking_and_adding_one_additive() -> None:
    bare = desearch(routes=())
    removed = diff_entries(desearch(), bare)
    assert (only(removed.changes).path, removed.compatibility) == ("routes/desearch-api", BREAKING)
    added = diff_entries(bare, desearch())
    assert (only(added.changes).op, added.compatibility) == ("added", ADDITIVE)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("endpoint", "https://api.desearch.io", BREAKING),
        ("auth", AuthKind.BEARER, BREAKING),
        ("kind", RouteKind.OPENAI, BREAKING),
        ("timeout_s", 30.0, NONE),
        ("cost_per_call", 0.002, NONE),
        ("notes", "Authorization header without Bearer.", NONE),
        ("adapter", "desearch", NONE),
    ],
)
def test_route_fields(field: str, value: Any, expected: Compatibility) -> None:
    diff = diff_entries(desearch(), with_route(desearch(), **{field: value}))
    assert classes(diff.changes) == {f"routes/desearch-api/{field}": expected}
    assert diff.compatibility is expected


def test_schema_changes_in_a_route_carry_the_route_path() -> None:
    response = edited(SEARCH_RESPONSE, f"{ITEM_PATH}/link", delete=True)
    diff = diff_entries(desearch(), with_route(desearch(), response_schema=response))
    assert classes(diff.changes) == {f"routes/desearch-api/response_schema/{ITEM_PATH}/link": BREAKING}
    request = edited(SEARCH_REQUEST, "properties/language", {"type": "string"})
    diff = diff_entries(desearch(), with_route(desearch(), request_schema=request))
    assert classes(diff.changes) == {"routes/desearch-api/request_schema/properties/language": ADDITIVE}


def test_a_schema_rewritten_with_the_same_meaning_still_makes_a_version() -> None:
    respelled = edited(SEARCH_RESPONSE, "properties/count", {"anyOf": [{"type": "integer"}]})
    diff = diff_entries(desearch(), with_route(desearch(), response_schema=respelled))
    assert classes(diff.changes) == {"routes/desearch-api/response_schema": NONE}


def test_synapse_fields() -> None:
    dendrite = Route(
        name="miners",
        kind=RouteKind.DENDRITE,
        synapse="ScraperStreamingSynapse",
        synapse_fields={"prompt": "str", "count": "int", "completion": "str"},
    )
    old = desearch(routes=(dendrite,))
    new = desearch(
        routes=(
            dendrite.model_copy(
                update={"synapse_fields": {"prompt": "str", "count": "float", "text_chunks": "dict"}}
            ),
        )
    )
    assert classes(diff_entries(old, new).changes) == {
        "routes/miners/synapse_fields/completion": BREAKING,
        "routes/miners/synapse_fields/count": BREAKING,
        "routes/miners/synapse_fields/text_chunks": ADDITIVE,
    }
    renamed = desearch(routes=(dendrite.model_copy(update={"synapse": "SearchSynapse"}),))
    assert diff_entries(old, renamed).compatibility is BREAKING


def test_capabilities() -> None:
    fewer = desearch(capabilities=("web_search",))
    change = only(diff_entries(desearch(), fewer).changes)
    assert (change.path, change.op, change.old, change.compatibility) == (
        "capabilities",
        "removed",
        "social_search",
        BREAKING,
    )
    assert diff_entries(fewer, desearch()).compatibility is ADDITIVE


def test_deprecation_is_breaking_and_other_status_changes_are_not() -> None:
    assert diff_entries(desearch(), desearch(status=SubnetStatus.DEPRECATED)).compatibility is BREAKING
    degraded = diff_entries(desearch(), desearch(status=SubnetStatus.DEGRADED))
    assert (only(degraded.changes).path, degraded.compatibility) == ("status", NONE)


def test_descriptive_fields_are_none_and_each_listed() -> None:
    new = desearch(
        name="Desearch AI",
        description="Search API.",
        owner="Desearch-ai",
        links={"website": "https://desearch.ai"},
        tags=("search", "x"),
    )
    diff = diff_entries(desearch(), new)
    assert classes(diff.changes) == {
        "name": NONE,
        "description": NONE,
        "owner": NONE,
        "links/website": NONE,
        "tags": NONE,
    }


def test_route_order_is_listed() -> None:
    second = Route(name="miners", kind=RouteKind.DENDRITE, synapse="ScraperStreamingSynapse")
    one_way = desearch(routes=(*desearch().routes, second))
    other_way = desearch(routes=(second, *desearch().routes))
    assert classes(diff_entries(one_way, other_way).changes) == {"routes": NONE}


def test_every_versioned_field_has_a_rule() -> None:
    # A new field without a rule is classed breaking; this says which rule file to extend.
    assert set(Route.model_fields) == set(_ROUTE_RULES)
    assert set(SubnetEntry.model_fields) - {"provenance", "verification"} == set(_ENTRY_RULES)


def test_an_entry_diff_dumps_to_json() -> None:
    diff = diff_entries(desearch(), desearch(capabilities=("web_search",)))
    dumped = json.loads(diff.model_dump_json())
    assert dumped["compatibility"] == "breaking"
    assert dumped["changes"][0]["path"] == "capabilities"
    assert EntryDiff().compatibility is NONE


_ENTRY_EDITS = st.fixed_dictionaries(
    {},
    optional={
        "description": st.text(max_size=20),
        "capabilities": st.sets(st.sampled_from(["social_search", "llm_inference"])).map(
            lambda extra: {"web_search", *extra}
        ),
        "status": st.sampled_from(list(SubnetStatus)),
        "tags": st.lists(st.sampled_from(["search", "x", "ai"]), max_size=3),
        "response_schema": st.one_of(st.none(), _SCHEMAS),
        "request_schema": st.one_of(st.none(), _SCHEMAS),
        "timeout_s": st.floats(1, 60),
        "endpoint": st.sampled_from(["https://api.desearch.ai", "https://api-22.desearch.ai"]),
    },
)


def entry_with(edits: dict[str, Any]) -> SubnetEntry:
    route_fields = {"response_schema", "request_schema", "timeout_s", "endpoint"}
    entry = desearch(**{k: v for k, v in edits.items() if k not in route_fields})
    if "capabilities" in edits:
        entry = entry.model_copy(update={"capabilities": tuple(sorted(edits["capabilities"]))})
    return with_route(entry, **{k: v for k, v in edits.items() if k in route_fields})


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(_ENTRY_EDITS, _ENTRY_EDITS)
def test_entry_diffs_are_empty_exactly_when_content_is_equal(a: dict[str, Any], b: dict[str, Any]) -> None:
    old, new = entry_with(a), entry_with(b)
    assert diff_entries(old, old).is_empty
    assert diff_entries(old, new).is_empty == (old.content() == new.content())
    assert diff_entries(None, new).compatibility is ADDITIVE
    without_route = diff_entries(new, new.model_copy(update={"routes": ()}))
    assert without_route.compatibility is BREAKING


# ------------------------------------------------------------------ inference and conformance


def test_infer_schema_of_a_search_result() -> None:
    sample = {
        "search": [
            {"title": "Bittensor", "link": "https://bittensor.com", "score": 1},
            {"title": "Docs", "link": None, "score": 0.5, "favicon": "f.ico"},
        ],
        "done": True,
        "next": None,
    }
    schema = infer_schema(sample)
    assert schema["required"] == ["done", "search"]
    item = schema["properties"]["search"]["items"]
    assert item["required"] == ["score", "title"]
    assert item["properties"]["link"]["type"] == ["null", "string"]
    assert item["properties"]["score"]["type"] == "number"
    assert schema["properties"]["done"] == {"type": "boolean"}
    assert schema["properties"]["next"] == {"type": "null"}
    assert conforms(sample, schema) == []


def test_infer_schema_stops_at_the_depth_bound() -> None:
    assert infer_schema({"a": {"b": [1]}}, max_depth=1) == {
        "type": "object",
        "properties": {"a": {"type": "object", "properties": {"b": {}}, "required": ["b"]}},
        "required": ["a"],
    }
    assert infer_schema([], max_depth=0) == {"type": "array"}


def test_infer_schema_rejects_what_is_not_json() -> None:
    with pytest.raises(TypeError):
        infer_schema({"when": object()})
    with pytest.raises(TypeError):
        infer_schema({1: "one"})


def test_conforms_names_each_violation_with_its_path() -> None:
    violations = conforms({"search": [{"title": 7}], "count": "ten"}, SEARCH_RESPONSE)
    assert violations == [
        "$.count: 'ten' is not of type 'integer'",
        "$.search[0]: 'link' is a required property",
        "$.search[0].title: 7 is not of type 'string'",
    ]


def test_conforms_lists_at_most_twenty_violations() -> None:
    assert len(conforms({"search": [{}] * 50}, SEARCH_RESPONSE)) == 20


def test_conforms_survives_a_deeply_nested_body() -> None:
    body: list[Any] = []
    for _ in range(800):
        body = [body]
    assert conforms(body, {"type": "array", "items": {"$ref": "#"}}) == ["$: nested too deeply to check"]


def test_conforms_reports_a_broken_schema_instead_of_raising() -> None:
    assert conforms({}, {"type": "text"})[0].startswith("schema: not a valid JSON Schema")
    assert conforms({}, {"$ref": "#/$defs/Missing"})[0].startswith("schema: unresolvable reference")


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=25,
)


@given(_JSON, st.integers(0, 12))
def test_a_sample_always_conforms_to_its_inferred_schema(sample: Any, depth: int) -> None:
    schema = infer_schema(sample, max_depth=depth)
    assert conforms(sample, schema) == []
    assert compare_schemas(schema, infer_schema(sample, max_depth=depth), role="response") == []
