"""`pip install .` then `driftline stack up` from any directory: the built wheel carries every file the stack reads,
and the stack finds each through its package, never through the checkout or the working directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Run from elsewhere with only the installed wheel on the path: every file the stack and the demo read at run time,
# resolved by the functions they call.
RESOLVE = """
import json, re, sys
from pathlib import Path
import driftline, monitoring, stack
from driftline.contract import builtin_contract
from driftline.settings import Settings
from stack.kafka import KafkaService
from stack.services import AlertmanagerService, PrometheusService, monitoring_dir

settings = Settings()
flag = lambda command, name: next(a.split("=", 1)[1] for a in command if a.startswith(name + "="))
kafka = KafkaService(settings)
prometheus = Path(flag(PrometheusService(settings).command(), "--config.file"))
alertmanager = AlertmanagerService(settings)
alertmanager.write_config()
rules = re.findall(r"^  - (\\S+)$", prometheus.read_text(), re.M)
print(json.dumps({
    "modules": [m.__file__ for m in (driftline, monitoring, stack)],
    "monitoring": str(monitoring_dir()),
    "prometheus": str(prometheus),
    "rules": [str(prometheus.parent / r) for r in rules],
    "alertmanager": flag(alertmanager.command(), "--config.file"),
    "token": (Path(flag(alertmanager.command(), "--config.file")).parent / "trainer-token").read_text(),
    "log4j": flag(kafka.command(), "-Dlog4j.configuration").removeprefix("file:"),
    "pom_read": isinstance(kafka.jars_cached(), bool),
    "contract": builtin_contract().id_field,
    "data_dir": str(settings.stack.data_dir.resolve()),
    "registry": str(settings.registry.root.resolve()),
}))
"""


def _source_copy(target: Path) -> Path:
    """pyproject.toml, README.md and the packages, without the checkout's egg-info (setuptools would take its file
    list from a stale SOURCES.txt and hide a file missing from package-data)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, target / name)
    for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        shutil.copytree(ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source, out = _source_copy(tmp_path_factory.mktemp("source")), tmp_path_factory.mktemp("wheel")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                             str(source), "-w", str(out)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, f"pip wheel failed:\n{result.stderr[-2000:]}"
    return next(out.glob("driftline-*.whl"))


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The wheel installed on its own into a folder, resolved from a working directory outside the checkout."""
    site, cwd = tmp_path_factory.mktemp("site"), tmp_path_factory.mktemp("elsewhere")
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                             str(wheel)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, f"pip install --target failed:\n{result.stderr[-2000:]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    env |= {"PYTHONPATH": str(site), "DRIFTLINE_TRAINER__WEBHOOK_TOKEN": "token-from-the-setting"}
    result = subprocess.run([sys.executable, "-c", RESOLVE], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0, f"resolving the stack's files from {cwd} failed:\n{result.stderr[-3000:]}"
    return {"site": site, "cwd": cwd, **json.loads(result.stdout)}


def test_the_wheel_carries_the_stacks_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {
        "monitoring/prometheus/prometheus.yml",
        "monitoring/prometheus/rules/driftline.yml",
        "monitoring/alertmanager/alertmanager.yml",
        "stack/kafka-pom.xml",
        "stack/kafka-log4j.properties",
        "driftline/scenarios/agrawal.yaml",
    }
    assert wanted <= names, f"missing from the wheel: {sorted(wanted - names)}"
    # Grafana's provisioning and dashboards travel too (compose mounts them from the checkout)
    assert any(n.startswith("monitoring/grafana/dashboards/") and n.endswith(".json") for n in names)


def test_the_stack_finds_every_file_through_the_installed_package(installed: dict[str, object]) -> None:
    site = Path(str(installed["site"]))
    for module in installed["modules"]:  # type: ignore[attr-defined]
        assert Path(module).is_relative_to(site), f"imported {module}, not the installed wheel"
    paths = [installed[k] for k in ("monitoring", "prometheus", "log4j")] + list(installed["rules"])  # type: ignore[call-overload]
    assert installed["rules"], "prometheus.yml names no rule file"
    for path in map(Path, paths):
        assert path.is_relative_to(site), f"{path} is read from outside the installed package"
        assert path.exists(), f"{path} does not exist"
    assert installed["pom_read"] and installed["contract"] == "id"


def test_data_lands_under_the_working_directory(installed: dict[str, object]) -> None:
    """Run outside the checkout, `stack up` keeps its data in .driftline/ under the directory it runs in (the
    stack.data_dir and registry.root settings move it)."""
    cwd = Path(str(installed["cwd"])).resolve()
    assert Path(str(installed["data_dir"])) == cwd / ".driftline" / "stack"
    assert Path(str(installed["registry"])) == cwd / ".driftline" / "registry"
    config = Path(str(installed["alertmanager"]))
    assert config.is_relative_to(cwd / ".driftline" / "stack"), f"Alertmanager's config written to {config}"


def test_alertmanager_sends_the_token_the_trainer_setting_holds(installed: dict[str, object]) -> None:
    assert installed["token"] == "token-from-the-setting\n"
    token = Path(str(installed["alertmanager"])).parent / "trainer-token"
    assert token.stat().st_mode & 0o077 == 0, "the token file is readable by others"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian's prometheus / prometheus-alertmanager; `driftline stack up` "
                    "installs them)")  # fmt: skip
    return path


def test_prometheus_and_alertmanager_accept_the_installed_configs(installed: dict[str, object]) -> None:
    checks = [
        [_tool("promtool"), "check", "config", str(installed["prometheus"])],
        [_tool("promtool"), "check", "rules", *map(str, installed["rules"])],  # type: ignore[call-overload]
        [_tool("amtool"), "check-config", str(installed["alertmanager"])],
    ]
    for command in checks:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=str(installed["cwd"]))
        assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}{result.stderr}"
