"""TensorFlow's and LiteRT's chatter is dropped; errors and other output are kept, in their stream."""

from __future__ import annotations

import os

import pytest

from driftline.tf_noise import native_output_filtered, quiet_tensorflow, without_noise

NOISE = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796540717.300366   10249 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available
To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate flags.
Saved artifact at '/tmp/tmpl9aatlsx'. The following endpoints are available:

* Endpoint 'serve'
  args_0 (POSITIONAL_ONLY): TensorSpec(shape=(None, 347), dtype=tf.float32, name='features')
Output Type:
  TensorSpec(shape=(None, 1), dtype=tf.float32, name=None)
Captures:
  140396960328080: TensorSpec(shape=(), dtype=tf.resource, name=None)
W0000 00:00:1796540723.272292   10249 tf_tfl_flatbuffer_helpers.cc:364] Ignored output_format.
I0000 00:00:1796540723.272742   10249 reader.cc:83] Reading SavedModel from: /tmp/tmpl9aatlsx
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
"""

KEPT = """\
E0000 00:00:1796540723.272292   10249 converter.cc:1] conversion failed: unsupported op
2026-12-06 07:05:23,383 INFO driftline.litert: LiteRT scorer ready width=347 outputs=1
Traceback (most recent call last):
"""


def test_noise_is_dropped_and_errors_and_our_lines_kept() -> None:
    assert without_noise(NOISE) == ""
    assert without_noise(NOISE + KEPT) == KEPT


def test_native_writes_are_filtered_per_descriptor(capfd: pytest.CaptureFixture[str]) -> None:
    with native_output_filtered():
        os.write(1, b"Saved artifact at '/tmp/x'. The following endpoints are available:\nresult 42\n")
        os.write(2, b"W0000 00:00:1.2 3 helpers.cc:364] Ignored output_format.\nE0000 a real error\n")
    out, err = capfd.readouterr()
    assert out == "result 42\n"
    assert err == "E0000 a real error\n"


def test_output_is_replayed_when_the_block_raises(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RuntimeError), native_output_filtered():
        os.write(2, b"I0000 00:00:1.2 3 reader.cc:83] Reading SavedModel\nconverter: op not supported\n")
        raise RuntimeError("conversion failed")
    assert capfd.readouterr().err == "converter: op not supported\n"


def test_quiet_tensorflow_keeps_a_level_already_chosen() -> None:
    environ: dict[str, str] = {}
    quiet_tensorflow(environ)
    assert environ == {"TF_CPP_MIN_LOG_LEVEL": "2"}
    chosen = {"TF_CPP_MIN_LOG_LEVEL": "0"}
    quiet_tensorflow(chosen)
    assert chosen == {"TF_CPP_MIN_LOG_LEVEL": "0"}
