"""Target schemas -> pydantic v2 models.

Two input forms are accepted:

* the **compact form**: ``{"competitors": [{"name": "str", "pricing": "dict"}], "score": "float?"}``.
  Type names: ``str int float bool dict list any`` (and the aliases ``string integer number boolean object
  array``), ``list[T]``, a one-element list ``[T]`` for a list of ``T``, a nested object, and a trailing
  ``?`` for an optional (nullable, may be absent) field;
* **JSON Schema** objects (``{"type": "object", "properties": ...}`` or anything with ``$schema``):
  ``type`` (with ``null`` unions), ``properties``, ``required``, ``additionalProperties``, ``items``,
  ``enum``, ``const``, string/number/array bounds, ``format`` date/date-time, local ``$ref``, and
  ``anyOf``/``oneOf`` of one type plus ``null``.

Both compile to the same intermediate tree (`ObjectNode` ...), from which the pydantic model, a
normalised JSON Schema and the synthesiser's field walk are derived. Depth counts nested containers
(objects and lists); a schema deeper than `MAX_DEPTH`, with more than `MAX_FIELDS` properties in all,
larger than `MAX_SCHEMA_BYTES`, or whose root is not an object raises `SchemaError`.
"""

import datetime as dt
import difflib
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    create_model,
)
from pydantic_core import SchemaError as PydanticSchemaError

from orchestra.errors import FieldError, ResultValidationError, SchemaError
from orchestra.proofs import canonical_json, digest_bytes

MAX_DEPTH = 8
MAX_FIELDS = 500
MAX_SCHEMA_BYTES = 64 * 1024

ScalarKind = Literal["str", "int", "float", "bool"]
FreeKind = Literal["dict", "list", "any"]

_COMPACT_TYPES: dict[str, ScalarKind | FreeKind] = {
    "str": "str",
    "string": "str",
    "int": "int",
    "integer": "int",
    "float": "float",
    "number": "float",
    "bool": "bool",
    "boolean": "bool",
    "dict": "dict",
    "object": "dict",
    "list": "list",
    "array": "list",
    "any": "any",
}
_JSON_SCHEMA_TYPES: dict[str, ScalarKind] = {
    "string": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
}
_UNSUPPORTED_KEYWORDS = (
    "allOf",
    "not",
    "if",
    "then",
    "else",
    "prefixItems",
    "patternProperties",
    "dependentSchemas",
)
_KNOWN_FORMATS = {"date", "date-time"}


# --------------------------------------------------------------------------------------------------
# The intermediate tree
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScalarNode:
    """A string, integer, number or boolean, with optional JSON Schema constraints."""

    kind: ScalarKind
    enum: tuple[Any, ...] | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    multiple_of: float | None = None
    format: str | None = None


@dataclass(frozen=True)
class FreeNode:
    """A free-form value: any object (`dict`), any array (`list`) or anything (`any`)."""

    kind: FreeKind


@dataclass(frozen=True)
class ListNode:
    item: "Node"
    min_items: int | None = None
    max_items: int | None = None


@dataclass(frozen=True)
class FieldSpec:
    name: str
    node: "Node"
    required: bool = True
    nullable: bool = False
    description: str | None = None


@dataclass(frozen=True)
class ObjectNode:
    fields: tuple[FieldSpec, ...]
    additional: bool = False

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


Node = ScalarNode | FreeNode | ListNode | ObjectNode


# --------------------------------------------------------------------------------------------------
# Compiled schema
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledSchema:
    """A target schema ready to validate results. Build it with `compile_schema`."""

    root: ObjectNode
    model: type[BaseModel]
    digest: str
    form: Literal["compact", "json-schema"]
    field_count: int
    depth: int
    _json_schema: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def validate(self, data: Any) -> dict[str, Any]:
        """Return `data` normalised to the schema, or raise `ResultValidationError` with JSON paths."""
        if not isinstance(data, dict):
            raise ResultValidationError([FieldError("$", f"expected an object, got {_json_type(data)}")])
        try:
            instance = self.model.model_validate(data)
        except ValidationError as exc:
            raise ResultValidationError(
                [FieldError(json_path(err["loc"]), err["msg"], tuple(err["loc"])) for err in exc.errors()]
            ) from None
        dumped: dict[str, Any] = instance.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return dumped

    def is_valid(self, data: Any) -> bool:
        try:
            self.validate(data)
        except ResultValidationError:
            return False
        return True

    def json_schema(self) -> dict[str, Any]:
        """The schema as normalised JSON Schema (draft 2020-12 subset)."""
        copy: dict[str, Any] = json.loads(json.dumps(self._json_schema))  # the caller may mutate it
        return copy


