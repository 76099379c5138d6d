import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestra.errors import ResultValidationError, SchemaError
from orchestra.schema import (
    MAX_DEPTH,
    MAX_FIELDS,
    FreeNode,
    ListNode,
    Node,
    ObjectNode,
    ScalarNode,
    child_path,
    compile_schema,
)

SEED_SCHEMA = {
    "competitors": [{"name": "str", "pricing": "dict", "strengths": "list"}],
    "recommendation": {"price_point": "float", "rationale": "str"},
}


def errors_of(schema: Any, data: Any) -> dict[str, str]:
    with pytest.raises(ResultValidationError) as caught:
        compile_schema(schema).validate(data)
    return {e.path: e.message for e in caught.value.errors}


# ------------------------------------------------------------------ the compact form


def test_seed_schema_validates_a_matching_result() -> None:
    result = {
        "competitors": [{"name": "VoltStack", "pricing": {"H100": "$1.99/hr"}, "strengths": ["cheap"]}],
        "recommendation": {"price_point": 1.99, "rationale": "lowest observed"},
    }
    assert compile_schema(SEED_SCHEMA).validate(result) == result


def test_errors_carry_json_paths() -> None:
    errors = errors_of(
        SEED_SCHEMA,
        {
            "competitors": [
                {"name": "A", "pricing": {}, "strengths": []},
                {"name": 7, "pricing": {}, "strengths": []},
            ],
            "recommendation": {"price_point": "cheap"},
        },
    )
    assert set(errors) == {
        "$.competitors[1].name",
        "$.recommendation.price_point",
        "$.recommendation.rationale",
    }
    assert "string" in errors["$.competitors[1].name"]


def test_optional_fields_may_be_missing_or_null_but_required_ones_may_not() -> None:
    schema = {"a": "str?", "b": "int"}
    compiled = compile_schema(schema)
    assert compiled.validate({"b": 1}) == {"b": 1}
    assert compiled.validate({"a": None, "b": 1}) == {"a": None, "b": 1}
    assert errors_of(schema, {"a": "x", "b": None}) == {"$.b": "Input should be a valid integer"}


def test_types_are_strict_like_json() -> None:
    schema = {"n": "int", "x": "float", "flag": "bool", "s": "str"}
    errors = errors_of(schema, {"n": "5", "x": True, "flag": 1, "s": 5})
    assert set(errors) == {"$.n", "$.x", "$.flag", "$.s"}
    # JSON has one number type: 3.0 is an integer, and an integer is a number.
    assert compile_schema(schema).validate({"n": 3.0, "x": 2, "flag": False, "s": ""})["n"] == 3


def test_list_forms_and_nested_lists() -> None:
    compiled = compile_schema(
        {"tags": "list[str]", "grid": "list[list[int]]", "people": [{"name": "str"}], "ids": ["int"]}
    )
    data = {"tags": ["a"], "grid": [[1, 2], []], "people": [{"name": "x"}], "ids": [1]}
    assert compiled.validate(data) == data
    assert set(errors_of(compiled_schema_source(compiled), {**data, "grid": [[1, "2"]]})) == {"$.grid[0][1]"}


def compiled_schema_source(compiled: Any) -> dict[str, Any]:
    return compiled.json_schema()  # type: ignore[no-any-return]


def test_awkward_field_names_survive() -> None:
    schema = {"class": "str", "model_config": "int", "a b": "bool", "$ref?": "str", "x-y": "float"}
    data = {"class": "c", "model_config": 1, "a b": True, "$ref?": "r", "x-y": 1.5}
    assert compile_schema(schema).validate(data) == data
    assert '$["a b"]' in errors_of(schema, {**data, "a b": "no"})


def test_extra_keys_are_rejected_in_the_compact_form() -> None:
    assert errors_of({"a": "str"}, {"a": "x", "b": 1}) == {"$.b": "Extra inputs are not permitted"}


