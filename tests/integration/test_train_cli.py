"""`driftline train` and `driftline models` as a user runs them (real processes, a registry of the test's own, and
a signing key of its own: the commands sign what they release and verify what they promote)."""

from __future__ import annotations

import os
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