def compile_schema(schema: Any) -> CompiledSchema:
    """Compile a compact-form or JSON Schema target schema. Raises `SchemaError`."""
    if not isinstance(schema, dict):
        raise SchemaError(f"the root of a target schema must be an object, got {_json_type(schema)}")
    try:
        canonical = canonical_json(schema)
    except Exception as exc:  # CanonicalizationError or RecursionError from a self-referencing dict
        raise SchemaError(f"schema is not plain JSON: {exc}") from None
    if len(canonical) > MAX_SCHEMA_BYTES:
        raise SchemaError(f"schema is {len(canonical)} bytes; the limit is {MAX_SCHEMA_BYTES}")
    return _compile_canonical(canonical)


@functools.lru_cache(maxsize=512)
def _compile_canonical(canonical: bytes) -> CompiledSchema:
    schema = json.loads(canonical)
    stats = _Stats()
    if _looks_like_json_schema(schema):
        root = _JsonSchemaParser(schema, stats).parse_root()
        form: Literal["compact", "json-schema"] = "json-schema"
    else:
        root = _parse_compact_object(schema, "$", 1, stats)
        form = "compact"
    model = _build_model(root, "Result")
    return CompiledSchema(
        root=root,
        model=model,
        digest=digest_bytes(canonical),
        form=form,
        field_count=stats.fields,
        depth=stats.max_depth,
        _json_schema=to_json_schema(root),
    )


@dataclass
class _Stats:
    fields: int = 0
    max_depth: int = 0

    def enter(self, depth: int, path: str) -> None:
        if depth > MAX_DEPTH:
            raise SchemaError(f"schema nests deeper than {MAX_DEPTH} levels", path=path)
        self.max_depth = max(self.max_depth, depth)

    def add_fields(self, count: int, path: str) -> None:
        self.fields += count
        if self.fields > MAX_FIELDS:
            raise SchemaError(f"schema has more than {MAX_FIELDS} fields", path=path)


def _looks_like_json_schema(schema: dict[str, Any]) -> bool:
    """JSON Schema when it says so (`$schema` URI) or has the shape of an object schema; else compact.

    A compact schema may well have a field called "$id" or "type", so single keywords are not enough.
    """
    marker = schema.get("$schema")
    if isinstance(marker, str) and ("://" in marker or "json-schema" in marker):
        return True
    return schema.get("type") == "object" and (
        isinstance(schema.get("properties"), dict) or set(schema) <= {"type", "additionalProperties"}
    )


# --------------------------------------------------------------------------------------------------
# Compact form
# --------------------------------------------------------------------------------------------------

_LIST_OF = re.compile(r"^list\[(?P<inner>.+)\]$")


def _parse_compact_object(value: dict[str, Any], path: str, depth: int, stats: _Stats) -> ObjectNode:
    stats.enter(depth, path)
    if not value:
        raise SchemaError('an object needs at least one field (use "dict" for a free-form object)', path=path)
    stats.add_fields(len(value), path)
    fields = []
    for name, spec in value.items():
        if not name:
            raise SchemaError("field names must not be empty", path=path)
        child = child_path(path, name)
        node, optional = _parse_compact_value(spec, child, depth, stats)
        fields.append(FieldSpec(name=name, node=node, required=not optional, nullable=optional))
    return ObjectNode(fields=tuple(fields))


