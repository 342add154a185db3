from __future__ import annotations

import orjson

from driftline.sources import AgrawalSource
from trainer.recent_data import join_labeled


def test_records_join_their_labels_once_sorted_by_event_time() -> None:
    source = AgrawalSource(seed=3)
    items = source.take(6)
    records = [orjson.dumps(r.record) for r in reversed(items)]  # newest first on the wire
    records += [orjson.dumps(items[0].record), b"{not json"]  # a re-sent record, and an invalid one
    labels = [orjson.dumps({"id": r.record["id"], "label": r.label}) for r in items[:4]] + [b"[]"]
    frame, rejected = join_labeled(records, labels, source.contract)
    assert frame["id"].tolist() == [r.record["id"] for r in items[:4]]  # only labeled ones, oldest first, once each
    assert frame["label"].tolist() == [r.label for r in items[:4]]
    assert frame["salary"].tolist() == [r.record["salary"] for r in items[:4]]
    assert rejected == 1
