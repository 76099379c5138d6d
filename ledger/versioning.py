"""How one Ledger version differs from the last: a structured diff with a compatibility class.

Every change is a `Change` at a JSON-pointer-like path (`routes/desearch-api/response_schema/properties/
search/items/properties/link`; `~` and `/` in names are escaped as `~0` and `~1`) classed as
**none** (nothing a caller relies on), **additive** (existing callers keep working) or **breaking**
(some existing caller may fail). A version's class is the worst of its changes.

Schemas are compared by meaning, from an existing caller's side. A request schema says what callers
send, a response schema what they read, so one rule covers both roles: a change that lets the schema
accept *more* values (widening) is additive for a request and breaking for a response; one that
accepts *fewer* (narrowing) is breaking for a request and additive for a response; any other change
to what is accepted is breaking. Concretely:

* type: integer → number or a type added to a type list widens; the reverse narrows; string → integer
  is breaking for both roles. Nullable (a `null` in the type list, an `anyOf`/`oneOf` branch
  `{"type": "null"}`, OpenAPI `nullable: true`) counts as a type.
* enum: a value added widens, a value removed narrows (a new value in a response is breaking).
  `const` is a one-value enum.
* bounds (minimum, maximum, exclusive*, min/maxLength, min/maxItems, min/maxProperties), `format`,
  `pattern`: tightened or added narrows, loosened or removed widens; a changed format or pattern is
  breaking.
* properties: a field that becomes optional widens, one that becomes required narrows. A removed
  response field is breaking, a new response field (optional or required) additive. A new required
  request field is breaking, a new optional one additive; a removed request field is breaking only
  when the new schema rejects extra fields (`additionalProperties: false`), additive otherwise.
* `additionalProperties`: a request that starts rejecting extra fields is breaking, one that stops
  is additive; for a response either way is additive.
* `items`, properties, map values (`additionalProperties` schemas) and resolved `$ref`s are compared
  recursively with the same role; an `items` or map-value schema that appears narrows, one that goes
  widens (one change, not one per nested keyword).
* unions (`anyOf`/`oneOf` that are not just "nullable" or a list of bare types) are compared as sets
  of branches: a branch added widens, a branch removed narrows. A one-branch `allOf` is its branch.
* a missing `type` is read from `properties`/`required` (object), `items` (array) or `enum` values.
* annotations (title, description, default, examples, deprecated, readOnly, writeOnly, `x-*`, ...)
  are listed with class none. Keywords outside this subset are listed as breaking when they change.
* a schema that becomes known (None → schema) is additive; one that is withdrawn (schema → None) is
  breaking, since callers built against it lose their contract. Identical schemas give no changes;
  key order and the order of `required`, `type`, `enum` and union branches never matter.
* local `$ref`s (`#/$defs/...`, `#/definitions/...`, any `#/...` pointer) are followed 16 levels deep
  along a path; recursive schemas are not compared past that (their shallower levels were).

Entries: a new subnet is one additive change at path "". Routes are matched by name: a removed route
is breaking, a new route additive; a changed kind, endpoint, auth or synapse is breaking; a removed or
retyped synapse field is breaking, a new one additive; request and response schemas follow the rules
above; timeout, cost, notes, probe and adapter changes are none. Removed capabilities (of the subnet or
a route) are breaking, new ones additive. A status change to deprecated is breaking, other status
changes none. Name, description, owner, links, tags and route order are none; a netuid change is
breaking, and so is a change to a field no rule classifies yet. A schema rewritten in an equivalent
form is listed with class none, so a diff is empty exactly when the content is equal.
"""

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, computed_field
from referencing.exceptions import Unresolvable

from ledger.entry import Compatibility, SubnetEntry, SubnetStatus, worst

__all__ = ["Change", "EntryDiff", "Op", "Role", "compare_schemas", "conforms", "diff_entries", "infer_schema"]

Op = Literal["added", "removed", "changed"]
Role = Literal["request", "response"]

NONE = Compatibility.NONE
ADDITIVE = Compatibility.ADDITIVE
BREAKING = Compatibility.BREAKING

MAX_REF_DEPTH = 16
MAX_SCHEMA_DEPTH = 64
MAX_VISITS = 20_000
MAX_VIOLATIONS = 20
MAX_MESSAGE_CHARS = 300


class Change(BaseModel):
    """One difference between two versions, and what it means for an existing caller."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    op: Op
    old: Any = None
    new: Any = None
    compatibility: Compatibility
    reason: str


class EntryDiff(BaseModel):
    """All changes between two versions of a subnet entry; `compatibility` is the worst of them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    changes: list[Change] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def compatibility(self) -> Compatibility:
        return worst([change.compatibility for change in self.changes])

    @property
    def is_empty(self) -> bool:
        return not self.changes


