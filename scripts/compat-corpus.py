#!/usr/bin/env python3
"""Regenerates tests/compat/corpus.json: reader/writer schema pairs with the verdict of Apache
Avro's own checker (the PyPI `avro` package's ReaderWriterCompatibilityChecker, a port of Java's
SchemaCompatibility, which is what Confluent runs).

    pip install avro==1.12.*
    python3 scripts/compat-corpus.py            # rewrites tests/compat/corpus.json
    python3 scripts/compat-corpus.py --check    # exits 1 if the file is out of date

Every case is defined below. The Python port differs from Java in a few places (listed in
JAVA_DIFFERENCES); there a case declares Java's verdict, which becomes `compatible`, and the
file also records what Python said (`python_compatible`) and why they differ (`note`). A case
whose schemas one parser rejects and the other accepts is kept in the file with `excluded` set
to the reason, so the Rust test can confirm the disagreement instead of skipping it silently.
"""

import argparse
import json
import pathlib
import sys

import warnings

import avro
import avro.errors
import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "compat" / "corpus.json"

JAVA_DIFFERENCES = {
    "alias-qualified": (
        "Java qualifies a named type's aliases with the type's namespace before comparing them "
        "to the writer's full name; Python compares the raw alias strings."
    ),
    "field-multi-match": (
        "Java's lookupWriterField throws when a reader field matches more than one writer field "
        "(by name and aliases, even the same field twice); Confluent reports that as an "
        "incompatibility. Python takes the first match."
    ),
}

PRIMITIVES = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
# What Avro's spec lets a reader of the key type read.
PROMOTIONS = {
    "long": {"int"},
    "float": {"int", "long"},
    "double": {"int", "long", "float"},
    "bytes": {"string"},
    "string": {"bytes"},
}

_NO_DEFAULT = object()


def field(name, type_, default=_NO_DEFAULT, aliases=None, **extra):
    f = {"name": name, "type": type_}
    if default is not _NO_DEFAULT:
        f["default"] = default
    if aliases is not None:
        f["aliases"] = aliases
    f.update(extra)
    return f


def record(name, fields, namespace=None, aliases=None):
    r = {"type": "record", "name": name}
    if namespace is not None:
        r["namespace"] = namespace
    if aliases is not None:
        r["aliases"] = aliases
    r["fields"] = fields
    return r


def enum(name, symbols, default=None, namespace=None, aliases=None):
    e = {"type": "enum", "name": name}
    if namespace is not None:
        e["namespace"] = namespace
    if aliases is not None:
        e["aliases"] = aliases
    e["symbols"] = symbols
    if default is not None:
        e["default"] = default
    return e


def fixed(name, size, namespace=None, aliases=None, **extra):
    f = {"type": "fixed", "name": name, "size": size}
    if namespace is not None:
        f["namespace"] = namespace
    if aliases is not None:
        f["aliases"] = aliases
    f.update(extra)
    return f


def array(items):
    return {"type": "array", "items": items}


def map_(values):
    return {"type": "map", "values": values}


def logical(type_, name, **extra):
    return {"type": type_, "logicalType": name, **extra}


def wrap(type_, name="R", namespace="test"):
    """A one-field record around `type_`, the usual shape of a registered schema."""
    return record(name, [field("f", type_)], namespace=namespace)


CASES = []


def case(name, reader, writer, java=None, difference=None, note=None, rust_rejects=None):
    """`java`/`difference`: Java's verdict where Python's differs, and which difference it is.
    `rust_rejects`: why apache_avro refuses one of the schemas (the Rust test checks it still
    does). `note`: anything else a reader of the corpus should know."""
    CASES.append(
        {"name": name, "reader": reader, "writer": writer, "java": java,
         "difference": difference, "note": note, "rust_rejects": rust_rejects}
    )


def both(name, a, b, **kw):
    """`a` reads `b`, and `b` reads `a`."""
    case(f"{name}/new-reads-old", a, b, **kw)
    case(f"{name}/old-reads-new", b, a, **kw)


