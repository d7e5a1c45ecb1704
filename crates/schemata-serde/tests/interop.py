"""Independent check of the Confluent wire format with fastavro (no registry involved).

Reads one JSON object on stdin:
  {"schema": "<avro schema json>", "id": <int>, "payload_hex": "<framed bytes from Rust>",
   "record": <a record for Python to encode>}
and prints one JSON object:
  {"decoded": <what fastavro read from payload_hex>, "payload_hex": "<Python's framed bytes>"}
"""
import io
import json
import struct
import sys

import fastavro


def main():
    req = json.load(sys.stdin)
    schema = fastavro.parse_schema(json.loads(req["schema"]))

    payload = bytes.fromhex(req["payload_hex"])
    magic, schema_id = struct.unpack(">bI", payload[:5])
    if magic != 0:
        raise SystemExit(f"bad magic byte {magic}")
    if schema_id != req["id"]:
        raise SystemExit(f"schema id {schema_id}, expected {req['id']}")
    body = io.BytesIO(payload[5:])
    decoded = fastavro.schemaless_reader(body, schema)
    if body.read():
        raise SystemExit("trailing bytes after the datum")

    out = io.BytesIO()
    out.write(struct.pack(">bI", 0, req["id"]))
    fastavro.schemaless_writer(out, schema, req["record"])
    json.dump({"decoded": decoded, "payload_hex": out.getvalue().hex()}, sys.stdout)


if __name__ == "__main__":
    main()