def _join(base: str, *segments: str) -> str:
    """`base/seg/...` with JSON-pointer escaping of each segment, so names with `/` stay one step."""
    escaped = [s.replace("~", "~0").replace("/", "~1") for s in segments]
    return "/".join([base, *escaped] if base else escaped)


# ------------------------------------------------------------------ schemas

_ALL_TYPES = frozenset({"array", "boolean", "integer", "number", "object", "string"})
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_CONSTRAINTS = ("format", "pattern")
_ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "example",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$schema",
        "$id",
        "$anchor",
        "discriminator",
        "xml",
        "externalDocs",
        "contentMediaType",
        "contentEncoding",
    }
)
# Folded into the normal form (`_Node`) rather than compared as keywords; `$defs` are compared where used.
_FOLDED = frozenset({"type", "nullable", "$defs", "definitions"})
_STRUCTURAL = frozenset(
    {"enum", "properties", "required", "additionalProperties", "items", *_CONSTRAINTS}
    | set(_LOWER_BOUNDS)
    | set(_UPPER_BOUNDS)
)


def _is_annotation(key: str) -> bool:
    return key in _ANNOTATIONS or key.startswith("x-")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _well_formed(key: str, value: Any) -> bool:
    """Whether a keyword has the shape the semantic rules expect; others are compared verbatim."""
    if key == "enum":
        return isinstance(value, list)
    if key == "properties":
        return isinstance(value, dict)
    if key == "required":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if key == "type":
        return isinstance(value, str) or (isinstance(value, list) and all(isinstance(t, str) for t in value))
    if key in ("additionalProperties", "items"):
        return isinstance(value, (dict, bool))
    if key in _CONSTRAINTS:
        return isinstance(value, str)
    if key in _LOWER_BOUNDS or key in _UPPER_BOUNDS:
        return _is_number(value)
    return True


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)


def _local_ref(root: Mapping[str, Any], ref: Any) -> Any:
    """The target of a local `$ref` (`#` or `#/a/b`), or None when it is not local or not found."""
    if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
        return None
    target: Any = root
    for raw in ref[2:].split("/") if ref != "#" else []:
        step = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and step in target:
            target = target[step]
        elif isinstance(target, list) and step.isdigit() and int(step) < len(target):
            target = target[int(step)]
        else:
            return None
    return target


def _as_dict(schema: Any) -> dict[str, Any] | None:
    if schema is True:
        return {}
    if schema is False:
        return {"not": {}}
    return dict(schema) if isinstance(schema, dict) else None


@dataclass(frozen=True)
class _Node:
    """A schema in normal form: refs and single-branch combinators folded, types as a set."""

    keywords: dict[str, Any]
    types: frozenset[str] | None  # non-null types; None when unconstrained
    nullable: bool
    branches: tuple[dict[str, Any], ...] | None = None  # a union that does not fold into types
    union_key: str = "anyOf"
    refs_left: int = 0
    cut: bool = False  # the $ref depth bound was reached here


def _deref(schema: Any, root: Mapping[str, Any], refs_left: int) -> tuple[dict[str, Any] | None, int, bool]:
    """Follow top-level `$ref`s and single-branch `allOf`s; sibling keywords override the target's."""
    keywords = _as_dict(schema)
    while keywords is not None:
        if "$ref" in keywords:
            target = _as_dict(_local_ref(root, keywords["$ref"]))
            if target is None:
                break
            if refs_left == 0:
                return keywords, 0, True
            refs_left -= 1
            rest = {k: v for k, v in keywords.items() if k != "$ref"}
            keywords = {**target, **rest}
        elif isinstance(keywords.get("allOf"), list) and len(keywords["allOf"]) == 1:
            branch = _as_dict(keywords["allOf"][0])
            if branch is None:
                break
            rest = {k: v for k, v in keywords.items() if k != "allOf"}
            keywords = {**branch, **rest}
        else:
            break
    return keywords, refs_left, False


def _structure(keywords: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in keywords.items() if not _is_annotation(k) and k not in ("$defs", "definitions")}


