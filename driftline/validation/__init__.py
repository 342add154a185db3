"""Validate raw record bytes against a contract (DESIGN section 2): a typed row, or a rejection.

The common case costs one ``orjson.loads`` plus one pass over the features. Slow paths run only when needed
(their parsing is in :mod:`driftline.validation.record_json`):

- duplicate keys: orjson silently keeps the last value, so a record is re-parsed with a duplicate-aware
  parser only when a cheap byte count cannot prove every top-level key distinct (``keys_surely_unique``);
- ``NaN``/``Infinity`` literals and overflow (``1e999``) are not JSON, so orjson rejects them; a lenient
  re-parse tells them from truly malformed input, so the reason is ``non_finite``, not ``malformed_json``.

Decisions others rely on: unknown extra fields (a label included) are ignored; booleans are never numbers;
a JSON integer is accepted for a categorical and becomes ``str(int)`` (floats, booleans, arrays and objects
are ``wrong_type``); the event time is accepted as epoch milliseconds (an int or an integral float) or as an
ISO-8601 string with a zone, whatever the contract's ``event_time_format`` (which says what sources emit).
"""

from __future__ import annotations

from driftline.validation.validator import Validator, validate, validate_batch

__all__ = ["Validator", "validate", "validate_batch"]