def test_type_aliases_and_any() -> None:
    compiled = compile_schema(
        {
            "a": "string",
            "b": "integer",
            "c": "number",
            "d": "boolean",
            "e": "object",
            "f": "array",
            "g": "any",
        }
    )
    compiled.validate({"a": "", "b": 1, "c": 1.5, "d": True, "e": {}, "f": [], "g": None})


def test_non_object_result_is_reported_at_the_root() -> None:
    assert errors_of({"a": "str"}, ["a"]) == {"$": "expected an object, got list"}


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        ([{"a": "str"}], "root of a target schema must be an object"),
        ("str", "root of a target schema must be an object"),
        ({}, "at least one field"),
        ({"a": "flaot"}, "did you mean 'float'"),
        ({"a": "list[whatever]"}, "unknown type 'whatever'"),
        ({"a": ["str", "int"]}, "one-element list"),
        ({"a": 5}, "expected a type name"),
        ({"a": {}}, "at least one field"),
        ({"a": "list[str?]"}, "list items cannot be optional"),
        ({"": "str"}, "must not be empty"),
        ({"a": float("nan")}, "not plain JSON"),
    ],
)
def test_malformed_compact_schemas_raise_a_clear_schema_error(schema: Any, fragment: str) -> None:
    with pytest.raises(SchemaError, match=fragment.replace("[", r"\[").replace("?", r"\?")) as caught:
        compile_schema(schema)
    assert caught.value.code.value == "invalid_schema"


def test_error_path_points_at_the_offending_field() -> None:
    with pytest.raises(SchemaError) as caught:
        compile_schema({"outer": {"inner": [{"bad": "money"}]}})
    assert caught.value.path == "$.outer.inner[].bad"


def test_depth_limit() -> None:
    nested: Any = "str"
    for _ in range(MAX_DEPTH):
        nested = {"x": nested}
    compile_schema(nested)  # exactly MAX_DEPTH levels of objects
    with pytest.raises(SchemaError, match=f"deeper than {MAX_DEPTH}"):
        compile_schema({"x": nested})


def test_field_count_limit() -> None:
    compile_schema({f"f{i}": "str" for i in range(MAX_FIELDS)})
    with pytest.raises(SchemaError, match=f"more than {MAX_FIELDS} fields"):
        compile_schema({f"f{i}": "str" for i in range(MAX_FIELDS + 1)})
    with pytest.raises(SchemaError, match="fields"):
        compile_schema({"a": [{f"f{i}": "str" for i in range(MAX_FIELDS)}]})


def test_size_limit() -> None:
    with pytest.raises(SchemaError, match="bytes"):
        compile_schema({"a" * 70_000: "str"})


def test_self_referencing_input_is_a_schema_error_not_a_crash() -> None:
    looped: dict[str, Any] = {}
    looped["a"] = looped
    with pytest.raises(SchemaError):
        compile_schema(looped)


def test_compilation_is_cached_by_content() -> None:
    assert compile_schema({"a": "str", "b": "int"}) is compile_schema({"b": "int", "a": "str"})


# ------------------------------------------------------------------ JSON Schema


JSON_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 2, "pattern": "^[A-Z]"},
        "tier": {"enum": ["free", "pro"]},
        "score": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "when": {"type": "string", "format": "date-time"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        "owner": {"$ref": "#/$defs/person"},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "meta": {"type": "object"},
    },
    "required": ["name", "tier"],
    "additionalProperties": False,
    "$defs": {"person": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}},
}


def test_json_schema_accepts_a_conforming_document() -> None:
    data = {
        "name": "Acme",
        "tier": "pro",
        "score": None,
        "when": "2026-11-24T10:00:00Z",
        "tags": ["a"],
        "owner": {"id": 4, "extra": "allowed by default"},
        "note": None,
        "meta": {"anything": [1]},
    }
    assert compile_schema(JSON_SCHEMA).form == "json-schema"
    assert compile_schema(JSON_SCHEMA).validate(data) == data