def _type_set(keywords: Mapping[str, Any]) -> tuple[frozenset[str] | None, bool] | None:
    """(non-null types, nullable), or None when `type` is malformed."""
    declared = keywords.get("type")
    if declared is None:
        types: set[str] | None = None
    elif isinstance(declared, str):
        types = {declared}
    elif isinstance(declared, list) and all(isinstance(t, str) for t in declared):
        types = set(declared)
    else:
        return None
    nullable = keywords.get("nullable") is True
    if types is None:
        # Real APIs often leave `type` out where properties or items make it obvious.
        if any(k in keywords for k in ("properties", "required", "additionalProperties")):
            types = {"object"}
        elif "items" in keywords:
            types = {"array"}
        elif isinstance(keywords.get("enum"), list):
            types = {_json_type(v) for v in keywords["enum"]}
        else:
            return None, True
    nullable = nullable or "null" in types
    return frozenset(types - {"null"}), nullable


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _normalize(schema: Any, root: Mapping[str, Any], refs_left: int) -> _Node | None:
    """The normal form of `schema`, or None when it is not a schema object (compared verbatim)."""
    keywords, refs_left, cut = _deref(schema, root, refs_left)
    if keywords is None:
        return None
    if cut:
        return _Node(keywords, None, True, refs_left=0, cut=True)
    for union_key in ("anyOf", "oneOf"):
        branches = keywords.get(union_key)
        if isinstance(branches, list) and branches:
            return _fold_union(keywords, union_key, branches, root, refs_left)
    if "const" in keywords and "enum" not in keywords:
        keywords = {**{k: v for k, v in keywords.items() if k != "const"}, "enum": [keywords["const"]]}
    typed = _type_set(keywords)
    if typed is None:
        return _Node(keywords, None, True, refs_left=refs_left)
    return _Node(keywords, typed[0], typed[1], refs_left=refs_left)


def _fold_union(
    keywords: dict[str, Any], union_key: str, branches: list[Any], root: Mapping[str, Any], refs_left: int
) -> _Node | None:
    """Fold `anyOf`/`oneOf` into nullability and a type list where it means no more than that."""
    resolved = [_deref(b, root, refs_left) for b in branches]
    if any(kw is None for kw, _, _ in resolved):
        # A malformed union stays a keyword and is compared verbatim.
        typed = _type_set(keywords)
        return _Node(keywords, typed[0] if typed else None, typed[1] if typed else True, refs_left=refs_left)
    if any(cut for _, _, cut in resolved):
        return _Node(keywords, None, True, refs_left=0, cut=True)
    kept = [(kw, left) for kw, left, _ in resolved if kw is not None and not _is_null_only(kw)]
    nullable = len(kept) < len(resolved) or keywords.get("nullable") is True
    rest = {k: v for k, v in keywords.items() if k != union_key}
    if len(kept) == 1:
        branch, left = kept[0]
        folded = _normalize({**branch, **rest}, root, left)
        if folded is None:
            return None
        return replace(folded, nullable=folded.nullable or nullable)
    if all(set(_structure(kw)) == {"type"} and _type_set(kw) is not None for kw, _ in kept):
        types: list[Any] = ["null"] if nullable else []
        for kw, _ in kept:
            types += [kw["type"]] if isinstance(kw["type"], str) else kw["type"]
        return _normalize({**rest, "type": types}, root, refs_left)
    return _Node(rest, None, nullable, tuple(kw for kw, _ in kept), union_key, refs_left)


def _is_null_only(keywords: Mapping[str, Any]) -> bool:
    return _structure(keywords) in ({"type": "null"}, {"type": ["null"]})


def _branch_form(keywords: Mapping[str, Any]) -> dict[str, Any]:
    """A union branch as compared: no annotations, `const` as enum, set-like lists in a fixed order."""
    form: dict[str, Any] = _canonical_form(_structure(keywords), 0)
    if "const" in form and "enum" not in form:
        form["enum"] = [form.pop("const")]
    typed = _type_set(form)
    if typed is not None:
        form.pop("type", None)
        form.pop("nullable", None)
        if typed[0] is not None:
            form["type"] = _type_value(typed[0])
    return form


_SUBSCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas", "$defs", "definitions"})
_SUBSCHEMAS = frozenset({"items", "additionalProperties", "not", "contains", "if", "then", "else"})
_SUBSCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_SETS = frozenset({"required", "enum", "type", "anyOf", "oneOf", "allOf"})


def _canonical_form(schema: Any, depth: int) -> Any:
    """`schema` without annotations and with set-like lists sorted, so that equal meanings compare equal."""
    if not isinstance(schema, dict) or depth > MAX_SCHEMA_DEPTH:
        return schema
    form: dict[str, Any] = {}
    for key, value in schema.items():
        if _is_annotation(key):
            continue
        if key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            value = {name: _canonical_form(sub, depth + 1) for name, sub in value.items()}
        elif key in _SUBSCHEMAS:
            value = _canonical_form(value, depth + 1)
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            value = [_canonical_form(sub, depth + 1) for sub in value]
        if key in _SETS and isinstance(value, list):
            value = sorted(value, key=_canonical)
        form[key] = value
    return form