def define_cases():
    # --- every primitive against every primitive: identities, promotions, mismatches
    for r in PRIMITIVES:
        for w in PRIMITIVES:
            case(f"primitive/{r}<-{w}", r, w)
    for r in ["long", "double", "string"]:
        case(f"primitive-in-record/{r}<-int", wrap(r), wrap("int"))

    # --- records: fields
    base = record("User", [field("id", "long"), field("name", "string")], namespace="com.acme")
    case("record/identical", base, base)
    plus_default = record(
        "User",
        [field("id", "long"), field("name", "string"), field("email", "string", "")],
        namespace="com.acme",
    )
    both("record/add-field-with-default", plus_default, base)
    plus_required = record(
        "User",
        [field("id", "long"), field("name", "string"), field("email", "string")],
        namespace="com.acme",
    )
    both("record/add-field-without-default", plus_required, base)
    reordered = record("User", [field("name", "string"), field("id", "long")], namespace="com.acme")
    both("record/field-order-irrelevant", reordered, base)
    promoted = record("User", [field("id", "double"), field("name", "string")], namespace="com.acme")
    both("record/field-promotion", promoted, base)
    to_bytes = record("User", [field("id", "long"), field("name", "bytes")], namespace="com.acme")
    both("record/field-string-bytes", to_bytes, base)
    retyped = record("User", [field("id", "string"), field("name", "string")], namespace="com.acme")
    both("record/field-type-change", retyped, base)
    empty = record("User", [], namespace="com.acme")
    both("record/empty", empty, base)
    renamed = record("Person", [field("id", "long"), field("name", "string")], namespace="com.acme")
    both("record/renamed", renamed, base)
    other_ns = record("User", [field("id", "long"), field("name", "string")], namespace="org.other")
    both("record/same-name-other-namespace", other_ns, base)
    no_ns = record("User", [field("id", "long"), field("name", "string")])
    both("record/same-name-no-namespace", no_ns, base)
    dotted = {"type": "record", "name": "com.acme.User",
              "fields": [field("id", "long"), field("name", "string")]}
    both("record/dotted-name-equals-namespace", dotted, base)
    for default, label in [(None, "null"), (0, "int"), ("x", "string")]:
        t = ["null", "string"] if default is None else ("int" if label == "int" else "string")
        r = record("R", [field("a", "int"), field("b", t, default)])
        case(f"record/missing-field-default-{label}", r, record("R", [field("a", "int")]))
    case(
        "record/missing-field-defaults-complex",
        record("R", [
            field("a", "int"),
            field("arr", array("int"), []),
            field("m", map_("string"), {}),
            field("sub", record("Sub", [field("x", "int")]), {"x": 1}),
            field("e", enum("E", ["A", "B"]), "A"),
            field("fx", fixed("F", 2), "ab"),
        ]),
        record("R", [field("a", "int")]),
    )
    case("record/writer-extra-fields",
         record("R", [field("a", "int")]),
         record("R", [field("a", "int"), field("b", "string"), field("c", array("long"))]))
    case("record/two-missing-defaults",
         record("R", [field("a", "int"), field("b", "int"), field("c", "string")]),
         record("R", [field("a", "int")]))
    case("record/missing-and-mismatch",
         record("R", [field("a", "string"), field("b", "int")]),
         record("R", [field("a", "int")]))
    case("record/vs-map", record("R", [field("a", "int")]), map_("int"))
    case("record/vs-string", record("R", [field("a", "int")]), "string")

    # --- record and field aliases
    old = record("Old", [field("a", "int")], namespace="ns")
    case("alias/record-alias-full-name",
         record("New", [field("a", "int")], namespace="ns", aliases=["ns.Old"]), old)
    case("alias/record-alias-other-namespace-full-name",
         record("New", [field("a", "int")], namespace="other", aliases=["ns.Old"]), old)
    case("alias/record-alias-wrong-namespace",
         record("New", [field("a", "int")], namespace="other", aliases=["other.Old"]), old)
    case("alias/record-alias-relative", record("New", [field("a", "int")], namespace="ns",
                                               aliases=["Old"]), old,
         java=True, difference="alias-qualified")
    case("alias/record-alias-relative-writer-no-namespace",
         record("New", [field("a", "int")], namespace="ns", aliases=["Old"]),
         record("Old", [field("a", "int")]),
         java=False, difference="alias-qualified")
    case("alias/record-alias-no-namespaces",
         record("New", [field("a", "int")], aliases=["Old"]), record("Old", [field("a", "int")]))
    case("alias/writer-alias-does-not-count",
         record("New", [field("a", "int")], namespace="ns"),
         record("Old", [field("a", "int")], namespace="ns", aliases=["ns.New"]))
    case("alias/enum-alias",
         enum("Color", ["R", "G"], aliases=["x.Colour"], namespace="x"),
         enum("Colour", ["R", "G"], namespace="x"))
    case("alias/fixed-alias",
         fixed("Hash", 16, aliases=["Md5"]), fixed("Md5", 16))
    case("alias/fixed-alias-size-differs",
         fixed("Hash", 16, aliases=["Md5"]), fixed("Md5", 8))
    renamed_field = record("R", [field("full_name", "string", aliases=["name"])])
    name_field = record("R", [field("name", "string")])
    case("alias/field-alias", renamed_field, name_field)
    case("alias/field-alias-reverse", name_field, renamed_field)
    case("alias/field-alias-promotion",
         record("R", [field("n", "long", aliases=["m"])]), record("R", [field("m", "int")]))
    case("alias/field-alias-mismatch",
         record("R", [field("n", "int", aliases=["m"])]), record("R", [field("m", "string")]))
    case("alias/field-writer-alias-does-not-count",
         record("R", [field("n", "int")]), record("R", [field("m", "int", aliases=["n"])]))
    case("alias/field-alias-several-one-match",
         record("R", [field("n", "int", aliases=["x", "m", "y"])]), record("R", [field("m", "int")]))
    case("alias/field-alias-and-default",
         record("R", [field("n", "int", 0, aliases=["m"])]), record("R", [field("z", "int")]))
    case("alias/field-matches-name-and-alias",
         record("R", [field("a", "int", aliases=["b"])]),
         record("R", [field("a", "int"), field("b", "int")]),
         java=False, difference="field-multi-match")
    case("alias/field-alias-is-own-name",
         record("R", [field("a", "int", aliases=["a"])]), record("R", [field("a", "int")]),
         java=False, difference="field-multi-match")
    case("alias/field-two-aliases-match",
         record("R", [field("n", "int", aliases=["a", "b"])]),
         record("R", [field("a", "int"), field("b", "int")]),
         java=False, difference="field-multi-match")

    # --- enums
    abc = enum("E", ["A", "B", "C"])
    ab = enum("E", ["A", "B"])
    both("enum/added-symbol", abc, ab)
    case("enum/identical", abc, abc)
    case("enum/reordered", enum("E", ["C", "B", "A"]), abc)
    case("enum/reader-default-covers", enum("E", ["A", "B"], default="A"), abc)
    case("enum/reader-default-unused", enum("E", ["A", "B", "C"], default="A"), ab)
    case("enum/writer-default-does-not-help", ab, enum("E", ["A", "B", "C"], default="A"))
    case("enum/renamed", enum("F", ["A", "B"]), ab)
    case("enum/renamed-and-missing", enum("F", ["A"]), ab)
    case("enum/other-namespace", enum("E", ["A", "B"], namespace="x"), enum("E", ["A", "B"], namespace="y"))
    case("enum/vs-string", ab, "string")
    case("enum/string-vs-enum", "string", ab)
    case("enum/in-record-missing-symbol", wrap(ab), wrap(abc))
    case("enum/in-record-default-covers", wrap(enum("E", ["A", "B"], default="B")), wrap(abc))
    case("enum/field-missing-enum-default-no-field-default",
         record("R", [field("a", "int"), field("e", enum("E", ["A", "B"], default="A"))]),
         record("R", [field("a", "int")]))
    case("enum/field-missing-enum-default-and-field-default",
         record("R", [field("a", "int"), field("e", enum("E", ["A", "B"], default="A"), "B")]),
         record("R", [field("a", "int")]))

    # --- fixed
    f16 = fixed("F", 16)
    case("fixed/identical", f16, f16)
    both("fixed/size", f16, fixed("F", 8))
    case("fixed/renamed", fixed("G", 16), f16)
    case("fixed/renamed-and-size", fixed("G", 4), f16)
    case("fixed/other-namespace", fixed("F", 16, namespace="a"), fixed("F", 16, namespace="b"))
    both("fixed/vs-bytes", f16, "bytes")
    case("fixed/vs-string", f16, "string")
    case("fixed/vs-enum", f16, ab)

    # --- arrays and maps
    both("array/item-promotion", array("long"), array("int"))
    both("array/item-mismatch", array("string"), array("int"))
    both("array/nested", array(array("double")), array(array("float")))
    case("array/of-records-added-default",
         array(record("I", [field("a", "int"), field("b", "int", 0)])),
         array(record("I", [field("a", "int")])))
    case("array/of-records-added-required",
         array(record("I", [field("a", "int"), field("b", "int")])),
         array(record("I", [field("a", "int")])))
    both("array/vs-map", array("int"), map_("int"))
    case("array/vs-int", array("int"), "int")
    both("map/value-promotion", map_("double"), map_("long"))
    both("map/value-mismatch", map_("boolean"), map_("int"))
    both("map/of-arrays", map_(array("string")), map_(array("bytes")))
    case("map/of-unions",
         map_(["null", "int", "string"]), map_(["null", "int"]))
    case("map/of-unions-missing",
         map_(["null", "int"]), map_(["null", "int", "string"]))

    # --- unions
    both("union/superset", ["null", "int", "string"], ["null", "int"])
    both("union/reordered", ["string", "null"], ["null", "string"])
    both("union/optional-vs-plain", ["null", "string"], "string")
    both("union/promotion-inside", ["null", "long"], ["null", "int"])
    both("union/reader-branch-promotes", ["null", "long"], "int")
    case("union/reader-first-branch-fails-second-ok", ["boolean", "double"], "float")
    case("union/no-branch-reads", ["null", "boolean"], "int")
    case("union/plain-reader-all-branches-ok", "double", ["int", "long", "float"])
    case("union/plain-reader-some-branch-fails", "double", ["int", "string"])
    case("union/single-branch", ["int"], "int")
    case("union/single-branch-writer", "int", ["int"])
    case("union/disjoint", ["int", "string"], ["boolean", "bytes"])
    case("union/string-bytes-cross", ["null", "string"], ["null", "bytes"])
    rec_a = record("A", [field("x", "int")])
    rec_b = record("B", [field("y", "int")])
    both("union/records-superset", ["null", rec_a, rec_b], ["null", record("A", [field("x", "int")])])
    case("union/record-branch-needs-default",
         ["null", record("A", [field("x", "int"), field("z", "int")])],
         ["null", record("A", [field("x", "int")])])
    case("union/record-branch-by-name",
         [record("B", [field("x", "int")]), record("A", [field("x", "long")])],
         record("A", [field("x", "int")]))
    case("union/enum-branch-missing-symbol", ["null", ab], ["null", abc])
    case("union/enum-branch-default", ["null", enum("E", ["A", "B"], default="A")], ["null", abc])
    case("union/array-branches", ["null", array("long")], ["null", array("int")])
    case("union/array-branches-mismatch", ["null", array("int")], ["null", array("long")])
    case("union/map-vs-array-branch", ["null", map_("int")], ["null", array("int")])
    case("union/fixed-branches", ["null", fixed("F", 4)], ["null", fixed("F", 4), "string"])
    case("union/in-record-field-widened",
         record("R", [field("v", ["null", "int", "string"], None)]),
         record("R", [field("v", ["null", "int"], None)]))
    case("union/in-record-field-narrowed",
         record("R", [field("v", ["null", "int"], None)]),
         record("R", [field("v", ["null", "int", "string"], None)]))
    case("union/made-optional-in-record",
         record("R", [field("v", ["null", "string"], None)]), record("R", [field("v", "string")]))
    case("union/made-required-in-record",
         record("R", [field("v", "string")]), record("R", [field("v", ["null", "string"], None)]))

    # --- recursion
    def linked(extra=(), name="Node", ns=None):
        return record(name, [field("value", "int"), field("next", ["null", name], None), *extra],
                      namespace=ns)

    case("recursive/identical", linked(), linked())
    both("recursive/add-field-with-default", linked([field("w", "long", 0)]), linked())
    case("recursive/add-field-without-default", linked([field("w", "long")]), linked())
    case("recursive/promotion",
         record("Node", [field("value", "long"), field("next", ["null", "Node"], None)]), linked())
    case("recursive/mismatch",
         record("Node", [field("value", "string"), field("next", ["null", "Node"], None)]),
         linked())
    case("recursive/renamed", linked(name="Link"), linked())
    case("recursive/namespaced", linked(ns="a.b"), linked(ns="c.d"))
    tree = record("Tree", [field("label", "string"), field("children", array("Tree"), [])])
    tree2 = record("Tree", [field("label", "string"), field("children", array("Tree"), []),
                            field("weight", "double", 1.0)])
    both("recursive/tree", tree2, tree)
    tree_map = record("Tree", [field("label", "string"), field("children", map_("Tree"))])
    case("recursive/map-tree", tree_map, tree_map)
    case("recursive/map-vs-array-tree", tree_map, tree)

    def mutual(extra=()):
        return record("A", [
            field("b", ["null", record("B", [field("a", ["null", "A"], None), *extra])], None),
        ])

    both("recursive/mutual-add-default", mutual([field("n", "int", 0)]), mutual())
    case("recursive/mutual-add-required", mutual([field("n", "int")]), mutual())
    case("recursive/mutual-identical", mutual(), mutual())
    case("recursive/self-reference-reused",
         record("P", [field("left", ["null", "P"], None), field("right", ["null", "P"], None),
                      field("v", "int")]),
         record("P", [field("left", ["null", "P"], None), field("right", ["null", "P"], None),
                      field("v", "int")]))
    case("recursive/optional-at-root",
         ["null", linked([field("w", "long")])], linked())
    case("recursive/optional-at-root-ok",
         ["null", linked([field("w", "long", 0)])], linked())
    case("recursive/writer-optional-at-root", linked(), ["null", linked()])
    case("recursive/union-of-two-recursive",
         ["null", linked(), tree], [linked([field("w", "long", 0)]), tree2])
    case("recursive/nested-mismatch-through-union",
         record("Node", [field("next", ["null", "Node"], None),
                         field("kids", array(record("Kid", [field("up", ["null", "Node"], None),
                                                             field("n", "string")])))]),
         record("Node", [field("next", ["null", "Node"], None),
                         field("kids", array(record("Kid", [field("up", ["null", "Node"], None),
                                                             field("n", "int")])))]))
    case("recursive/record-used-twice-fails-once",
         record("R", [field("a", record("S", [field("x", "string")])), field("b", "S")]),
         record("R", [field("a", record("S", [field("x", "int")])), field("b", "S")]))

    # --- logical types: judged on the underlying type
    both("logical/date-vs-int", logical("int", "date"), "int")
    case("logical/date-vs-string", logical("int", "date"), "string")
    case("logical/timestamp-millis-reads-date", logical("long", "timestamp-millis"),
         logical("int", "date"))
    case("logical/date-reads-timestamp", logical("int", "date"), logical("long", "timestamp-millis"))
    both("logical/timestamp-millis-vs-micros", logical("long", "timestamp-millis"),
         logical("long", "timestamp-micros"))
    both("logical/time-millis-vs-time-micros", logical("int", "time-millis"),
         logical("long", "time-micros"))
    both("logical/local-timestamp-vs-long", logical("long", "local-timestamp-millis"), "long")
    both("logical/timestamp-nanos-vs-long", logical("long", "timestamp-nanos"), "long")
    both("logical/decimal-bytes-vs-bytes", logical("bytes", "decimal", precision=10, scale=2),
         "bytes")
    both("logical/decimal-precision-change", logical("bytes", "decimal", precision=10, scale=2),
         logical("bytes", "decimal", precision=20, scale=4))
    case("logical/decimal-bytes-reads-string", logical("bytes", "decimal", precision=5, scale=0),
         "string")
    both("logical/decimal-fixed-vs-fixed",
         fixed("Money", 8, logicalType="decimal", precision=18, scale=2), fixed("Money", 8))
    case("logical/decimal-fixed-size-change",
         fixed("Money", 16, logicalType="decimal", precision=18, scale=2),
         fixed("Money", 8, logicalType="decimal", precision=18, scale=2))
    both("logical/decimal-fixed-vs-decimal-bytes",
         fixed("Money", 8, logicalType="decimal", precision=18, scale=2),
         logical("bytes", "decimal", precision=18, scale=2))
    both("logical/uuid-vs-string", logical("string", "uuid"), "string")
    case("logical/uuid-reads-bytes", logical("string", "uuid"), "bytes")
    case("logical/uuid-vs-int", logical("string", "uuid"), "int")
    both("logical/duration-vs-fixed", fixed("D", 12, logicalType="duration"), fixed("D", 12))
    case("logical/unknown-logical-type", logical("string", "zip-code"), "string")
    case("logical/in-optional-field",
         record("R", [field("at", ["null", logical("long", "timestamp-millis")], None)]),
         record("R", [field("at", ["null", "int"], None)]))

    # --- namespaces and references by name
    inner_def = record("Inner", [field("x", "int")], namespace="a.b")
    outer = record("Outer", [field("i", inner_def), field("j", "a.b.Inner")], namespace="a.b")
    outer_short = record("Outer", [field("i", inner_def), field("j", "Inner")], namespace="a.b")
    both("namespace/full-vs-short-reference", outer, outer_short)
    outer_moved = record("Outer", [
        field("i", record("Inner", [field("x", "int")], namespace="c.d")),
        field("j", "c.d.Inner"),
    ], namespace="a.b")
    both("namespace/inner-moved-namespace", outer_moved, outer)
    inherit = record("Outer", [field("e", enum("Kind", ["A"])), field("k", "Kind")], namespace="p")
    inherit2 = record("Outer", [field("e", enum("Kind", ["A", "B"])), field("k", "p.Kind")],
                      namespace="p")
    both("namespace/inherited-enum", inherit2, inherit)
    case("namespace/empty-namespace-resets",
         record("Outer", [field("r", record("In", [field("x", "int")], namespace=""))],
                namespace="p"),
         record("Outer", [field("r", record("In", [field("x", "int")]))], namespace="q"))

    # --- nested
    def order(line_fields, status_symbols=("NEW", "PAID"), extra=()):
        return record("Order", [
            field("id", "string"),
            field("lines", array(record("Line", line_fields))),
            field("status", enum("Status", list(status_symbols))),
            field("meta", map_(["null", "string", record("Meta", [field("k", "string")])]), {}),
            *extra,
        ], namespace="shop")

    line = [field("sku", "string"), field("qty", "int")]
    case("nested/identical", order(line), order(line))
    both("nested/line-qty-promoted", order([field("sku", "string"), field("qty", "long")]),
         order(line))
    both("nested/line-field-added-default",
         order(line + [field("price", "double", 0.0)]), order(line))
    case("nested/line-field-added-required", order(line + [field("price", "double")]),
         order(line))
    both("nested/status-symbol-added", order(line, ("NEW", "PAID", "SHIPPED")), order(line))
    case("nested/several-problems",
         order([field("sku", "bytes"), field("qty", "string"), field("p", "int")],
               ("NEW",)),
         order(line))
    deep_old = wrap(array(map_(array(["null", record("Leaf", [field("v", "int")])]))))
    deep_new = wrap(array(map_(array(["null", record("Leaf", [field("v", "long")])]))))
    deep_bad = wrap(array(map_(array(["null", record("Leaf", [field("v", "boolean")])]))))
    both("nested/deep-promotion", deep_new, deep_old)
    case("nested/deep-mismatch", deep_bad, deep_old)

    # --- where the parsers disagree (kept so the disagreement stays visible)
    case("parser/invalid-field-default",
         record("R", [field("a", "int"), field("b", "int", "not a number")]),
         record("R", [field("a", "int")]),
         rust_rejects="apache_avro (like Java) refuses a field default that does not match the "
                      "field's type; Python avro does not validate defaults")
    case("parser/union-default-not-first-branch",
         record("R", [field("a", "int"), field("b", ["null", "string"], "x")]),
         record("R", [field("a", "int")]),
         note="Java refuses this schema (a union default must match the first branch); Python "
              "avro and apache_avro accept it, so the verdict is still comparable")


