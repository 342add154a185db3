"""The bounded search: trials on one split, the budget respected, the best on validation kept, all recorded."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from driftline.errors import DataError
from driftline.registry import Registry
from driftline.sources import AgrawalSource
from trainer.release import register_candidate
from trainer.search import SearchConfig, search, trial_config
from trainer.training import TrainConfig, fit_candidate, fit_model, prepare

BASE = TrainConfig(max_epochs=3, hidden_layers=(8,), seed=3)
SOURCE = AgrawalSource(seed=21)


def test_trial_overrides_merge_into_the_base() -> None:
    config = trial_config(BASE, {"preprocessing": {"numeric_encoding": {"bins": 8}}, "learning_rate": 0.01})
    assert config.preprocessing.numeric_encoding is not None and config.preprocessing.numeric_encoding.bins == 8
    assert config.preprocessing.numeric_encoding.kind == "piecewise_linear"  # kept from the base
    assert config.learning_rate == 0.01 and config.hidden_layers == (8,)
    with pytest.raises(ValueError, match="share one split"):
        SearchConfig(trials=({"seed": 1},))
    with pytest.raises(ValueError):
        trial_config(BASE, {"dropout": 2.0})


def test_every_trial_runs_on_a_generous_budget_and_the_best_on_validation_is_kept(tmp_path: Path) -> None:
    trials = ({}, {"hidden_layers": (4,)}, {"preprocessing": {"numeric_encoding": None}})
    candidate = search(SOURCE.frame(2000), SOURCE.contract, BASE, SearchConfig(budget_seconds=600, trials=trials))
    record = candidate.search
    assert record is not None and [t["trial"] for t in record["trials"]] == [0, 1, 2]
    assert all("skipped" not in t and t["seconds"] > 0 for t in record["trials"])
    scores = [(t["validation"]["accuracy"], -t["validation"]["log_loss"]) for t in record["trials"]]
    assert record["selected"] == scores.index(max(scores))
    assert candidate.config == trial_config(BASE, trials[record["selected"]])
    registry = Registry(tmp_path, "m")
    version = register_candidate(registry, candidate, source_description="test", promote=False)
    training = orjson.loads((registry.path(version) / "training.json").read_bytes())
    assert training["search"]["trials"][0]["validation"]["accuracy"] == record["trials"][0]["validation"]["accuracy"]
    assert training["stopped_by"] == candidate.stopped_by


def test_a_spent_budget_cuts_the_running_trial_and_skips_the_rest() -> None:
    config = SearchConfig(budget_seconds=0.01, trials=({}, {"hidden_layers": (4,)}))
    candidate = search(SOURCE.frame(2000), SOURCE.contract, BASE.model_copy(update={"max_epochs": 50}), config)
    record = candidate.search
    assert record is not None
    first, second = record["trials"]
    assert first["stopped_by"] == "deadline" and first["epochs_run"] == 1 and candidate.epochs_run == 1
    assert second == {"trial": 1, "overrides": {"hidden_layers": (4,)}, "skipped": "budget spent"}


def test_warm_start_keeps_the_champions_preprocessor_and_architecture() -> None:
    champion = fit_candidate(SOURCE.frame(2000), SOURCE.contract, BASE.model_copy(update={"hidden_layers": (6, 3)}))
    drifted = AgrawalSource(seed=22, function=2).frame(2000)
    prepared = prepare(drifted, SOURCE.contract, BASE)
    warm = fit_model(prepared, BASE.model_copy(update={"warm_start": True, "max_epochs": 1}),
                     champion=(champion.preprocessor, champion.model))  # fmt: skip
    assert warm.preprocessor is champion.preprocessor
    assert [w.shape for w in warm.model.get_weights()] == [w.shape for w in champion.model.get_weights()]
    with pytest.raises(DataError, match="warm start needs"):
        fit_model(prepared, BASE.model_copy(update={"warm_start": True}))
    config = SearchConfig(budget_seconds=600, trials=({},), warm_start=True)
    result = search(drifted, SOURCE.contract, BASE, config, champion=(champion.preprocessor, champion.model))
    assert result.search is not None and [t["overrides"] for t in result.search["trials"]] == [{}, {"warm_start": True}]