def _folded(o: _Node, n: _Node) -> set[str]:
    """The folded keywords; a malformed `type` is not understood, so it is compared verbatim."""
    if all(_well_formed("type", node.keywords.get("type", "any")) for node in (o, n)):
        return set(_FOLDED)
    return set(_FOLDED - {"type"})


def _covers(wide: frozenset[str] | None, narrow: frozenset[str] | None) -> bool:
    """Whether every value of the `narrow` types is also of the `wide` types (integers are numbers)."""
    if wide is None:
        return True
    if narrow is None:
        narrow = _ALL_TYPES
    return all(t in wide or (t == "integer" and "number" in wide) for t in narrow)


def _type_value(types: frozenset[str] | None) -> str | list[str] | None:
    if types is None:
        return None
    ordered = sorted(types)
    return ordered[0] if len(ordered) == 1 else ordered


def _present(old: Any, new: Any, missing: Any = None) -> Op:
    if old is missing:
        return "added"
    if new is missing:
        return "removed"
    return "changed"


@dataclass
class _SchemaDiff:
    old_root: Mapping[str, Any]
    new_root: Mapping[str, Any]
    role: Role
    changes: list[Change] = field(default_factory=list)
    visits: int = 0
    same_roots: bool = field(init=False)

    def __post_init__(self) -> None:
        # With equal roots, equal subschemas (refs included) cannot differ, so they are skipped.
        self.same_roots = self.old_root == self.new_root

    def add(self, path: str, op: Op, old: Any, new: Any, compatibility: Compatibility, reason: str) -> None:
        self.changes.append(
            Change(path=path, op=op, old=old, new=new, compatibility=compatibility, reason=reason)
        )

    def variance(self, widened: bool) -> Compatibility:
        """Widening breaks readers (responses); narrowing breaks writers (requests)."""
        breaks = (self.role == "response") == widened
        return BREAKING if breaks else ADDITIVE

    def schema(self, old: Any, new: Any, path: str, old_refs: int, new_refs: int, depth: int) -> None:
        self.visits += 1
        if old == new and self.same_roots:
            return
        if depth > MAX_SCHEMA_DEPTH or self.visits > MAX_VISITS:
            if old != new:
                self.add(path, "changed", old, new, BREAKING, "schema too large to compare in detail")
            return
        o = _normalize(old, self.old_root, old_refs)
        n = _normalize(new, self.new_root, new_refs)
        if o is None or n is None:
            if old != new:
                self.add(path, "changed", old, new, BREAKING, "schema changed (not a JSON Schema object)")
            return
        if o.cut or n.cut:
            return
        if o.branches is None and n.branches is None:
            self.types(o, n, path)
            self.nullable(o, n, path)
            self.verbatim(o, n, path, self.structure(o, n, path, depth) | _folded(o, n))
            return
        self.union(o, n, path)
        self.nullable(o, n, path)
        if o.branches is not None and n.branches is not None:
            self.verbatim(o, n, path, _folded(o, n))
        else:
            # The plain side's keywords were compared as its single branch; only annotations remain.
            plain = o if o.branches is None else n
            self.verbatim(o, n, path, {k for k in plain.keywords if not _is_annotation(k)} | _folded(o, n))

    def structure(self, o: _Node, n: _Node, path: str, depth: int) -> set[str]:
        """Compare the keywords the rules understand; returns those it handled."""
        handled = {
            k
            for k in _STRUCTURAL
            if all(k not in node.keywords or _well_formed(k, node.keywords[k]) for node in (o, n))
        }
        if not {"properties", "required"} <= handled:
            handled -= {"properties", "required"}
        self.enum(o, n, path, handled)
        self.constraints(o, n, path, handled)
        self.bounds(o, n, path, handled)
        self.properties(o, n, path, handled, depth)
        self.additional(o, n, path, handled, depth)
        if "items" in handled:
            self.subschema("items", o, n, path, depth)
        return handled

    def subschema(self, keyword: str, o: _Node, n: _Node, path: str, depth: int) -> None:
        """Compare `items` or `additionalProperties`; one that appears or goes is one change, not a tree."""
        old, new = o.keywords.get(keyword, True), n.keywords.get(keyword, True)
        old_any, new_any = old is True or old == {}, new is True or new == {}
        if old_any and new_any:
            return
        if old_any or new_any:
            op: Op = "added" if old_any else "removed"
            what = "item schema" if keyword == "items" else "schema of extra fields"
            self.add(
                _join(path, keyword),
                op,
                None if old_any else old,
                None if new_any else new,
                self.variance(widened=new_any),
                f"{self.role} {what} {op}",
            )
            return
        self.schema(old, new, _join(path, keyword), o.refs_left, n.refs_left, depth + 1)

    def union(self, o: _Node, n: _Node, path: str) -> None:
        def keyed(node: _Node) -> dict[str, dict[str, Any]]:
            branches = node.branches if node.branches is not None else (node.keywords,)
            return {_canonical(_branch_form(b)): b for b in branches}

        old_branches, new_branches = keyed(o), keyed(n)
        key = _join(path, n.union_key if n.branches is not None else o.union_key)
        for k in sorted(old_branches.keys() - new_branches.keys()):
            self.add(
                key, "removed", old_branches[k], None, self.variance(False), f"{self.role} variant removed"
            )
        for k in sorted(new_branches.keys() - old_branches.keys()):
            self.add(key, "added", None, new_branches[k], self.variance(True), f"{self.role} variant added")

    def types(self, o: _Node, n: _Node, path: str) -> None:
        widened, narrowed = _covers(n.types, o.types), _covers(o.types, n.types)
        if widened and narrowed:
            return
        old, new = _type_value(o.types), _type_value(n.types)
        compatibility = self.variance(widened) if widened or narrowed else BREAKING
        how = "widened" if widened else "narrowed" if narrowed else "changed"
        self.add(
            _join(path, "type"),
            _present(old, new),
            old,
            new,
            compatibility,
            f"{self.role} type {how} ({old or 'any'} -> {new or 'any'})",
        )

    def nullable(self, o: _Node, n: _Node, path: str) -> None:
        if o.nullable != n.nullable:
            what = "may now be null" if n.nullable else "is no longer nullable"
            self.add(
                _join(path, "nullable"),
                "changed",
                o.nullable,
                n.nullable,
                self.variance(n.nullable),
                f"{self.role} value {what}",
            )

    def enum(self, o: _Node, n: _Node, path: str, semantic: set[str]) -> None:
        if "enum" not in semantic:
            return
        old, new = o.keywords.get("enum"), n.keywords.get("enum")
        key = _join(path, "enum")
        if old is None and new is None:
            return
        if old is None or new is None:
            restricted = old is None
            what = "now restricted to an enum" if restricted else "no longer restricted to an enum"
            self.add(key, _present(old, new), old, new, self.variance(not restricted), f"{self.role} {what}")
            return
        old_values = {_canonical(v): v for v in old}
        new_values = {_canonical(v): v for v in new}
        for k in sorted(old_values.keys() - new_values.keys()):
            self.add(
                key, "removed", old_values[k], None, self.variance(False), f"{self.role} enum value removed"
            )
        for k in sorted(new_values.keys() - old_values.keys()):
            self.add(key, "added", None, new_values[k], self.variance(True), f"{self.role} enum value added")

    def constraints(self, o: _Node, n: _Node, path: str, semantic: set[str]) -> None:
        for keyword in _CONSTRAINTS:
            old, new = o.keywords.get(keyword), n.keywords.get(keyword)
            if keyword not in semantic or old == new:
                continue
            op = _present(old, new)
            compatibility = BREAKING if op == "changed" else self.variance(op == "removed")
            self.add(_join(path, keyword), op, old, new, compatibility, f"{self.role} {keyword} {op}")

    def bounds(self, o: _Node, n: _Node, path: str, semantic: set[str]) -> None:
        for keyword in (*_LOWER_BOUNDS, *_UPPER_BOUNDS):
            old, new = o.keywords.get(keyword), n.keywords.get(keyword)
            if keyword not in semantic or old == new:
                continue
            if old is None or new is None:
                loosened = new is None
            else:
                loosened = new < old if keyword in _LOWER_BOUNDS else new > old
            how = "loosened" if loosened else "tightened"
            self.add(
                _join(path, keyword),
                _present(old, new),
                old,
                new,
                self.variance(loosened),
                f"{self.role} {keyword} {how}",
            )

    def properties(self, o: _Node, n: _Node, path: str, semantic: set[str], depth: int) -> None:
        if not {"properties", "required"} <= semantic:
            return
        old_props: dict[str, Any] = o.keywords.get("properties", {})
        new_props: dict[str, Any] = n.keywords.get("properties", {})
        old_required = set(o.keywords.get("required", []))
        new_required = set(n.keywords.get("required", []))
        extras_rejected = n.keywords.get("additionalProperties") is False
        for name in sorted(old_props.keys() | new_props.keys() | old_required | new_required):
            prop = _join(path, "properties", name)
            if name in old_props and name not in new_props:
                if self.role == "response":
                    compatibility, reason = BREAKING, "response field removed"
                elif extras_rejected:
                    compatibility, reason = BREAKING, "request field removed and extra fields are rejected"
                else:
                    compatibility, reason = ADDITIVE, "request field removed (extra fields still accepted)"
                self.add(prop, "removed", old_props[name], None, compatibility, reason)
                continue
            if name in new_props and name not in old_props:
                if self.role == "response":
                    compatibility, reason = ADDITIVE, "response field added"
                elif name in new_required:
                    compatibility, reason = BREAKING, "new required request field"
                else:
                    compatibility, reason = ADDITIVE, "new optional request field"
                self.add(prop, "added", None, new_props[name], compatibility, reason)
                continue
            was, now = name in old_required, name in new_required
            if was != now:
                what = "now required" if now else "no longer required"
                self.add(
                    _join(prop, "required"),
                    "changed",
                    was,
                    now,
                    self.variance(widened=was),
                    f"{self.role} field {what}",
                )
            if name in old_props:
                self.schema(old_props[name], new_props[name], prop, o.refs_left, n.refs_left, depth + 1)

    def additional(self, o: _Node, n: _Node, path: str, semantic: set[str], depth: int) -> None:
        if "additionalProperties" not in semantic:
            return
        old = o.keywords.get("additionalProperties", True)
        new = n.keywords.get("additionalProperties", True)
        key = _join(path, "additionalProperties")
        if old is False or new is False:
            if old is new:
                return
            rejected = new is False
            if self.role == "request":
                what = "now rejects extra fields" if rejected else "now accepts extra fields"
                self.add(key, "changed", old, new, BREAKING if rejected else ADDITIVE, f"request {what}")
            else:
                what = "no longer carries extra fields" if rejected else "may now carry extra fields"
                self.add(key, "changed", old, new, ADDITIVE, f"response {what}")
            return
        self.subschema("additionalProperties", o, n, path, depth)

    def verbatim(self, o: _Node, n: _Node, path: str, handled: set[str]) -> None:
        """Keywords outside the compared subset and annotations: listed whenever they differ."""
        missing = object()
        for keyword in sorted(o.keywords.keys() | n.keywords.keys()):
            if keyword in handled or keyword in ("$defs", "definitions"):
                continue
            old, new = o.keywords.get(keyword, missing), n.keywords.get(keyword, missing)
            if old == new:
                continue
            op = _present(old, new, missing)
            old_value, new_value = (None if v is missing else v for v in (old, new))
            if _is_annotation(keyword):
                self.add(_join(path, keyword), op, old_value, new_value, NONE, f"{keyword} {op}")
            else:
                reason = f"'{keyword}' {op} (not compared in detail)"
                self.add(_join(path, keyword), op, old_value, new_value, BREAKING, reason)