def _parse_compact_value(spec: Any, path: str, depth: int, stats: _Stats) -> tuple[Node, bool]:
    if isinstance(spec, str):
        return _parse_type_name(spec, path, depth, stats)
    if isinstance(spec, dict):
        return _parse_compact_object(spec, path, depth + 1, stats), False
    if isinstance(spec, list):
        if len(spec) != 1:
            raise SchemaError(
                f"a list type is written as a one-element list, got {len(spec)} elements", path=path
            )
        stats.enter(depth + 1, path)
        item, item_optional = _parse_compact_value(spec[0], f"{path}[]", depth + 1, stats)
        if item_optional:
            raise SchemaError("list items cannot be optional", path=f"{path}[]")
        return ListNode(item=item), False
    raise SchemaError(
        f"expected a type name, an object or a one-element list, got {_json_type(spec)}", path=path
    )


def _parse_type_name(raw: str, path: str, depth: int, stats: _Stats) -> tuple[Node, bool]:
    text = raw.strip()
    optional = text.endswith("?")
    if optional:
        text = text[:-1].strip()
    match = _LIST_OF.match(text)
    if match:
        stats.enter(depth + 1, path)
        item, item_optional = _parse_type_name(match.group("inner"), f"{path}[]", depth + 1, stats)
        if item_optional:
            raise SchemaError("list items cannot be optional", path=f"{path}[]")
        return ListNode(item=item), optional
    kind = _COMPACT_TYPES.get(text.lower())
    if kind is None:
        raise SchemaError(_unknown_type_message(raw, [*_COMPACT_TYPES, "list[T]"]), path=path)
    if kind == "dict" or kind == "list" or kind == "any":
        return FreeNode(kind=kind), optional
    return ScalarNode(kind=kind), optional