def parse(schema):
    return avro.schema.parse(json.dumps(schema))


def verdict(reader, writer):
    result = ReaderWriterCompatibilityChecker().get_compatibility(parse(reader), parse(writer))
    return result.compatibility is SchemaCompatibilityType.compatible


def build():
    # Python avro warns about logical types it does not know (e.g. timestamp-nanos); like Java
    # it then uses the underlying type, which is all the checker looks at anyway.
    warnings.simplefilter("ignore", avro.errors.IgnoredLogicalType)
    define_cases()
    names = [c["name"] for c in CASES]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        sys.exit(f"duplicate case names: {sorted(dupes)}")
    corpus = []
    for c in CASES:
        entry = {"name": c["name"], "reader": c["reader"], "writer": c["writer"]}
        if c["rust_rejects"]:
            entry["excluded"] = c["rust_rejects"]
            entry["rust_rejects"] = True
            entry["python_compatible"] = verdict(c["reader"], c["writer"])
            corpus.append(entry)
            continue
        try:
            py = verdict(c["reader"], c["writer"])
        except Exception as e:  # noqa: BLE001 - any rejection is a parser disagreement to record
            entry["excluded"] = f"Python avro rejects a schema: {type(e).__name__}: {e}"
            corpus.append(entry)
            continue
        if c["java"] is not None:
            entry["compatible"] = c["java"]
            entry["python_compatible"] = py
            entry["note"] = JAVA_DIFFERENCES[c["difference"]]
            if py == c["java"]:
                print(f"note: {c['name']}: Python now agrees with Java", file=sys.stderr)
        else:
            entry["compatible"] = py
            if c["note"]:
                entry["note"] = c["note"]
        corpus.append(entry)
    return corpus


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the corpus is out of date")
    args = parser.parse_args()
    text = json.dumps(build(), indent=1) + "\n"
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            sys.exit(f"{OUT} is out of date: run scripts/compat-corpus.py")
        return
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    cases = json.loads(text)
    excluded = sum(1 for c in cases if "excluded" in c)
    overridden = sum(1 for c in cases if "python_compatible" in c and "excluded" not in c)
    print(f"avro {avro.__version__}: {len(cases)} cases, {excluded} excluded, "
          f"{overridden} with Java's verdict over Python's -> {OUT}")


if __name__ == "__main__":
    main()
