from __future__ import annotations

import pytest

from processors.app import parse_update


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"model": "driftline", "version": 3, "fingerprint": "ab", "set_at": "t"}', 3),
        (b'{"model": "other", "version": 3}', None),
        (b'{"model": "driftline"}', None),
        (b'{"model": "driftline", "version": "x"}', None),
        (b"[1, 2]", None),
        (b"not json", None),
    ],
)
def test_parse_update(raw: bytes, expected: int | None) -> None:
    assert parse_update(raw, "driftline") == expected