def test_json_schema_constraints_are_enforced_with_paths() -> None:
    errors = errors_of(
        JSON_SCHEMA,
        {
            "name": "acme",
            "tier": "gold",
            "score": 3,
            "when": "yesterday",
            "tags": ["a", "b", "c"],
            "owner": {},
            "surprise": 1,
        },
    )
    assert set(errors) == {"$.name", "$.tier", "$.score", "$.when", "$.tags", "$.owner.id", "$.surprise"}


def test_missing_non_required_json_schema_field_is_fine_but_null_is_not() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert compile_schema(schema).validate({}) == {}
    assert set(errors_of(schema, {"a": None})) == {"$.a"}


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        ({"type": "object", "properties": {"a": {"type": "strin"}}}, "did you mean 'string'"),
        ({"type": "object", "properties": {"a": {"allOf": [{}]}}}, "'allOf' keyword is not supported"),
        ({"type": "object", "properties": {"a": {"$ref": "#/$defs/nope"}}}, "points nowhere"),
        ({"type": "object", "properties": {"a": {"$ref": "http://example.com/x"}}}, "only local references"),
        ({"type": "object", "properties": {"a": {"type": ["string", "integer"]}}}, "type union"),
        ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]}, "not defined"),
        ({"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}}, "unsupported pattern"),
        ({"type": "object", "properties": {"a": {"type": "string", "pattern": "(?=x)y"}}}, "look-around"),
        ({"type": "object", "properties": {"a": {"enum": []}}}, "needs a 'type'"),
        ({"type": "object", "properties": {"a": {"type": "integer", "enum": ["x"]}}}, "not of type int"),
        (
            {
                "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
                "type": "object",
                "properties": {"x": {"$ref": "#/$defs/a"}},
            },
            "reference cycle",
        ),
        (
            {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "array", "items": {}},
            "must be",
        ),
    ],
)
def test_malformed_json_schemas_raise_a_clear_schema_error(schema: dict[str, Any], fragment: str) -> None:
    with pytest.raises(SchemaError, match=fragment.replace("[", r"\[")):
        compile_schema(schema)


def test_recursive_json_schema_hits_the_depth_limit() -> None:
    schema = {
        "type": "object",
        "properties": {"child": {"$ref": "#"}},
    }
    with pytest.raises(SchemaError, match="deeper"):
        compile_schema(schema)


def test_compact_and_normalised_json_schema_agree() -> None:
    compiled = compile_schema(SEED_SCHEMA)
    again = compile_schema(
        {"$schema": "https://json-schema.org/draft/2020-12/schema", **compiled.json_schema()}
    )
    result = {
        "competitors": [{"name": "A", "pricing": {}, "strengths": []}],
        "recommendation": {"price_point": 1, "rationale": "r"},
    }
    assert again.validate(result) == compiled.validate(result)


# ------------------------------------------------------------------ properties

SCALARS = ("str", "int", "float", "bool")
field_names = st.text(alphabet=string.ascii_letters + "_- $", min_size=1, max_size=10)


def compact_values(depth: int) -> st.SearchStrategy[Any]:
    leaf = st.one_of(
        st.sampled_from(SCALARS),
        st.sampled_from(SCALARS).map(lambda t: t + "?"),
        st.sampled_from(SCALARS).map(lambda t: f"list[{t}]"),
        st.sampled_from(("dict", "list", "any")),
    )
    if depth >= 3:
        return leaf
    return st.one_of(leaf, compact_objects(depth + 1), compact_objects(depth + 1).map(lambda o: [o]))


def compact_objects(depth: int = 1) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(field_names, st.deferred(lambda: compact_values(depth)), min_size=1, max_size=4)


json_leaves = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5))


