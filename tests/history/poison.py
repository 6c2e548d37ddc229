"""The poison corpus as data: raw payloads on a data subject and what ingest must do with each.

``dead`` cases end in the dead-letter store with a reason holding the fragment; ``empty`` ones are valid and store
nothing; ``bad`` ones are stored as a bad value (quality bad, no value).
"""

from __future__ import annotations

import json
from typing import NamedTuple


class Case(NamedTuple):
    name: str
    raw: bytes
    outcome: str  # dead, empty or bad
    reason: str = ""


def _j(body: object) -> bytes:
    return json.dumps(body).encode()


NOW_ISO = "2026-01-01T00:00:00Z"  # any time inside the window

CORPUS = [
    # the bugs of issue 8
    Case("empty-tags", b'{"tags": {}}', "empty"),
    Case("empty-tags-connection", _j({"timestamp": NOW_ISO, "connection_id": 99, "tags": {}}), "empty"),
    Case("timestamp-nan", b'{"timestamp": NaN, "tags": {"v": 1}}', "dead", "timestamp: expected a finite epoch number"),
    Case("timestamp-minus-1e12", _j({"timestamp": -1e12, "tags": {"v": 1}}), "dead",
         "timestamp: expected a time from 1990"),
    Case("timestamp-9e15", _j({"timestamp": 9e15, "tags": {"v": 1}}), "dead", "timestamp: expected a time from 1990"),
    Case("timestamp-2100", _j({"timestamp": "2100-01-01T00:00:00Z", "tags": {"v": 1}}), "dead",
         "after the receiver's clock"),
    Case("name-crlf", _j({"timestamp": NOW_ISO, "tags": {"line\r\n3": 1}}), "dead", "tags: expected a tag name"),
    # shapes and bounds
    Case("deep-nesting", b'{"tags": {"v": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}", "dead",
         "payload: expected JSON nested less deeply"),
    Case("nested-value", _j({"timestamp": NOW_ISO, "tags": {"v": [[[[[[[[[[1]]]]]]]]]]}}), "dead",
         "tags.v: expected a list or object nested at most 8 deep"),
    Case("5mb-value", _j({"timestamp": NOW_ISO, "tags": {"v": "x" * 5_000_000}}), "dead",
         "tags.v: expected a value of at most 65536 bytes"),
    Case("10000-tags", _j({"timestamp": NOW_ISO, "tags": {f"t{i}": i for i in range(10_000)}}), "dead",
         "tags: expected at most 5000 tags"),
    Case("bad-utf8", b'{"tags": {"v": "\xff\xfe"}}', "dead", "payload: expected UTF-8 text"),
    Case("duplicated-keys", b'{"tags": {"v": 1, "v": 2}}', "dead",
         "payload: expected JSON objects without a repeated key"),
    Case("not-json", b"temperature=21.5", "dead", "payload: expected JSON"),
    Case("a-list", b"[1, 2, 3]", "dead", "payload: expected a JSON object"),
    Case("tags-a-list", _j({"timestamp": NOW_ISO, "tags": [1, 2]}), "dead", "tags: expected an object"),
    Case("no-tags", _j({"timestamp": NOW_ISO}), "dead", "tags: expected an object"),
    Case("timestamp-bool", _j({"timestamp": True, "tags": {"v": 1}}), "dead", "timestamp: expected ISO 8601 text"),
    Case("connection-object", _j({"timestamp": NOW_ISO, "connection_id": {"id": 1}, "tags": {"v": 1}}), "dead",
         "connection_id: expected null, an integer or a string"),
    Case("quality-word", _j({"timestamp": NOW_ISO, "tags": {"v": 1}, "quality": {"v": "meh"}}), "dead",
         "quality.v: expected 'good' or 'bad'"),
    Case("nan-in-a-list", b'{"tags": {"v": [1, NaN]}}', "dead",
         "tags.v: expected a list or object holding only finite"),
    Case("lone-surrogate", b'{"tags": {"v": "\\ud800"}}', "dead", "tags.v: expected text that is valid Unicode"),
    Case("nul-in-text", b'{"tags": {"v": "a\\u0000b"}}', "dead", "tags.v: expected text without NUL characters"),
    # not finite: a bad value, not text and not a dead letter
    Case("nan-value", b'{"timestamp": "2026-01-01T00:00:00Z", "tags": {"nan_v": NaN}}', "bad"),
    Case("inf-value", b'{"timestamp": "2026-01-01T00:00:00Z", "tags": {"inf_v": Infinity}}', "bad"),
    Case("minus-inf-value", b'{"timestamp": "2026-01-01T00:00:00Z", "tags": {"minf_v": -Infinity}}', "bad"),
]
