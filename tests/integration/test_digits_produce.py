"""`driftline produce --scenario digits` against the real broker: PNG records that fit the digits contract, their
labels as class-name strings on the labels topic, and the malformed ones mixed in failing validation for their
stated image reasons."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from driftline.contract import builtin_contract
from driftline.records import Reason
from driftline.settings import KafkaSettings
from driftline.sources import DigitsSource
from driftline.topics import Topics
from driftline.validation import Validator
from harness.kafka_reading import messages_in, read_topic
from producers.bad_records import bad_corpus

ROOT = Path(__file__).resolve().parents[2]
N = 600


def test_produce_digits_sends_png_records_and_string_labels(kafka_settings: KafkaSettings, topics: Topics) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    env["DRIFTLINE_KAFKA__TOPIC_PREFIX"] = kafka_settings.topic_prefix
    drift = "inversion@400"
    result = subprocess.run(
        [sys.executable, "-m", "driftline.cli", "produce", "--scenario", "digits", "--seed", "5", "--drift", drift,
         "-n", str(N), "--bad-ratio", "0.1", "--keep-event-time", "--quiet"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "tensorflow" not in result.stderr.lower()

    total = messages_in(kafka_settings, topics.records)
    assert total > N  # about 60 malformed records on purpose besides the N good ones
    records = read_topic(kafka_settings, topics.records, expect=total)
    labels = read_topic(kafka_settings, topics.labels, expect=N)
    contract = builtin_contract("digits")
    batch, rejections = Validator(contract).validate_batch([m.value for m in records])

    sent = {item.record["id"]: item for item in DigitsSource(seed=5, drift=drift).take(N)}
    assert sorted(batch.ids) == sorted(sent)  # every good record once, and it fits the contract
    for message in records:
        if message.key is not None and message.key.decode() in sent:
            assert orjson.loads(message.value) == sent[message.key.decode()].record
    stated = {payload: reason for _, payload, reason in bad_corpus(contract)}
    assert len(rejections) == total - N
    assert all(r.reason == stated[r.raw] for r in rejections)
    image_reasons = {Reason.NOT_AN_IMAGE, Reason.CORRUPT_IMAGE, Reason.WRONG_CHANNELS, Reason.IMAGE_TOO_LARGE}
    assert {r.reason for r in rejections} & image_reasons

    assert len(labels) == N
    for message in labels:
        event = orjson.loads(message.value)
        assert event["label"] == sent[event["id"]].label and isinstance(event["label"], str)
