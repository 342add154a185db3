"""`driftline train` and `driftline models` as a user runs them (real processes, a registry of the test's own, and
a signing key of its own: the commands sign what they release and verify what they promote)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from driftline.registry import Registry
from driftline.signing import PRIVATE_KEY_FILE, SIGNATURE_FILE, create_keys, ensure_keys, load_signer
from harness.processes import ROOT


def keys_of(registry_root: Path) -> Path:
    """The folder of the registry's key pair, beside it (made on first use)."""
    keys = registry_root.with_name(f"{registry_root.name}-keys")
    ensure_keys(keys)
    return keys


def trainer_registry(registry_root: Path) -> Registry:
    """The registry as the trainer holds it: what it registers is signed with the registry's key."""
    signer = load_signer(keys_of(registry_root) / PRIVATE_KEY_FILE)
    return Registry(registry_root, "driftline", signer=signer, verifier=signer.verifier)


def run_cli(registry_root: Path, *args: str, timeout: float = 600, expect_failure: bool = False) -> str:
    """stdout of a command that succeeds; with ``expect_failure``, stderr of one that exits 1 (a Driftline error)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    env["DRIFTLINE_REGISTRY__ROOT"] = str(registry_root)
    env["DRIFTLINE_REGISTRY__SIGNING_KEY"] = str(keys_of(registry_root) / PRIVATE_KEY_FILE)
    result = subprocess.run([sys.executable, "-m", "driftline.cli", *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=timeout)  # fmt: skip
    output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    if expect_failure:
        assert result.returncode == 1, f"driftline {' '.join(args)} should have failed:\n{output}"
        return result.stderr
    assert result.returncode == 0, f"driftline {' '.join(args)} failed:\n{output}"
    return result.stdout


@pytest.fixture(scope="module")
def default_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("registry")
    run_cli(root, "train")  # the default scenario: Agrawal function 1, 5% label noise, 50,000 rows
    return root


def test_default_scenario_reaches_the_noise_ceiling(default_registry: Path) -> None:
    registry = Registry(default_registry, "driftline")
    version = registry.alias("production").version  # type: ignore[union-attr]
    metrics = orjson.loads((registry.path(version) / "metrics.json").read_bytes())
    assert metrics["accuracy"] >= 0.90, metrics
    assert metrics["roc_auc"] >= 0.90, metrics
    for name in ("curves.png", "profile.json", "preprocessing.json", "training.json"):
        assert (registry.path(version) / name).stat().st_size > 0
    listing = run_cli(default_registry, "models", "list")
    assert "production" in listing and f"{metrics['accuracy']:.4f}" in listing


def test_promote_and_rollback_move_production(default_registry: Path) -> None:
    registry = Registry(default_registry, "driftline")
    first = registry.alias("production").version  # type: ignore[union-attr]
    run_cli(default_registry, "train", "--rows", "3000", "--epochs", "2", "--no-promote")
    second = registry.latest().version
    assert registry.alias("production").version == first  # type: ignore[union-attr]
    run_cli(default_registry, "models", "promote", str(second))
    assert registry.alias("production").version == second  # type: ignore[union-attr]
    run_cli(default_registry, "models", "rollback")
    assert registry.alias("production").version == first  # type: ignore[union-attr]
    shown = orjson.loads(run_cli(default_registry, "models", "show", str(first)))
    assert shown["version"] == first and "model.keras" in shown["files"]
    assert shown["training"]["durations_seconds"] and shown["training"]["epochs_run"] >= 1


def test_promote_refuses_a_version_that_would_not_serve(default_registry: Path) -> None:
    """The alias moves only after the version loads as a worker loads it: hashes alone would pass this one."""
    registry = trainer_registry(default_registry)  # signed: only the broken preprocessing stops it
    production = registry.alias("production").version  # type: ignore[union-attr]
    source = registry.path(production)
    files = release_files(source)
    files["preprocessing.json"] = b'{"features": "not a preprocessor"}'  # JSON (pickle is refused at register)
    broken = registry.register(files)
    result = run_cli(default_registry, "models", "promote", str(broken), expect_failure=True)
    errors = [line for line in result.splitlines() if "would not serve" in line]  # beside TensorFlow's log lines
    assert len(errors) == 1 and f"version {broken} would not serve" in errors[0], result
    assert "Traceback" not in result, result
    assert registry.alias("production").version == production  # type: ignore[union-attr]


def release_files(version_dir: Path) -> dict[str, Path | bytes]:
    """A version's own files, to register again (the manifest and its signature are the registry's)."""
    return {f.name: f for f in version_dir.iterdir() if f.name not in ("manifest.json", SIGNATURE_FILE)}


@pytest.mark.parametrize("fault", ["unsigned", "signed by another key"])
def test_promote_refuses_a_version_the_trainer_did_not_sign(default_registry: Path, tmp_path: Path,
                                                            fault: str) -> None:  # fmt: skip
    registry = trainer_registry(default_registry)
    production = registry.alias("production").version  # type: ignore[union-attr]
    files = release_files(registry.path(production))
    if fault == "unsigned":  # whoever can write to the registry can recompute every hash, not sign
        writer = Registry(default_registry, "driftline")
    else:
        writer = Registry(default_registry, "driftline", signer=load_signer(create_keys(tmp_path / "other")[0]))
    refused = writer.register(files)
    result = run_cli(default_registry, "models", "promote", str(refused), expect_failure=True)
    errors = [line for line in result.splitlines() if "would not serve" in line]
    why = "unsigned (no manifest.sig)" if fault == "unsigned" else "signed by another key"
    assert len(errors) == 1 and f"version {refused}: {why}" in errors[0], result
    assert "Traceback" not in result, result
    assert registry.alias("production").version == production  # type: ignore[union-attr]
    run_cli(default_registry, "models", "list")  # listing still works: it reads, it does not trust


def test_train_on_a_users_own_csv(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 3000
    tenure = rng.uniform(0, 60, n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    churn = ((tenure < 12) & (plan == "basic")) | (rng.random(n) < 0.05)
    frame = pd.DataFrame({"customer": [f"c{i}" for i in range(n)], "ts": np.arange(n) * 1000 + 1_700_000_000_000,
                          "tenure": tenure, "plan": plan, "churned": churn.astype(int)})  # fmt: skip
    frame.loc[::50, "tenure"] = np.nan  # some missing values, imputed
    data = tmp_path / "customers.csv"
    frame.to_csv(data, index=False)
    contract = tmp_path / "customers.yaml"
    contract.write_text(
        "name: customers\nid_field: customer\nevent_time_field: ts\n"
        "label: {name: churned, task: binary, classes: [0, 1]}\n"
        "features:\n  - {name: tenure, kind: numeric, min: 0}\n  - {name: plan, kind: categorical}\n"
    )
    root = tmp_path / "registry"
    run_cli(root, "train", "--data", str(data), "--contract", str(contract), "--epochs", "30")
    registry = Registry(root, "driftline")
    version = registry.alias("production").version  # type: ignore[union-attr]
    metrics = orjson.loads((registry.path(version) / "metrics.json").read_bytes())
    assert metrics["accuracy"] > 0.85, metrics
    preprocessing = orjson.loads((registry.path(version) / "preprocessing.json").read_bytes())
    assert {f["name"] for f in preprocessing["features"]} == {"tenure", "plan"}
    # the same file without its label column: a one-line error naming the column, not "0 labeled rows"
    unlabeled = tmp_path / "unlabeled.csv"
    frame.drop(columns=["churned"]).to_csv(unlabeled, index=False)
    error = run_cli(root, "train", "--data", str(unlabeled), "--contract", str(contract), expect_failure=True)
    assert f"{unlabeled} has no label column 'churned'" in error.strip().splitlines()[-1], error


def test_models_show_prints_the_lineage_of_a_version(default_registry: Path) -> None:
    shown = orjson.loads(run_cli(default_registry, "models", "show", "1"))
    lineage = shown["lineage"]
    assert lineage["parent"] is None and lineage["trigger"]["kind"] == "train", lineage  # the first: no parent
    assert lineage["window"]["kind"] == "scenario" and lineage["window"]["rows"] == 50_000, lineage
    assert lineage["window"]["source"].startswith("AgrawalSource(seed=7, "), lineage
    search = lineage["search"]
    assert search["seed"] == 7 and search["hyperparameters"]["hidden_layers"] == [64, 32], search
    assert search["hyperparameters"]["max_epochs"] == 50 and search["trials"] == 1, search


def labeled_csv(path: Path, n: int, *, classes: int, seed: int) -> Path:
    """A CSV with id, event_time and label columns: a churn-like binary task on (tenure, plan), or a wine-like
    multiclass one on three numeric measurements."""
    rng = np.random.default_rng(seed)
    ids, times = [f"r{i}" for i in range(n)], np.arange(n) * 1000 + 1_700_000_000_000
    if classes == 2:
        tenure, plan = rng.uniform(0, 60, n), rng.choice(["basic", "plus", "pro"], n)
        label = (((tenure < 24) | (plan == "basic")) ^ (rng.random(n) < 0.05)).astype(int)
        columns: dict[str, object] = {"tenure": tenure, "plan": plan}
    else:
        label = rng.integers(0, 3, n)
        columns = {name: rng.normal(label * (i + 1), 0.5) for i, name in
                   enumerate(("alcohol", "malic_acid", "color_intensity"))}  # fmt: skip
    pd.DataFrame({"id": ids, "event_time": times, **columns, "label": label}).to_csv(path, index=False)
    return path


CHURN_CONTRACT = ("name: churn\nlabel: {name: label, task: binary, classes: [0, 1]}\n"
                  "features:\n  - {name: tenure, kind: numeric, min: 0}\n  - {name: plan, kind: categorical}\n")
WINE_CONTRACT = ("name: wine\nlabel: {name: label, task: multiclass, classes: [0, 1, 2]}\nfeatures:\n"
                 "  - {name: alcohol, kind: numeric}\n  - {name: malic_acid, kind: numeric}\n"
                 "  - {name: color_intensity, kind: numeric}\n")  # fmt: skip


def one_error(stderr: str, marker: str) -> str:
    """The one line of a refusal (log lines and TensorFlow's start-up lines aside), with no traceback."""
    lines = [line for line in stderr.splitlines() if marker in line and not re.match(r"\d{4}-\d\d-\d\d ", line)]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_another_contract_is_refused_as_the_next_version_unless_declared_new(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    (tmp_path / "churn.yaml").write_text(CHURN_CONTRACT)
    (tmp_path / "wine.yaml").write_text(WINE_CONTRACT)
    churn = labeled_csv(tmp_path / "churn.csv", 3000, classes=2, seed=5)
    wine = labeled_csv(tmp_path / "wine.csv", 600, classes=3, seed=6)
    run_cli(root, "train", "--data", str(churn), "--contract", str(tmp_path / "churn.yaml"), "--epochs", "30")
    registry = Registry(root, "driftline")
    assert registry.alias("production").version == 1  # type: ignore[union-attr]
    wine_args = ["train", "--data", str(wine), "--contract", str(tmp_path / "wine.yaml"), "--epochs", "5"]

    refused = run_cli(root, *wine_args, expect_failure=True)
    line = one_error(refused, "another data contract")
    assert "production (version 1): the task is multiclass, production's is binary" in line, line
    assert "--new-contract" in line and [v.version for v in registry.versions()] == [1]  # refused before training

    run_cli(root, *wine_args, "--new-contract", "--no-promote")
    assert registry.latest().version == 2 and registry.alias("production").version == 1  # type: ignore[union-attr]
    shown = orjson.loads(run_cli(root, "models", "show", "2"))
    assert shown["new_contract"] == {"replaces": 1, "difference": "the task is multiclass, production's is binary"}
    lineage = shown["lineage"]
    assert lineage["parent"] == 1 and lineage["trigger"]["kind"] == "train", lineage
    assert lineage["window"] == {"kind": "file", "path": str(wine.resolve()), "rows": 600,
                                 "sha256": hashlib.sha256(wine.read_bytes()).hexdigest()}  # fmt: skip

    line = one_error(run_cli(root, "models", "promote", "2", expect_failure=True), "another data contract")
    assert line.endswith("version 2 is for another data contract than production (version 1): the task is "
                         "multiclass, production's is binary; if that is meant, say it is a new contract "
                         "(--new-contract)"), line  # fmt: skip
    assert registry.alias("production").version == 1  # type: ignore[union-attr]
    run_cli(root, "models", "promote", "2", "--new-contract")
    assert registry.alias("production").version == 2  # type: ignore[union-attr]


def test_a_first_model_on_six_rows_is_registered_but_not_promoted(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    (tmp_path / "churn.yaml").write_text(CHURN_CONTRACT)
    six = labeled_csv(tmp_path / "six.csv", 6, classes=2, seed=7)
    args = ["train", "--data", str(six), "--contract", str(tmp_path / "churn.yaml"), "--epochs", "3"]
    line = one_error(run_cli(root, *args, "--promote", expect_failure=True), "not promoted")
    assert line == ("version 1 is registered but not promoted: its test split has 1 rows, fewer than the 30 needed "
                    "to tell it from the majority-class baseline (trainer.min_holdout_rows)"), line  # fmt: skip
    registry = Registry(root, "driftline")
    assert registry.alias("production") is None and registry.latest().version == 1
    run_cli(root, *args)  # without --promote: the same refusal, said, and not an error
    assert registry.alias("production") is None and registry.latest().version == 2
