#!/usr/bin/env python3
"""HTTP Basic auth against Schemata with a real third-party client: confluent-kafka's
SchemaRegistryClient (`basic.auth.user.info`) and its AvroSerializer/AvroDeserializer.

Driven by tests/python_client.rs, which starts a server with auth on and three users:

    confluent_sr.py --url URL [--subject S] [--topic T]
    env: SCHEMATA_URL        the registry's base URL (or --url)
         SCHEMATA_WRITER     NAME:PASSWORD of a user with the write role
         SCHEMATA_READER     NAME:PASSWORD of a user with the read role

Credentials come from the environment, not the command line, where `ps` would show them.

With the writer it registers a schema, then reads it back through get_latest_version,
get_schema, lookup_schema and test_compatibility (one compatible and one incompatible
candidate), and registers a second version. A wrong password must raise SchemaRegistryError
with HTTP 401; the reader must be refused registration with HTTP 403 but may read. Finally
AvroSerializer registers a schema itself (`auto.register.schemas`) and AvroDeserializer, on the
reader's client, decodes the record again.

Prints one JSON object with what it saw to stdout; on any failed check prints
`confluent_sr.py: FAIL: …` to stderr and exits 1 (2 when confluent-kafka is missing).
"""

import argparse
import json
import os
import struct
import sys

try:
    import confluent_kafka
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
    from confluent_kafka.schema_registry.error import SchemaRegistryError
    from confluent_kafka.serialization import MessageField, SerializationContext
except ImportError as e:  # pragma: no cover - environment problem, not a test result
    print(
        f"confluent_sr.py: FAIL: confluent-kafka is not installed ({e}); run scripts/test, "
        "which installs confluent-kafka[schemaregistry,avro]",
        file=sys.stderr,
    )
    sys.exit(2)


class CheckFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


def record_schema(name, fields):
    """An Avro record schema as JSON text: `fields` is a list of (name, type[, default])."""
    out = []
    for f in fields:
        field = {"name": f[0], "type": f[1]}
        if len(f) > 2:
            field["default"] = f[2]
        out.append(field)
    return json.dumps({"type": "record", "name": name, "fields": out})


def client(url, user_info):
    # No retries: every status this script expects (401, 403) is final, and a retried 5xx
    # would only hide a server fault behind a slower failure.
    return SchemaRegistryClient({"url": url, "basic.auth.user.info": user_info, "max.retries": 0})


def registry_error(call, what):
    """Runs `call`, which must raise SchemaRegistryError; returns its fields."""
    try:
        result = call()
    except SchemaRegistryError as e:
        return {
            "http_status": e.http_status_code,
            "error_code": e.error_code,
            "message": e.error_message,
        }
    raise CheckFailed(f"{what}: expected SchemaRegistryError, got success: {result!r}")


