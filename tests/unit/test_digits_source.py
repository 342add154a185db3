"""The digits scenario: records that fit the digits contract, seeded, balanced, and each image drift switched on
exactly at its index; its drift grammar; and its wiring into `driftline produce` / `driftline train`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import orjson
import pytest

import producers.cli
import trainer.cli
from driftline.contract import Contract, builtin_contract
from driftline.errors import ConfigError, DataError
from driftline.images import decode_image
from driftline.sources import AgrawalSource, DigitsSource, ImageDrift, ImageDriftKind, LabeledRecord
from driftline.sources.digits import images as px
from driftline.sources.digits import load_digits_28
from driftline.sources.factory import open_source, source_from_arguments
from driftline.validation import Validator

DIGITS = builtin_contract("digits")
AT = 600  # a drift's start in the drift tests: inside the first chunk (1,024 records), so chunks need not align
N = 1500  # crosses a chunk boundary


def _pixels(items: list[LabeledRecord]) -> np.ndarray:
    feature = DIGITS.features[0]
    return np.stack([decode_image(i.record["image"], feature)[:, :, 0] for i in items])


def test_the_digits_are_scikit_learns_at_mnists_size() -> None:
    images, digits = load_digits_28()
    assert images.shape == (1797, 28, 28) and images.dtype == np.uint8
    assert sorted(set(digits.tolist())) == list(range(10))
    assert images.max() == 255  # 16 → 255: full-intensity ink
    border = np.ones((28, 28), dtype=bool)
    border[4:24, 4:24] = False
    assert not images[:, border].any()  # the 20x20 digit is centred in the frame, black around it
    assert images[:, 4:24, 4:24].mean() > 40  # white ink on black


def test_every_record_validates_against_the_digits_contract() -> None:
    items = DigitsSource(seed=3).take(N)
    batch, rejections = Validator(DIGITS).validate_batch([orjson.dumps(i.record) for i in items])
    assert rejections == []
    assert len(batch) == N
    assert batch.columns["image"][0].shape == (28, 28, 1)
    for item in items[:50]:
        assert set(item.record) == {"id", "event_time", "image"}
        assert item.label in DIGITS.label.classes


def test_ids_event_times_and_labels() -> None:
    items = DigitsSource(seed=4, start_ms=1_000, interval_ms=5).take(N)
    assert [i.record["id"] for i in items[:3]] == ["dig-4-0", "dig-4-1", "dig-4-2"]
    assert len({i.record["id"] for i in items}) == N
    assert [i.record["event_time"] for i in items[:3]] == [1_000, 1_005, 1_010]
    assert items[-1].record["event_time"] == 1_000 + (N - 1) * 5


def test_same_seed_same_records_and_records_starts_over() -> None:
    first, second = DigitsSource(seed=5), DigitsSource(seed=5)
    assert first.take(N) == second.take(N)
    assert first.take(300) == first.take(300)
    assert DigitsSource(seed=6).take(100) != first.take(100)


def test_n_records_is_a_prefix_of_the_endless_stream() -> None:
    endless = DigitsSource(seed=8).take(N)
    assert DigitsSource(seed=8, n_records=1100).take(5000) == endless[:1100]
    assert DigitsSource(seed=8, n_records=0).take(10) == []


def test_the_label_is_the_digit_drawn() -> None:
    source = DigitsSource(seed=9)
    items = source.take(300)
    pixels, digits = source.pixels(300)
    assert [i.label for i in items] == [str(d) for d in digits.tolist()]
    assert np.array_equal(_pixels(items), pixels)


def test_labels_are_roughly_uniform() -> None:
    _, digits = DigitsSource(seed=10).pixels(10_000)
    counts = np.bincount(digits, minlength=10)
    assert counts.min() > 850 and counts.max() < 1150, counts  # 1,000 each, give or take sampling noise


def test_augmentation_makes_records_differ_from_their_originals() -> None:
    images, _ = load_digits_28()
    pixels, _ = DigitsSource(seed=11).pixels(500)
    exact = sum(bool((images == p).all(axis=(1, 2)).any()) for p in pixels)
    assert exact < 25  # a shift or rotation near zero may reproduce an original; most do not
    assert len({p.tobytes() for p in pixels}) == 500


def test_warp_with_no_move_returns_the_image_bit_for_bit() -> None:
    images, _ = load_digits_28()
    zero = np.zeros(len(images))
    assert np.array_equal(px.warp(images, zero, zero, np.zeros((len(images), 2))), images)
    moved = px.warp(images[:10], np.zeros(10), np.zeros(10), np.tile([0.0, 2.0], (10, 1)))
    assert np.array_equal(moved[:, :, 2:], images[:10, :, :-2])  # two whole pixels right


# -- drift -------------------------------------------------------------------------------------------------------

DRIFTS = {
    "rotation": f"rotation:45@{AT}",
    "thickness": f"thickness:2@{AT}",
    "inversion": f"inversion@{AT}",
    "noise": f"noise:60@{AT}",
    "style": f"style@{AT}",
}


@pytest.fixture(scope="module")
def base() -> np.ndarray:
    return _pixels(DigitsSource(seed=21).take(N))


@pytest.mark.parametrize("kind", sorted(DRIFTS))
def test_a_drift_changes_nothing_before_its_index_and_the_pictures_after(kind: str, base: np.ndarray) -> None:
    items = DigitsSource(seed=21, drift=DRIFTS[kind]).take(N)
    undrifted = DigitsSource(seed=21).take(N)
    assert items[:AT] == undrifted[:AT]
    assert [i.label for i in items] == [i.label for i in undrifted]  # the pictures change, not what they show
    after = _pixels(items[AT:]).astype(np.float64)
    before = base[AT:].astype(np.float64)
    changed = np.mean(np.abs(after - before) > 32, axis=(1, 2))  # fraction of pixels visibly different
    assert np.mean(changed > 0.05) > 0.9, kind  # nearly every drifted picture differs in over 5% of its pixels
    mean_before, mean_after = before.mean() / 255, after.mean() / 255
    if kind == "thickness":
        assert mean_after > 1.5 * mean_before
    elif kind == "inversion":
        assert np.array_equal(after, 255 - before)
    elif kind == "noise":
        assert (after - before).std() > 40
    elif kind == "style":
        assert mean_after < 0.8 * mean_before  # thinner strokes
    elif kind == "rotation":
        assert abs(mean_after - mean_before) < 0.05 * mean_before  # turned, not brighter or darker


@pytest.mark.parametrize("kind", ["rotation", "inversion", "style"])
def test_a_drift_misleads_a_classifier_fitted_before_it(kind: str) -> None:
    """The pictures change in what separates the digits, not only in their statistics: a nearest-centroid
    classifier fitted on the undrifted stream loses accuracy on the drifted one. (Thicker strokes and noise change
    the statistics above; against a centroid they cost less, a few points.)"""
    train, digits = DigitsSource(seed=31).pixels(3000)
    flat = train.reshape(len(train), -1).astype(np.float32)
    centroids = np.stack([flat[digits == d].mean(axis=0) for d in range(10)])

    def accuracy(source: DigitsSource) -> float:
        images, truth = source.pixels(1000)
        x = images.reshape(len(images), -1).astype(np.float32)
        guess = ((x[:, None, :] - centroids[None]) ** 2).sum(axis=2).argmin(axis=1)
        return float(np.mean(guess == truth))

    before = accuracy(DigitsSource(seed=32))
    after = accuracy(DigitsSource(seed=32, drift=DRIFTS[kind].replace(f"@{AT}", "@0")))
    assert before > 0.6, before
    assert after < before - 0.08, (before, after)


def test_a_drift_with_an_end_stops_there(base: np.ndarray) -> None:
    pixels = _pixels(DigitsSource(seed=21, drift="inversion@600..1100").take(N))
    assert np.array_equal(pixels[:600], base[:600])
    assert np.array_equal(pixels[600:1100], 255 - base[600:1100])
    assert np.array_equal(pixels[1100:], base[1100:])


def test_drifts_combine_and_each_keeps_its_own_window() -> None:
    both = DigitsSource(seed=21, drift="noise:30@200..400;inversion@300").take(600)
    only_inversion = DigitsSource(seed=21, drift="inversion@300").take(600)
    assert both[:200] == only_inversion[:200]
    assert both[400:] == only_inversion[400:]  # the noise window is over; its draws never touched the base stream
    assert both[200:400] != only_inversion[200:400]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rotation:45@5000", ImageDrift(ImageDriftKind.ROTATION, 5000, amount=45)),
        ("rotation:degrees=-30@0..10", ImageDrift(ImageDriftKind.ROTATION, 0, 10, amount=-30)),
        ("rotation@7", ImageDrift(ImageDriftKind.ROTATION, 7, amount=45)),
        ("thickness:2@5000", ImageDrift(ImageDriftKind.THICKNESS, 5000, amount=2)),
        ("inversion@5000", ImageDrift(ImageDriftKind.INVERSION, 5000)),
        ("noise:sigma=60@1..2", ImageDrift(ImageDriftKind.NOISE, 1, 2, amount=60)),
        (" style@5000 ", ImageDrift(ImageDriftKind.STYLE, 5000)),
    ],
)
def test_drift_specs_parse_and_print_back(text: str, expected: ImageDrift) -> None:
    spec = ImageDrift.parse(text)
    assert spec == expected
    assert ImageDrift.parse(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("rotation:45", "missing '@START'"),
        ("blur:2@0", "'blur' is not a valid ImageDriftKind"),
        ("inversion:1@0", "inversion takes no parameter"),
        ("thickness:9@0", "thickness expects whole pixels 1..4"),
        ("thickness:1.5@0", "thickness expects whole pixels 1..4"),
        ("noise:0@0", "noise expects sigma in (0, 255]"),
        ("rotation:angle=3@0", "unknown parameter 'angle' for rotation"),
        ("rotation:abc@0", "could not convert"),
        ("style@10..5", "drift end must be after start 10"),
        ("style@-1", "drift start must be >= 0"),
        ("covariate:salary@100", "not a valid ImageDriftKind"),
    ],
)
def test_a_bad_drift_spec_is_one_line_naming_the_form(text: str, says: str) -> None:
    with pytest.raises(ValueError) as error:
        ImageDrift.parse(text)
    message = str(error.value)
    assert says in message and "expected KIND[:PARAMS]@START[..END]" in message and "\n" not in message


def test_a_contract_the_digits_cannot_fit_is_refused() -> None:
    data = DIGITS.model_dump(mode="json")
    data["features"][0]["width"] = 32
    wide = Contract.model_validate(data)
    with pytest.raises(DataError, match="emits 28x28x1 images, found 28x32x1"):
        DigitsSource(contract=wide)
    with pytest.raises(DataError, match="has no image feature"):
        DigitsSource(contract=builtin_contract("agrawal"))


def test_raw_encoding_when_the_contract_says_so() -> None:
    data = DIGITS.model_dump(mode="json")
    data["features"][0]["encoding"] = "raw"
    raw = Contract.model_validate(data)
    items = DigitsSource(seed=2, contract=raw).take(20)
    batch, rejections = Validator(raw).validate_batch([orjson.dumps(i.record) for i in items])
    assert rejections == [] and len(batch) == 20
    assert np.array_equal(np.stack(list(batch.columns["image"]))[:, :, :, 0], _pixels(DigitsSource(seed=2).take(20)))


# -- wiring ------------------------------------------------------------------------------------------------------


def _produce(argv: list[str]) -> argparse.Namespace:
    return producers.cli.build_parser().parse_args(argv)


def _train(argv: list[str]) -> argparse.Namespace:
    return trainer.cli.build_parser().parse_args(["train", *argv])


@pytest.mark.parametrize("parse", [_produce, _train], ids=["produce", "train"])
def test_scenario_flag_names_the_stream(parse: Callable[[list[str]], argparse.Namespace]) -> None:
    digits = source_from_arguments(parse(["--scenario", "digits", "--seed", "3", "--drift", "rotation:30@10"]))
    assert isinstance(digits, DigitsSource) and digits.seed == 3 and str(digits.drift[0]) == "rotation:degrees=30@10"
    assert isinstance(source_from_arguments(parse([])), AgrawalSource)
    agrawal = source_from_arguments(parse(["--scenario", "agrawal", "--function", "2", "--noise", "0.1"]))
    assert isinstance(agrawal, AgrawalSource) and (agrawal.function, agrawal.noise) == (2, 0.1)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--scenario", "digits", "--function", "2"], "--function apply to the agrawal scenario only"),
        (["--scenario", "digits", "--noise", "0.1"], "--noise apply to the agrawal scenario only"),
        (["--scenario", "digits", "--drift", "covariate:salary@5"], "bad drift spec 'covariate:salary@5'"),
        (["--drift", "inversion@5"], "bad drift spec 'inversion@5'"),
        (["--scenario", "digits", "--data", "x.csv", "--contract", "c.yaml"], "--scenario digits names a built-in"),
    ],
)
def test_a_flag_that_does_not_fit_the_scenario_is_a_config_error(argv: list[str], says: str) -> None:
    with pytest.raises(ConfigError) as error:
        source_from_arguments(producers.cli.build_parser().parse_args(argv))
    assert says in str(error.value) and "\n" not in str(error.value)


def test_an_unknown_scenario_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        producers.cli.build_parser().parse_args(["--scenario", "mnist"])
    assert exit_.value.code == 2
    assert "argument --scenario: invalid choice: 'mnist'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="no scenario 'mnist'; known"):
        open_source(scenario="mnist")


def test_without_scikit_learn_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import fails, as when it is not installed
    with pytest.raises(ConfigError, match=r"needs scikit-learn: pip install 'driftline\[ml\]'"):
        DigitsSource()


def test_digit_labels_travel_as_class_name_strings() -> None:
    from driftline.messages import decode_label_event, encode_label_event

    item = DigitsSource(seed=1).take(1)[0]
    event = decode_label_event(encode_label_event(item.record["id"], item.label, item.record["event_time"]))
    assert event is not None and event.label == item.label and isinstance(event.label, str)


@pytest.mark.parametrize("encoding", ["png", "raw"])
def test_the_producers_malformed_records_cover_bad_images_each_with_its_reason(encoding: str) -> None:
    from producers.bad_records import bad_corpus

    data = DIGITS.model_dump(mode="json")
    data["features"][0]["encoding"] = encoding
    contract = Contract.model_validate(data)
    corpus = bad_corpus(contract)
    validator = Validator(contract)
    for key, payload, reason in corpus:
        _, rejections = validator.validate_batch([payload])
        assert [r.reason for r in rejections] == [reason], key
    image_reasons = {reason.value for key, _, reason in corpus if key is not None and b"-image-" in key}
    wanted = {"wrong_type", "not_an_image", "corrupt_image"}
    assert image_reasons >= (wanted | {"wrong_channels", "image_too_large"} if encoding == "png" else wanted)
    assert not any(b"-image-" in (key or b"") for key, _, _ in bad_corpus(builtin_contract("agrawal")))