def instances(node: Node) -> st.SearchStrategy[Any]:
    if isinstance(node, ScalarNode):
        return {
            "str": st.text(max_size=8),
            "int": st.integers(-(10**6), 10**6),
            "float": st.floats(allow_nan=False, allow_infinity=False, width=32),
            "bool": st.booleans(),
        }[node.kind]
    if isinstance(node, FreeNode):
        return {
            "dict": st.dictionaries(st.text(max_size=4), json_leaves, max_size=3),
            "list": st.lists(json_leaves, max_size=3),
            "any": json_leaves,
        }[node.kind]
    if isinstance(node, ListNode):
        return st.lists(instances(node.item), max_size=3)
    assert isinstance(node, ObjectNode)
    required = {f.name: instances(f.node) for f in node.fields if f.required}
    optional = {f.name: st.one_of(st.none(), instances(f.node)) for f in node.fields if not f.required}
    return st.fixed_dictionaries(required, optional=optional)


@st.composite
def schema_and_instance(draw: st.DrawFn) -> tuple[dict[str, Any], Any]:
    schema = draw(compact_objects())
    instance = draw(instances(compile_schema(schema).root))
    return schema, instance


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(schema_and_instance())
def test_any_instance_built_from_a_schema_validates(pair: tuple[dict[str, Any], Any]) -> None:
    schema, instance = pair
    compile_schema(schema).validate(instance)


def scalar_paths(node: Node, value: Any, path: str = "$") -> list[tuple[str, ScalarNode]]:
    out: list[tuple[str, ScalarNode]] = []
    if isinstance(node, ObjectNode):
        for spec in node.fields:
            if value.get(spec.name) is not None:
                out += scalar_paths(spec.node, value[spec.name], child_path(path, spec.name))
    elif isinstance(node, ListNode):
        for index, item in enumerate(value):
            out += scalar_paths(node.item, item, child_path(path, index))
    elif isinstance(node, ScalarNode):
        out.append((path, node))
    return out


def set_at(value: Any, node: Node, path: str, replacement: Any, here: str = "$") -> Any:
    if here == path:
        return replacement
    if isinstance(node, ObjectNode):
        return {
            k: set_at(v, spec.node, path, replacement, child_path(here, k)) if (spec := node.field(k)) else v
            for k, v in value.items()
        }
    if isinstance(node, ListNode):
        return [set_at(v, node.item, path, replacement, child_path(here, i)) for i, v in enumerate(value)]
    return value


WRONG = {"str": 1, "int": "1", "float": "1.5", "bool": "true"}


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(schema_and_instance(), st.data())
def test_a_wrongly_typed_leaf_is_reported_at_its_path(
    pair: tuple[dict[str, Any], Any], data: st.DataObject
) -> None:
    schema, instance = pair
    compiled = compile_schema(schema)
    leaves = scalar_paths(compiled.root, instance)
    if not leaves:
        return
    path, node = data.draw(st.sampled_from(leaves))
    broken = set_at(instance, compiled.root, path, WRONG[node.kind])
    with pytest.raises(ResultValidationError) as caught:
        compiled.validate(broken)
    assert path in {e.path for e in caught.value.errors}


def test_nullable_enums_round_trip_through_the_normalised_form() -> None:
    schema = {
        "type": "object",
        "properties": {"tier": {"type": ["string", "null"], "enum": ["free", "pro", None]}},
    }
    compiled = compile_schema(schema)
    assert compiled.validate({"tier": None}) == {"tier": None}
    assert set(errors_of(schema, {"tier": "gold"})) == {"$.tier"}
    again = compile_schema(
        {"$schema": "https://json-schema.org/draft/2020-12/schema", **compiled.json_schema()}
    )
    assert again.validate({"tier": "pro"}) == {"tier": "pro"}


def test_non_finite_numbers_are_not_valid_json_values() -> None:
    assert set(errors_of({"x": "float"}, {"x": float("nan")})) == {"$.x"}
    assert set(errors_of({"x": "float"}, {"x": float("inf")})) == {"$.x"}


def test_patterns_cannot_backtrack_for_ever() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string", "pattern": "^(a+)+$"}}}
    assert set(errors_of(schema, {"a": "a" * 5_000 + "b"})) == {"$.a"}  # linear time, instant