def _unknown_type_message(raw: str, known: list[str]) -> str:
    close = difflib.get_close_matches(raw.strip().rstrip("?").lower(), known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known types: {', '.join(sorted(set(known)))}"
    return f"unknown type {raw!r}{hint}"


# --------------------------------------------------------------------------------------------------
# JSON Schema
# --------------------------------------------------------------------------------------------------


_MAX_REF_RESOLUTIONS = 2_000


class _JsonSchemaParser:
    def __init__(self, root: dict[str, Any], stats: _Stats) -> None:
        self.root = root
        self.stats = stats
        self.ref_budget = _MAX_REF_RESOLUTIONS

    def parse_root(self) -> ObjectNode:
        node, nullable = self._parse(self.root, "$", 1)
        if not isinstance(node, ObjectNode) or nullable:
            raise SchemaError('the root of a target schema must be {"type": "object", ...}')
        return node

    def _parse(
        self, spec: Any, path: str, depth: int, refs: frozenset[str] = frozenset()
    ) -> tuple[Node, bool]:
        """`refs` are the references followed since the last container: meeting one again is a cycle."""
        if spec is True or spec == {}:
            return FreeNode(kind="any"), False
        if not isinstance(spec, dict):
            raise SchemaError(f"a schema must be an object, got {_json_type(spec)}", path=path)
        for keyword in _UNSUPPORTED_KEYWORDS:
            if keyword in spec:
                raise SchemaError(f"the {keyword!r} keyword is not supported", path=path)
        if "$ref" in spec:
            ref = spec["$ref"]
            if ref in refs:
                raise SchemaError(f"reference cycle through {ref!r}", path=path)
            return self._parse(self._resolve(ref, path), path, depth, refs | {ref})
        for union_key in ("anyOf", "oneOf"):
            if union_key in spec:
                return self._parse_union(spec[union_key], union_key, path, depth, refs)

        types = spec.get("type")
        nullable = False
        if isinstance(types, list):
            nullable = "null" in types
            rest = [t for t in types if t != "null"]
            if len(rest) != 1:
                raise SchemaError(
                    f"a type union of {types} is not supported; use one type, optionally with null", path=path
                )
            types = rest[0]
        if "const" in spec and "enum" not in spec:
            spec = {**spec, "enum": [spec["const"]]}
        if isinstance(spec.get("enum"), list) and None in spec["enum"]:
            # {"type": ["string", "null"], "enum": ["a", null]}: null is the nullability, not a member
            nullable = True
            spec = {**spec, "enum": [v for v in spec["enum"] if v is not None]}
        if types is None:
            types = self._infer_type(spec, path)
        if not isinstance(types, str):
            raise SchemaError(
                f"'type' must be a string or a list of strings, got {_json_type(types)}", path=path
            )

        if types == "object":
            return self._parse_object(spec, path, depth), nullable
        if types == "array":
            return self._parse_array(spec, path, depth), nullable
        kind = _JSON_SCHEMA_TYPES.get(types)
        if kind is None:
            raise SchemaError(
                _unknown_type_message(types, [*_JSON_SCHEMA_TYPES, "object", "array", "null"]), path=path
            )
        return self._parse_scalar(kind, spec, path), nullable

    def _infer_type(self, spec: dict[str, Any], path: str) -> str:
        if "properties" in spec:
            return "object"
        if "items" in spec:
            return "array"
        enum = spec.get("enum")
        if isinstance(enum, list) and enum:
            kinds = {_json_type(v) for v in enum if v is not None}
            if len(kinds) == 1:
                return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
                    kinds.pop(), "unknown"
                )
        raise SchemaError(
            "a schema needs a 'type' (or properties, items or an enum to infer it from)", path=path
        )

    def _parse_union(
        self, options: Any, keyword: str, path: str, depth: int, refs: frozenset[str]
    ) -> tuple[Node, bool]:
        if not isinstance(options, list) or not options:
            raise SchemaError(f"{keyword!r} must be a non-empty list", path=path)
        non_null = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
        if len(non_null) != 1:
            raise SchemaError(f"{keyword!r} is supported only as one schema plus null", path=path)
        node, nullable = self._parse(non_null[0], path, depth, refs)
        return node, nullable or len(non_null) != len(options)

    def _resolve(self, ref: Any, path: str) -> Any:
        self.ref_budget -= 1
        if self.ref_budget < 0:
            raise SchemaError(f"more than {_MAX_REF_RESOLUTIONS} $ref resolutions", path=path)
        if ref == "#":
            return self.root
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise SchemaError(f"only local references ('#/...') are supported, got {ref!r}", path=path)
        target: Any = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                raise SchemaError(f"reference {ref!r} points nowhere", path=path)
            target = target[part]
        return target

    def _parse_object(self, spec: dict[str, Any], path: str, depth: int) -> Node:
        self.stats.enter(depth, path)
        properties = spec.get("properties", {})
        if not isinstance(properties, dict):
            raise SchemaError("'properties' must be an object", path=path)
        additional = spec.get("additionalProperties", True)
        if not properties:
            return FreeNode(kind="dict")
        required = spec.get("required", [])
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise SchemaError("'required' must be a list of property names", path=path)
        unknown = [r for r in required if r not in properties]
        if unknown:
            raise SchemaError(f"'required' names properties that are not defined: {unknown}", path=path)
        self.stats.add_fields(len(properties), path)
        fields = []
        for name, child_spec in properties.items():
            child = child_path(path, name)
            node, nullable = self._parse(child_spec, child, depth + 1)
            description = child_spec.get("description") if isinstance(child_spec, dict) else None
            fields.append(
                FieldSpec(
                    name=name,
                    node=node,
                    required=name in required,
                    nullable=nullable,
                    description=description if isinstance(description, str) else None,
                )
            )
        return ObjectNode(fields=tuple(fields), additional=additional is not False)

    def _parse_array(self, spec: dict[str, Any], path: str, depth: int) -> Node:
        self.stats.enter(depth, path)
        items = spec.get("items")
        min_items = _opt_int(spec, "minItems", path)
        max_items = _opt_int(spec, "maxItems", path)
        if items is None or items is True or items == {}:
            if min_items is None and max_items is None:
                return FreeNode(kind="list")
            return ListNode(item=FreeNode(kind="any"), min_items=min_items, max_items=max_items)
        item, item_nullable = self._parse(items, f"{path}[]", depth + 1)
        if item_nullable:
            raise SchemaError("nullable list items are not supported", path=f"{path}[]")
        return ListNode(item=item, min_items=min_items, max_items=max_items)

    def _parse_scalar(self, kind: ScalarKind, spec: dict[str, Any], path: str) -> ScalarNode:
        enum = spec.get("enum")
        if enum is not None:
            if not isinstance(enum, list) or not enum:
                raise SchemaError("'enum' must be a non-empty list", path=path)
            wrong = [v for v in enum if not _matches_kind(v, kind)]
            if wrong:
                raise SchemaError(f"enum values {wrong} are not of type {kind}", path=path)
        pattern = spec.get("pattern")
        if pattern is not None:
            if not isinstance(pattern, str):
                raise SchemaError("'pattern' must be a string", path=path)
            _check_pattern(pattern, path)
        fmt = spec.get("format")
        return ScalarNode(
            kind=kind,
            enum=tuple(enum) if enum is not None else None,
            min_length=_opt_int(spec, "minLength", path),
            max_length=_opt_int(spec, "maxLength", path),
            pattern=pattern,
            minimum=_opt_number(spec, "minimum", path),
            maximum=_opt_number(spec, "maximum", path),
            exclusive_minimum=_opt_number(spec, "exclusiveMinimum", path),
            exclusive_maximum=_opt_number(spec, "exclusiveMaximum", path),
            multiple_of=_opt_number(spec, "multipleOf", path),
            format=fmt if fmt in _KNOWN_FORMATS else None,
        )