def compare_schemas(
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    *,
    role: Role,
    base_path: str = "",
) -> list[Change]:
    """The semantic changes from `old` to `new`, classed for existing callers (see module docstring).

    None means "schema unknown": None → schema is additive, schema → None breaking, None → None no
    change. Equivalent schemas (same meaning, other spelling or key order) give [].
    """
    if old is None and new is None:
        return []
    if old is None:
        return [
            Change(
                path=base_path, op="added", new=new, compatibility=ADDITIVE, reason=f"{role} schema now known"
            )
        ]
    if new is None:
        return [
            Change(
                path=base_path,
                op="removed",
                old=old,
                compatibility=BREAKING,
                reason=f"{role} schema withdrawn",
            )
        ]
    diff = _SchemaDiff(old, new, role)
    diff.schema(old, new, base_path, MAX_REF_DEPTH, MAX_REF_DEPTH, 0)
    return diff.changes


# ------------------------------------------------------------------ entries


def _value(path: str, old: Any, new: Any, compatibility: Compatibility, what: str) -> list[Change]:
    """One change when a value differs as a whole."""
    if old == new:
        return []
    op = _present(old, new)
    return [Change(path=path, op=op, old=old, new=new, compatibility=compatibility, reason=f"{what} {op}")]


def _members(
    path: str, old: Iterable[str], new: Iterable[str], removed: Compatibility, added: Compatibility, what: str
) -> list[Change]:
    """Changes of a set of names: one per name that went or came."""
    old_set, new_set = set(old), set(new)
    gone = [
        Change(path=path, op="removed", old=m, compatibility=removed, reason=f"{what} removed")
        for m in sorted(old_set - new_set)
    ]
    came = [
        Change(path=path, op="added", new=m, compatibility=added, reason=f"{what} added")
        for m in sorted(new_set - old_set)
    ]
    return gone + came