def run(url, writer, reader, subject, topic):
    out = {"confluent_kafka": confluent_kafka.__version__, "subject": subject}
    sr = client(url, writer)

    v1 = record_schema("Order", [("id", "long"), ("item", "string")])
    v2 = record_schema("Order", [("id", "long"), ("item", "string"), ("note", "string", "")])
    breaking = record_schema("Order", [("id", "long"), ("item", "string"), ("qty", "int")])

    # register
    schema_id = sr.register_schema(subject, Schema(v1, "AVRO"))
    check(isinstance(schema_id, int) and schema_id > 0, f"register_schema returned {schema_id!r}")
    out["id"] = schema_id
    # (a fresh client: the client caches what it registered and would not ask the server)
    again = client(url, writer).register_schema(subject, Schema(v1, "AVRO"))
    check(again == schema_id, f"registering the same schema again gave id {again}, not {schema_id}")

    # get_latest_version
    latest = sr.get_latest_version(subject)
    check(latest.schema_id == schema_id, f"get_latest_version id {latest.schema_id} != {schema_id}")
    check(latest.version == 1, f"get_latest_version version {latest.version} != 1")
    check(latest.subject == subject, f"get_latest_version subject {latest.subject!r}")
    check(
        json.loads(latest.schema.schema_str) == json.loads(v1),
        f"get_latest_version schema {latest.schema.schema_str!r} is not {v1!r}",
    )
    out["latest"] = {
        "id": latest.schema_id,
        "version": latest.version,
        "subject": latest.subject,
        "schema": latest.schema.schema_str,
        "schema_type": latest.schema.schema_type,
    }

    # get_schema (by id)
    fetched = sr.get_schema(schema_id)
    check(
        json.loads(fetched.schema_str) == json.loads(v1),
        f"get_schema({schema_id}) returned {fetched.schema_str!r}",
    )
    out["schema"] = fetched.schema_str
    out["schema_type"] = fetched.schema_type

    # test_compatibility (default level BACKWARD)
    compatible = sr.test_compatibility(subject, Schema(v2, "AVRO"))
    incompatible = sr.test_compatibility(subject, Schema(breaking, "AVRO"))
    check(compatible is True, f"a field with a default was judged incompatible: {compatible!r}")
    check(incompatible is False, f"a field without a default was judged compatible: {incompatible!r}")
    out["compatible"] = compatible
    out["incompatible"] = incompatible

    # lookup
    found = sr.lookup_schema(subject, Schema(v1, "AVRO"))
    check(found.schema_id == schema_id, f"lookup_schema id {found.schema_id} != {schema_id}")
    check(found.version == 1, f"lookup_schema version {found.version} != 1")
    out["lookup"] = {"id": found.schema_id, "version": found.version, "subject": found.subject}
    missing = registry_error(
        lambda: sr.lookup_schema(subject, Schema(breaking, "AVRO")), "lookup of an unregistered schema"
    )
    check(missing["http_status"] == 404, f"lookup of an unregistered schema: {missing}")
    out["lookup_missing"] = missing

    # a second version
    id2 = sr.register_schema(subject, Schema(v2, "AVRO"))
    check(id2 != schema_id, f"a new schema got the old id {id2}")
    # (a fresh client again: get_latest_version is cached per client without expiry)
    latest2 = client(url, writer).get_latest_version(subject)
    check(
        (latest2.schema_id, latest2.version) == (id2, 2),
        f"after v2, latest is id {latest2.schema_id} version {latest2.version}",
    )
    out["id_v2"] = id2
    out["versions"] = sr.get_versions(subject)
    check(out["versions"] == [1, 2], f"get_versions: {out['versions']}")

    # a wrong password is refused with 401
    name = writer.split(":", 1)[0]
    wrong = registry_error(lambda: client(url, f"{name}:not-the-password").get_subjects(), "wrong password")
    check(wrong["http_status"] == 401, f"wrong password: expected HTTP 401, got {wrong}")
    out["wrong_password"] = wrong

    # a read-only user may read but not register: 403
    ro = client(url, reader)
    denied = registry_error(
        lambda: ro.register_schema(subject + "-ro", Schema(v1, "AVRO")), "register as a read-only user"
    )
    check(denied["http_status"] == 403, f"register as a read-only user: expected HTTP 403, got {denied}")
    out["read_only_register"] = denied
    ro_latest = ro.get_latest_version(subject)
    check(ro_latest.schema_id == id2, f"read-only get_latest_version id {ro_latest.schema_id} != {id2}")
    out["read_only_latest_id"] = ro_latest.schema_id

    # AvroSerializer registers its schema itself; AvroDeserializer (read-only user) decodes
    serde_schema = record_schema("Payment", [("id", "string"), ("amount", "double")])
    serializer = AvroSerializer(sr, serde_schema, conf={"auto.register.schemas": True})
    ctx = SerializationContext(topic, MessageField.VALUE)
    value = {"id": "p-1", "amount": 12.5}
    data = serializer(value, ctx)
    check(len(data) > 5 and data[0] == 0, f"serialized bytes lack the magic byte: {data.hex()}")
    wire_id = struct.unpack(">I", data[1:5])[0]
    serde_subject = f"{topic}-value"
    registered = sr.get_latest_version(serde_subject)
    check(
        registered.schema_id == wire_id,
        f"the serializer wrote id {wire_id}, but {serde_subject} holds id {registered.schema_id}",
    )
    decoded = AvroDeserializer(ro)(data, ctx)
    check(decoded == value, f"round trip gave {decoded!r}, not {value!r}")
    out["serde"] = {
        "subject": serde_subject,
        "id": wire_id,
        "bytes": data.hex(),
        "decoded": decoded,
    }
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("SCHEMATA_URL"))
    parser.add_argument("--subject", default="python-interop-value")
    parser.add_argument("--topic", default="python-interop-serde")
    args = parser.parse_args()
    writer = os.environ.get("SCHEMATA_WRITER")
    reader = os.environ.get("SCHEMATA_READER")
    given = {"--url or SCHEMATA_URL": args.url, "SCHEMATA_WRITER": writer, "SCHEMATA_READER": reader}
    missing = [name for name, value in given.items() if not value]
    if missing:
        parser.error("missing " + ", ".join(missing))
    try:
        out = run(args.url, writer, reader, args.subject, args.topic)
    except CheckFailed as e:
        print(f"confluent_sr.py: FAIL: {e}", file=sys.stderr)
        return 1
    except SchemaRegistryError as e:
        print(f"confluent_sr.py: FAIL: unexpected registry error: {e}", file=sys.stderr)
        raise
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