def _check_pattern(pattern: str, path: str) -> None:
    """Patterns run in pydantic's linear-time regex engine, so a requester cannot make validation
    backtrack for ever; that engine has no look-around or back-references."""
    try:
        TypeAdapter(Annotated[str, StringConstraints(pattern=pattern)])
    except PydanticSchemaError as exc:
        reason = str(exc).strip().splitlines()[-1].removeprefix("error: ")
        raise SchemaError(f"unsupported pattern {pattern!r}: {reason}", path=path) from None


def _opt_int(spec: dict[str, Any], key: str, path: str) -> int | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SchemaError(f"{key!r} must be a non-negative integer", path=path)
    return value


def _opt_number(spec: dict[str, Any], key: str, path: str) -> float | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SchemaError(f"{key!r} must be a number", path=path)
    return float(value)


def _matches_kind(value: Any, kind: ScalarKind) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------------
# Pydantic model construction
# --------------------------------------------------------------------------------------------------


def _integral_float_to_int(value: Any) -> Any:
    # JSON has one number type: 3.0 is a valid "integer" in JSON Schema, but strict pydantic refuses it.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _check_date(value: str) -> str:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError("expected a date (YYYY-MM-DD)") from None
    return value


def _check_datetime(value: str) -> str:
    try:
        dt.datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    except ValueError:
        raise ValueError("expected an ISO 8601 date-time") from None
    return value


def _scalar_annotation(node: ScalarNode) -> Any:
    if node.enum is not None:
        return Literal[node.enum]
    if node.kind == "str":
        metadata: list[Any] = [
            StringConstraints(min_length=node.min_length, max_length=node.max_length, pattern=node.pattern)
        ]
        if node.format == "date":
            metadata.append(AfterValidator(_check_date))
        elif node.format == "date-time":
            metadata.append(AfterValidator(_check_datetime))
        arguments = (str, *metadata)
        return Annotated[arguments]
    if node.kind == "bool":
        return bool
    bounds = Field(
        ge=node.minimum,
        le=node.maximum,
        gt=node.exclusive_minimum,
        lt=node.exclusive_maximum,
        multiple_of=node.multiple_of,
    )
    if node.kind == "int":
        return Annotated[int, BeforeValidator(_integral_float_to_int), bounds]
    return Annotated[float, bounds]


@functools.lru_cache(maxsize=1024)
def scalar_adapter(node: ScalarNode) -> TypeAdapter[Any]:
    """A validator for one scalar under exactly the rules a result model applies to it (strict types,
    bounds, pattern, format), so a value checked here is a value the whole result accepts."""
    return TypeAdapter(_scalar_annotation(node), config=ConfigDict(strict=True, allow_inf_nan=False))


def _annotation(node: Node, name: str) -> Any:
    if isinstance(node, ScalarNode):
        return _scalar_annotation(node)
    if isinstance(node, FreeNode):
        return {"dict": dict[str, Any], "list": list[Any], "any": Any}[node.kind]
    if isinstance(node, ListNode):
        item = _annotation(node.item, f"{name}Item")
        return Annotated[list[item], Field(min_length=node.min_items, max_length=node.max_items)]  # type: ignore[valid-type]
    return _build_model(node, name)


