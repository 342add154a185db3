"""requirements/*.txt (make lock) are current with pyproject.toml: on every platform the locks cover, each requirement
of the install a lock is for is pinned there, at a version the requirement accepts, with hashes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCKS = {"worker.txt": (), "trainer.txt": ("ml",), "dev.txt": ("ml", "dev")}

# The platforms the universal locks must serve: x86-64 and ARM Linux (the images on either), macOS on Apple
# silicon, x86-64 Windows; each on the Python versions pyproject.toml allows.
PLATFORMS = {
    "linux-x86_64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"},
    "linux-aarch64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64"},
    "macos-arm64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64"},
    "windows-amd64": {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64"},
}
PYTHONS = ("3.11", "3.12", "3.13")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def _environments() -> list[tuple[str, dict[str, str]]]:
    return [
        (f"{name} py{py}", {**env, "python_version": py, "python_full_version": f"{py}.0", "implementation_name":
                            "cpython", "platform_python_implementation": "CPython", "os_name":
                            "nt" if env["sys_platform"] == "win32" else "posix"})
        for name, env in PLATFORMS.items()
        for py in PYTHONS
    ]  # fmt: skip


def _requirements(extras: tuple[str, ...]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def parse_lock(text: str) -> dict[str, list[tuple[str, Marker | None]]]:
    """Pinned name → [(version, marker)]; a universal lock may pin one name at several versions, by marker."""
    pins: dict[str, list[tuple[str, Marker | None]]] = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            name, version, marker = match.groups()
            pins.setdefault(canonicalize_name(name), []).append((version, Marker(marker) if marker else None))
    return pins


def unmet(requirements: list[Requirement], pins: dict[str, list[tuple[str, Marker | None]]]) -> list[str]:
    """Every (requirement, platform) the lock does not satisfy, as a readable line."""
    problems = []
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        for label, env in _environments():
            if requirement.marker is not None and not requirement.marker.evaluate(env):
                continue
            chosen = [v for v, m in pins.get(name, []) if m is None or m.evaluate(env)]
            if not chosen:
                problems.append(f"{requirement} is not pinned for {label}")
            elif not any(requirement.specifier.contains(v, prereleases=True) for v in chosen):
                problems.append(f"{requirement}: the lock pins {name}=={chosen[0]} for {label}")
    return problems


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_lock_is_current_with_pyproject(lock: str) -> None:
    path = ROOT / "requirements" / lock
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing: run `make lock`"
    problems = unmet(_requirements(LOCKS[lock]), parse_lock(path.read_text()))
    assert not problems, f"requirements/{lock} lags pyproject.toml; run `make lock`:\n  " + "\n  ".join(problems[:20])


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_pin_has_hashes(lock: str) -> None:
    """pip install --require-hashes (make venv, the Dockerfile) refuses a lock with an unhashed pin."""
    text = (ROOT / "requirements" / lock).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[-1])
    unhashed = [e.split()[0] for e in entries if "==" in e and "--hash=sha256:" not in e]
    assert not unhashed, f"requirements/{lock}: pins without hashes {unhashed}; run `make lock`"
    assert "make lock" in text.splitlines()[1], f"requirements/{lock} was not written by `make lock`"


def test_the_worker_lock_has_no_tensorflow() -> None:
    """The worker image installs requirements/worker.txt: workers run LiteRT alone."""
    pins = parse_lock((ROOT / "requirements" / "worker.txt").read_text())
    assert not {"tensorflow", "tensorflow-cpu", "keras"} & set(pins)


def test_tensorflow_comes_for_every_platform() -> None:
    """tensorflow-cpu has wheels for x86-64 Linux and Windows only: elsewhere the trainer gets tensorflow."""
    pins = parse_lock((ROOT / "requirements" / "trainer.txt").read_text())
    for label, env in _environments():
        chosen = [n for n in ("tensorflow", "tensorflow-cpu") for _, m in pins.get(n, []) if not m or m.evaluate(env)]
        expected = "tensorflow-cpu" if env["platform_machine"] in ("x86_64", "AMD64") else "tensorflow"
        assert chosen == [expected], f"{label}: the trainer lock installs {chosen}, expected [{expected!r}]"


def test_a_lagging_lock_is_caught() -> None:
    """The check itself: a requirement the lock does not satisfy is reported, naming the platform."""
    pins = parse_lock("numpy==1.26.4 \\\n    --hash=sha256:00\nrich==13.7.0 ; sys_platform == 'linux' \\\n")
    problems = unmet([Requirement("numpy>=2"), Requirement("rich>=13"), Requirement("orjson>=3")], pins)
    assert any(p.startswith("numpy>=2: the lock pins numpy==1.26.4") for p in problems)
    assert any(p == "rich>=13 is not pinned for macos-arm64 py3.11" for p in problems)
    assert any(p == "orjson>=3 is not pinned for linux-x86_64 py3.11" for p in problems)
    assert not unmet([Requirement("rich>=13; sys_platform == 'linux'")], pins)