def _fields(
    path: str,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    *,
    removed: Compatibility,
    changed: Compatibility,
    added: Compatibility,
    what: str,
) -> list[Change]:
    """Per-key changes of a name -> value mapping (links, synapse fields); None reads as empty."""
    old_map, new_map = old or {}, new or {}
    changes: list[Change] = []
    for key in sorted(old_map.keys() | new_map.keys()):
        at, op = _join(path, key), _present(old_map.get(key), new_map.get(key))
        compatibility = {"removed": removed, "changed": changed, "added": added}[op]
        changes += _value(at, old_map.get(key), new_map.get(key), compatibility, what)
    if not changes and old != new:
        changes += _value(path, old, new, NONE, what + "s")  # None and {} say the same
    return changes


def _schema(path: str, old: dict[str, Any] | None, new: dict[str, Any] | None, role: Role) -> list[Change]:
    changes = compare_schemas(old, new, role=role, base_path=path)
    if not changes and old != new:
        # Nothing a caller can tell apart, but the stored text differs: still a (silent) new version.
        return [
            Change(
                path=path,
                op="changed",
                old=old,
                new=new,
                compatibility=NONE,
                reason=f"{role} schema rewritten, same meaning",
            )
        ]
    return changes


_Rule = Callable[[str, Any, Any], list[Change]]