def _build_model(node: ObjectNode, name: str) -> type[BaseModel]:
    definitions: dict[str, Any] = {}
    for index, spec in enumerate(node.fields):
        annotation = _annotation(spec.node, f"{name}_{_identifier(spec.name)}")
        if spec.nullable:
            annotation = Union[annotation, None]  # noqa: UP007 - annotation is a runtime value here
        info = (
            Field(alias=spec.name, description=spec.description)
            if spec.required
            else Field(default=None, alias=spec.name, description=spec.description)
        )
        # Positional names keep awkward keys ("class", "model_config", "a b") away from pydantic's namespace.
        definitions[f"f{index}"] = (annotation, info)
    config = ConfigDict(
        strict=True,
        extra="allow" if node.additional else "forbid",
        populate_by_name=False,
        allow_inf_nan=False,
    )
    model: type[BaseModel] = create_model(name, __config__=config, **definitions)
    return model


def _identifier(name: str) -> str:
    cleaned = re.sub(r"\W", "_", name).strip("_")
    return cleaned[:40].title().replace("_", "") or "Field"


# --------------------------------------------------------------------------------------------------
# Normalised JSON Schema, paths and helpers
# --------------------------------------------------------------------------------------------------


def to_json_schema(node: Node) -> dict[str, Any]:
    if isinstance(node, ObjectNode):
        out: dict[str, Any] = {
            "type": "object",
            "properties": {f.name: _nullable(to_json_schema(f.node), f) for f in node.fields},
            "required": [f.name for f in node.fields if f.required],
            "additionalProperties": node.additional,
        }
        return out
    if isinstance(node, ListNode):
        out = {"type": "array", "items": to_json_schema(node.item)}
        if node.min_items is not None:
            out["minItems"] = node.min_items
        if node.max_items is not None:
            out["maxItems"] = node.max_items
        return out
    if isinstance(node, FreeNode):
        return {"dict": {"type": "object"}, "list": {"type": "array"}, "any": {}}[node.kind]
    out = {"type": {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}[node.kind]}
    for attr, key in (
        ("enum", "enum"),
        ("min_length", "minLength"),
        ("max_length", "maxLength"),
        ("pattern", "pattern"),
        ("minimum", "minimum"),
        ("maximum", "maximum"),
        ("exclusive_minimum", "exclusiveMinimum"),
        ("exclusive_maximum", "exclusiveMaximum"),
        ("multiple_of", "multipleOf"),
        ("format", "format"),
    ):
        value = getattr(node, attr)
        if value is not None:
            out[key] = list(value) if isinstance(value, tuple) else value
    return out


def _nullable(schema: dict[str, Any], spec: FieldSpec) -> dict[str, Any]:
    out = dict(schema)
    if spec.description:
        out["description"] = spec.description
    if spec.nullable and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def child_path(parent: str, key: str | int) -> str:
    """Extend a JSON path: `$.a`, `$.a[0]`, `$["odd key"]`."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if _IDENTIFIER.match(key):
        return f"{parent}.{key}"
    return f"{parent}[{json.dumps(key)}]"


def json_path(loc: tuple[str | int, ...]) -> str:
    path = "$"
    for part in loc:
        path = child_path(path, part)
    return path


def iter_leaf_paths(node: Node, value: Any, path: str = "$") -> Iterator[tuple[str, Node, Any]]:
    """Walk `value` along the schema and yield `(path, node, value)` for every leaf field.

    Scalars and free-form fields are leaves; lists of objects are expanded item by item. A missing or
    empty field is yielded with value None (or the empty container) so callers can count it.
    """
    if isinstance(node, ObjectNode):
        data = value if isinstance(value, dict) else {}
        for spec in node.fields:
            yield from iter_leaf_paths(spec.node, data.get(spec.name), child_path(path, spec.name))
    elif isinstance(node, ListNode) and isinstance(node.item, (ObjectNode, ListNode)):
        items = value if isinstance(value, list) else []
        if not items:
            yield path, node, items
        for index, item in enumerate(items):
            yield from iter_leaf_paths(node.item, item, child_path(path, index))
    else:
        yield path, node, value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
