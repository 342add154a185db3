"""Images through the real stack and the CLI: a worker scores PNG records from Kafka exactly as offline scoring
does, bad pictures become dead letters with their reasons (never a crash), string labels join their predictions;
`driftline score FILE.png ...` classifies files with the production CNN and refuses bad ones in one line each."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
from PIL import Image

from driftline.bundle import ModelBundle
from driftline.messages import decode_dead_letter, encode_label_event
from driftline.registry import Registry
from driftline.sources.digits import DigitsSource
from driftline.validation import Validator
from harness.kafka_reading import read_topic
from harness.processes import ROOT, settings_env
from harness.waiting import wait_for
from producers.bad_records import bad_corpus
from producers.kafka_sender import KafkaSender
from tests.integration.pipeline import Pipeline


def test_a_worker_scores_digits_as_offline_and_dead_letters_bad_pictures(
    pipeline: Pipeline, digits_registry: Registry
) -> None:
    pipeline.registry = digits_registry
    source = DigitsSource(seed=31)
    good = source.take(600)
    corpus = bad_corpus(source.contract, tag="img")
    image_reasons = {"not_an_image", "corrupt_image", "wrong_channels", "image_too_large"}
    assert image_reasons <= {reason.value for _, _, reason in corpus}
    failures: list[str] = []
    sender = KafkaSender(pipeline.kafka, on_error=lambda message, records: failures.append(message))
    for i, item in enumerate(good):
        sender.send(pipeline.topics.records, item.record["id"].encode(), orjson.dumps(item.record))
        if i % 20 == 0 and i // 20 < len(corpus):
            key, payload, _ = corpus[i // 20]
            sender.send(pipeline.topics.records, key, payload)
    for item in good:  # the labels at once: class names, as the producer sends them
        record_id = item.record["id"]
        sender.send(pipeline.topics.labels, record_id.encode(),
                    encode_label_event(record_id, item.label, item.record["event_time"]))  # fmt: skip
    sender.flush(timeout=30)
    sender.close()
    assert not failures
    worker = pipeline.worker()
    documents = pipeline.wait_all_scored([g.record["id"] for g in good])

    bundle = ModelBundle.load_production(digits_registry)
    batch, rejections = Validator(bundle.contract).validate_objects(g.record for g in good)
    assert not rejections
    offline = bundle.predict(batch.columns)
    assert [d["id"] for d in documents] == batch.ids
    np.testing.assert_allclose(np.array([d["scores"] for d in documents]), offline.scores, rtol=0, atol=1e-6)
    assert [d["label"] for d in documents] == offline.labels
    assert all(isinstance(label, str) for label in offline.labels)
    accuracy = np.mean([d["label"] == g.label for d, g in zip(documents, good, strict=True)])
    assert accuracy > 0.85, accuracy  # a small CNN, yet a real one

    letters = read_topic(pipeline.kafka, pipeline.topics.dead_letter, expect=len(corpus), timeout=60)
    expected = {payload: reason.value for _, payload, reason in corpus}
    seen = {message.value: decode_dead_letter(message.headers).reason for message in letters}
    assert seen == expected
    by_reason = Counter(expected.values())
    for reason in image_reasons:
        assert worker.metric("driftline_dead_letters_total", reason=reason) == by_reason[reason]
    assert worker.alive()  # a decompression bomb and a cut PNG cost a dead letter each, not the worker
    wait_for(lambda: worker.metric("driftline_labels_total", outcome="matched") >= len(good), timeout=60,
             message="every digit's label joined with its prediction")  # fmt: skip


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _score(registry: Registry, *files: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    # the test registries are unsigned: no stack folder, so no stack key pair to verify with (as in Pipeline.env)
    env |= settings_env(registry={"root": registry.root, "model_name": registry.model},
                        stack={"data_dir": registry.root / "no-stack"})  # fmt: skip
    return subprocess.run([sys.executable, "-m", "driftline.cli", "score", *map(str, files)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_score_classifies_png_files_and_refuses_bad_ones(
    digits_registry: Registry, serving_registry: Registry, tmp_path: Path
) -> None:
    pixels, digits = DigitsSource(seed=41).pixels(20)
    files = []
    for i, (picture, digit) in enumerate(zip(pixels, digits, strict=True)):
        path = tmp_path / f"digit-{i}-{digit}.png"
        path.write_bytes(_png(picture))
        files.append(path)
    big = tmp_path / "big.png"  # 112x112: resized to 28x28 by the persisted preprocessing, as a worker would
    big.write_bytes(_png(np.kron(pixels[0], np.ones((4, 4), dtype=np.uint8))))

    done = _score(digits_registry, *files, big)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 21
    guessed = [line.split(": ", 1)[1].split()[0] for line in lines]
    right = sum(g == str(d) for g, d in zip(guessed, digits.tolist(), strict=False))
    assert right >= 17, lines  # the same CNN that scored 0.95 on its test split
    assert guessed[-1] == guessed[0]  # the enlarged copy is the same digit to the model
    assert "XNNPACK" not in done.stderr and "tensorflow" not in done.stderr.lower()  # LiteRT, and quietly

    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    cut = tmp_path / "cut.png"
    cut.write_bytes(_png(pixels[1])[:-40])
    colour = tmp_path / "colour.png"
    colour.write_bytes(_png(np.zeros((28, 28, 3), dtype=np.uint8)))
    missing = tmp_path / "absent.png"
    done = _score(digits_registry, files[0], text, cut, colour, missing)
    assert done.returncode == 1
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith(f"{files[0]}: ")
    assert lines[1] == (f"{text}: refused (not_an_image): 'image': expected a PNG file, found 13 bytes without the "
                        "PNG signature (record id 'notes.png')")  # fmt: skip
    assert lines[2].startswith(f"{cut}: refused (corrupt_image): ")
    assert lines[3].startswith(f"{colour}: refused (wrong_channels): ")
    assert lines[4].startswith(f"{missing}: refused (unreadable): cannot read the file")

    tabular = _score(serving_registry, files[0])
    assert tabular.returncode == 1
    assert tabular.stderr.strip().splitlines() == [
        "python -m processors: version 1 of 'driftline' is not an image model (contract 'agrawal': ['salary', "
        "'commission', 'age', 'elevel', 'car', 'zipcode', 'hvalue', 'hyears', 'loan']); score takes image files"
    ]