def _fixed(compatibility: Compatibility, what: str) -> _Rule:
    return lambda path, old, new: _value(path, old, new, compatibility, what)


_ROUTE_RULES: dict[str, _Rule] = {
    "name": lambda path, old, new: [],  # routes are matched by name
    "kind": _fixed(BREAKING, "route kind"),
    "endpoint": _fixed(BREAKING, "endpoint"),
    "auth": _fixed(BREAKING, "auth"),
    "capabilities": lambda path, old, new: _members(path, old, new, BREAKING, ADDITIVE, "route capability"),
    "adapter": _fixed(NONE, "adapter"),
    "synapse": _fixed(BREAKING, "synapse"),
    "synapse_fields": lambda path, old, new: _fields(
        path, old, new, removed=BREAKING, changed=BREAKING, added=ADDITIVE, what="synapse field"
    ),
    "request_schema": lambda path, old, new: _schema(path, old, new, "request"),
    "response_schema": lambda path, old, new: _schema(path, old, new, "response"),
    "timeout_s": _fixed(NONE, "timeout"),
    "cost_per_call": _fixed(NONE, "cost"),
    "probe": _fixed(NONE, "probe recipe"),
    "notes": _fixed(NONE, "notes"),
}


def _by_rules(
    rules: Mapping[str, _Rule], path: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> list[Change]:
    changes: list[Change] = []
    for key in dict.fromkeys([*old, *new]):
        # A field nobody has classified yet is assumed to matter to callers until someone says not.
        rule = rules.get(key, _fixed(BREAKING, key))
        changes += rule(_join(path, key), old.get(key), new.get(key))
    return changes


def _routes(path: str, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[Change]:
    old_by_name = {r["name"]: r for r in old}
    new_by_name = {r["name"]: r for r in new}
    changes: list[Change] = []
    for route in old:
        at = _join(path, route["name"])
        if route["name"] in new_by_name:
            changes += _by_rules(_ROUTE_RULES, at, route, new_by_name[route["name"]])
        else:
            changes.append(
                Change(path=at, op="removed", old=route, compatibility=BREAKING, reason="route removed")
            )
    for route in new:
        if route["name"] not in old_by_name:
            at = _join(path, route["name"])
            changes.append(
                Change(path=at, op="added", new=route, compatibility=ADDITIVE, reason="route added")
            )
    old_order = [r["name"] for r in old if r["name"] in new_by_name]
    new_order = [r["name"] for r in new if r["name"] in old_by_name]
    changes += _value(path, old_order, new_order, NONE, "route order")
    return changes


def _status(path: str, old: str, new: str) -> list[Change]:
    if new == SubnetStatus.DEPRECATED.value and old != new:
        return [
            Change(
                path=path, op="changed", old=old, new=new, compatibility=BREAKING, reason="subnet deprecated"
            )
        ]
    return _value(path, old, new, NONE, "status")


_ENTRY_RULES: dict[str, _Rule] = {
    "netuid": _fixed(BREAKING, "netuid"),
    "name": _fixed(NONE, "name"),
    "description": _fixed(NONE, "description"),
    "owner": _fixed(NONE, "owner"),
    "links": lambda path, old, new: _fields(
        path, old, new, removed=NONE, changed=NONE, added=NONE, what="link"
    ),
    "tags": lambda path, old, new: _members(path, old, new, NONE, NONE, "tag"),
    "capabilities": lambda path, old, new: _members(path, old, new, BREAKING, ADDITIVE, "capability"),
    "routes": _routes,
    "status": _status,
}


def diff_entries(old: SubnetEntry | None, new: SubnetEntry) -> EntryDiff:
    """Every change from `old` to `new` in the versioned content (provenance and verification aside)."""
    if old is None:
        added = Change(path="", op="added", new=new.content(), compatibility=ADDITIVE, reason="new subnet")
        return EntryDiff(changes=[added])
    return EntryDiff(changes=_by_rules(_ENTRY_RULES, "", old.content(), new.content()))


# ------------------------------------------------------------------ samples


def infer_schema(sample: object, *, max_depth: int = 12) -> dict[str, Any]:
    """A JSON Schema that `sample` (a decoded JSON value, e.g. what a probe saw) satisfies.

    Object keys with non-null values are required; a list's items are the merge of its elements'
    schemas. Values nested more than `max_depth` levels below the root are described by {} (any).
    """
    return _infer(sample, 0, max_depth)


def _infer(value: object, depth: int, max_depth: int) -> dict[str, Any]:
    if depth > max_depth:
        return {}
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, (list, tuple)):
        schema: dict[str, Any] = {"type": "array"}
        items: dict[str, Any] | None = None
        for element in value:
            inferred = _infer(element, depth + 1, max_depth)
            items = inferred if items is None else _merge(items, inferred)
        if items is not None:
            schema["items"] = items
        return schema
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("not a JSON value: object keys must be strings")
        return {
            "type": "object",
            "properties": {k: _infer(v, depth + 1, max_depth) for k, v in value.items()},
            "required": sorted(k for k, v in value.items() if v is not None),
        }
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The narrowest inferred schema that both `a`'s and `b`'s instances satisfy."""
    if a == b:
        return a
    if not a or not b:
        return {}
    types = _inferred_types(a) | _inferred_types(b)
    if "number" in types:
        types.discard("integer")
    merged: dict[str, Any] = {"type": sorted(types)[0] if len(types) == 1 else sorted(types)}
    objects = [s for s in (a, b) if "object" in _inferred_types(s)]
    if len(objects) == 2:
        props_a, props_b = a["properties"], b["properties"]
        merged["properties"] = {
            k: _merge(props_a[k], props_b[k])
            if k in props_a and k in props_b
            else props_a.get(k, props_b.get(k))
            for k in sorted(props_a.keys() | props_b.keys())
        }
        merged["required"] = sorted(set(a["required"]) & set(b["required"]))
    elif objects:
        merged["properties"], merged["required"] = objects[0]["properties"], objects[0]["required"]
    # An empty list says nothing about items, so the other side's items stand alone.
    item_schemas = [s["items"] for s in (a, b) if "items" in s]
    if item_schemas:
        merged["items"] = item_schemas[0] if len(item_schemas) == 1 else _merge(*item_schemas)
    return merged


def _inferred_types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema["type"]
    return {declared} if isinstance(declared, str) else set(declared)


def conforms(instance: object, schema: dict[str, Any]) -> list[str]:
    """Why `instance` does not satisfy `schema` (JSON Schema 2020-12), as "path: message"; [] if it does.

    At most 20 violations are listed. `format` is not asserted: which formats get checked would
    depend on optional packages. A schema that is itself invalid gives one violation at `schema`.
    """
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return [f"schema: not a valid JSON Schema ({_short(exc.message)})"]
    validator = Draft202012Validator(schema)
    try:
        errors = list(islice(validator.iter_errors(instance), MAX_VIOLATIONS))
    except Unresolvable as exc:
        return [f"schema: unresolvable reference ({_short(str(exc))})"]
    except RecursionError:
        # Probes read untrusted bodies; a recursive schema walks as deep as the body nests.
        return ["$: nested too deeply to check"]
    return [
        f"{e.json_path}: {_short(e.message)}" for e in sorted(errors, key=lambda e: (e.json_path, e.message))
    ]


def _short(message: str) -> str:
    # Messages quote the offending value, which can be a whole response body.
    return message if len(message) <= MAX_MESSAGE_CHARS else message[: MAX_MESSAGE_CHARS - 3] + "..."
