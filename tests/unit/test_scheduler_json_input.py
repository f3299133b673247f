"""The scheduler's strict JSON parser (scheduler/json_input.py): what it refuses and what it keeps.

Over HTTP (both the fast path and the routes, under uvicorn) see tests/e2e/test_scheduler_hostile.py.
"""

from __future__ import annotations

import json

import pytest

from hometwin.scheduler.json_input import MAX_DEPTH, loads


def nested(depth: int) -> bytes:
    """A body `{"name": "E", "data": [[...]]}` whose nesting is `depth` levels in all."""
    return b'{"name": "E", "data": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


REFUSED = [
    (nested(MAX_DEPTH + 1), "nested deeper"),
    (nested(300), "nested deeper"),  # was stored, then broke every listing holding it
    (nested(1_500), "nested deeper"),  # exhausted the parser's recursion: a 500 on the fast path
    (b'{"name": "E", "data": ' + b'{"a": ' * 100 + b"1" + b"}" * 100 + b"}", "nested deeper"),
    (b'{"name": "E", "data": NaN}', "NaN is not JSON"),
    (b'{"name": "E", "data": Infinity}', "Infinity is not JSON"),
    (b'{"name": "E", "data": [-Infinity]}', "-Infinity is not JSON"),
    (b'{"name": "E", "data": 1e999}', "out of range"),
    (b'{"name": "E", "data": -1.5e400}', "out of range"),
    (b'{"name": "E", "data": ' + b"7" * 5000 + b"}", "digits"),
    (b'{"name": "E", "data": "\\ud800"}', "lone surrogate"),
    (b'{"name": "\\udfff"}', "lone surrogate"),
    (b'{"name": "E", "data": {"\\ud83d": 1}}', "lone surrogate"),  # in a key
    (b'{"name": "E", "data": ["ok", "\\ude00\\ud83d"]}', "lone surrogate"),  # a pair the wrong way round
    (b'{"name": "E", "data": "\xed\xa0\x80"}', "not UTF-8"),  # a surrogate's UTF-8 bytes
    (b'{"name": "E", "data": "\xff"}', "not UTF-8"),
    (b"{not json", "Expecting property name"),
]


@pytest.mark.parametrize(("body", "message"), REFUSED, ids=lambda v: repr(v)[:40])
def test_hostile_json_is_a_decode_error(body: bytes, message: str):
    with pytest.raises(json.JSONDecodeError, match=message):
        loads(body)


def test_nesting_up_to_the_limit_is_kept():
    doc = loads(nested(MAX_DEPTH))
    depth, value = 1, doc["data"]  # the body object is the first level
    while isinstance(value, list):
        depth, value = depth + 1, value[0] if value else None
    assert depth == MAX_DEPTH


KEPT = [
    (b'{"name": "E", "data": "\\ud83d\\ude00 K\\u00fcche"}', "\U0001f600 K\u00fcche"),  # a pair, an umlaut
    (b'\xef\xbb\xbf{"name": "E", "data": 1.5}', 1.5),  # a byte order mark, as json.loads(bytes) allows
    (b'{"name": "E", "data": "\\\\ud800"}', "\\ud800"),  # an escaped backslash: plain text
    (b'{"name": "E", "data": [' + b"[1], " * 500 + b"2]}", [[1]] * 500 + [2]),  # many brackets, shallow
    (b'{"name": "E", "data": -0.0}', -0.0),
]


@pytest.mark.parametrize(("body", "data"), KEPT, ids=lambda v: repr(v)[:40])
def test_plain_json_is_kept(body: bytes, data: object):
    doc = loads(body)
    assert doc["data"] == data
    assert doc == json.loads(body)  # exactly what Python's parser makes of it
