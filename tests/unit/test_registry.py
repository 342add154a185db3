"""The registry: whole-or-absent versions, manifests that catch tampering, refused kinds, aliases, writers."""

from __future__ import annotations

import concurrent.futures
import io
import os
import pickle
import subprocess
import sys
import threading
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from driftline.errors import IntegrityError, RegistryError, VersionNotFound
from driftline.registry import Registry, fingerprint_of


def fake_keras(*, lambda_layer: bool = False) -> bytes:
    """A minimal Keras v3 archive (the registry reads only config.json; Keras itself is not needed here)."""
    layers = [{"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "units": 1}}]
    if lambda_layer:
        layers.append({"module": "keras.layers", "class_name": "Lambda", "config": {"name": "sneaky"}})
    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "seq", "layers": layers}}
    buffer = io.BytesIO()
    members = {"metadata.json": b'{"keras_version": "3.15.1"}', "config.json": orjson.dumps(config),
               "model.weights.h5": b"weights"}  # fmt: skip
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            # a fixed time: a member named alone is stamped with the clock, and two archives made across a
            # 2-second boundary would differ (and so would their fingerprints)
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def artifacts(tag: str = "a") -> dict[str, Path | bytes]:
    return {
        "model.keras": fake_keras(),
        "preprocessing.json": orjson.dumps({"tag": tag}),
        "metrics.json": orjson.dumps({"roc_auc": 0.9, "accuracy": 0.8}),
    }


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "registry", "credit")


def test_versions_increase_and_are_listed(registry: Registry) -> None:
    assert [registry.register(artifacts(str(i))) for i in range(3)] == [1, 2, 3]
    listed = registry.versions()
    assert [info.version for info in listed] == [1, 2, 3]
    assert listed[0].metrics == {"roc_auc": 0.9, "accuracy": 0.8}
    assert listed[0].created_at.tzinfo is not None
    assert not any(info.is_production for info in listed)
    assert registry.latest().version == 3
    assert registry.get(2).path == registry.path(2)
    assert sorted(p.name for p in registry.path(1).iterdir()) == [
        "manifest.json",
        "metrics.json",
        "model.keras",
        "preprocessing.json",
    ]


def test_manifest_lists_sha256_and_fingerprint(registry: Registry, tmp_path: Path) -> None:
    source = tmp_path / "profile.json"
    source.write_bytes(b'{"features": []}')
    version = registry.register({**artifacts(), "profile.json": source}, metadata={"reason": "drift"})
    manifest = registry.verify(version)
    assert set(manifest.files) == {"model.keras", "preprocessing.json", "metrics.json", "profile.json"}
    assert all(len(digest) == 64 for digest in manifest.files.values())
    assert manifest.fingerprint == fingerprint_of(manifest.files)
    assert manifest.metadata == {"reason": "drift"}
    # Same content, same fingerprint: it identifies the artifacts, not the version number or the time.
    assert (
        registry.verify(registry.register({**artifacts(), "profile.json": source})).fingerprint
        == manifest.fingerprint
    )


def test_empty_registry(registry: Registry) -> None:
    assert registry.versions() == []
    assert registry.alias() is None
    with pytest.raises(VersionNotFound):
        registry.latest()
    with pytest.raises(VersionNotFound):
        registry.get(1)


def test_crash_before_rename_leaves_no_version(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*_: object) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(OSError, match="disk went away"):
        registry.register(artifacts())
    monkeypatch.undo()
    assert registry.versions() == []
    assert list(registry.model_dir.glob(".tmp-*")) == []  # cleaned up on the way out
    assert registry.register(artifacts()) == 1


def test_killed_writer_leaves_a_temp_dir_that_is_ignored_then_swept(registry: Registry) -> None:
    registry.register(artifacts())
    leftover = registry.model_dir / ".tmp-killed"
    leftover.mkdir()
    (leftover / "model.keras").write_bytes(b"half written")
    assert [info.version for info in registry.versions()] == [1]
    assert registry.register(artifacts()) == 2
    assert leftover.exists()  # too young to be swept: it could be another writer's work in progress
    os.utime(leftover, (0, 0))
    assert registry.register(artifacts()) == 3
    assert not leftover.exists()


def test_bad_source_mid_write_leaves_no_version(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="does not exist"):
        registry.register({**artifacts(), "training.json": tmp_path / "missing.json"})
    assert registry.versions() == []
    assert list(registry.model_dir.glob(".tmp-*")) == []


def test_verify_catches_a_tampered_file(registry: Registry) -> None:
    version = registry.register(artifacts())
    expected = registry.manifest(version).files["preprocessing.json"]
    (registry.path(version) / "preprocessing.json").write_bytes(b'{"tag": "evil"}')
    with pytest.raises(IntegrityError, match=r"preprocessing\.json") as caught:
        registry.verify(version)
    assert expected in str(caught.value) and "found" in str(caught.value)


def test_verify_catches_a_missing_file(registry: Registry) -> None:
    version = registry.register(artifacts())
    (registry.path(version) / "metrics.json").unlink()
    with pytest.raises(IntegrityError, match=r"'metrics.json' is missing"):
        registry.verify(version)


def test_verify_catches_an_extra_file(registry: Registry) -> None:
    version = registry.register(artifacts())
    (registry.path(version) / "extra.py").write_text("print('hi')")
    with pytest.raises(IntegrityError, match=r"'extra.py' is not in the manifest"):
        registry.verify(version)


def test_verify_catches_an_edited_manifest(registry: Registry) -> None:
    version = registry.register(artifacts())
    path = registry.path(version) / "manifest.json"
    raw = orjson.loads(path.read_bytes())
    raw["files"]["metrics.json"] = "0" * 64
    path.write_bytes(orjson.dumps(raw))
    with pytest.raises(IntegrityError, match=r"metrics\.json"):
        registry.verify(version)


@pytest.mark.parametrize("name", ["model.h5", "weights.hdf5", "model.pkl", "state.pickle", "model.joblib"])
def test_refused_kinds_by_name(registry: Registry, name: str) -> None:
    with pytest.raises(IntegrityError, match=r"refused file .*pickle/joblib execute code"):
        registry.register({**artifacts(), name: b"whatever"})
    assert registry.versions() == []


@pytest.mark.parametrize(
    ("content", "kind"), [(pickle.dumps({"a": 1}), "pickle"), (b"\x89HDF\r\n\x1a\n rest", "HDF5")]
)
def test_refused_kinds_by_content(registry: Registry, content: bytes, kind: str) -> None:
    with pytest.raises(IntegrityError, match=f"its content is {kind}"):
        registry.register({**artifacts(), "training.json": content})
    assert list(registry.model_dir.glob(".tmp-*")) == []


def test_model_keras_is_required_and_checked(registry: Registry) -> None:
    with pytest.raises(IntegrityError, match=r"needs model\.keras"):
        registry.register({"metrics.json": b"{}"})
    with pytest.raises(IntegrityError, match="not a Keras v3 archive"):
        registry.register({**artifacts(), "model.keras": b"not a zip"})
    with pytest.raises(IntegrityError, match="Lambda 'sneaky'"):
        registry.register({**artifacts(), "model.keras": fake_keras(lambda_layer=True)})
    with pytest.raises(IntegrityError, match="written by the registry"):
        registry.register({**artifacts(), "manifest.json": b"{}"})
    with pytest.raises(RegistryError, match="file name"):
        registry.register({**artifacts(), "../escape.json": b"{}"})
    assert registry.versions() == []


def test_promote_and_rollback_move_production_and_previous(registry: Registry) -> None:
    times = iter(datetime(2030, 1, 1, hour, tzinfo=UTC) for hour in range(10))
    registry = Registry(registry.root, registry.model, clock=lambda: next(times))
    for tag in "abc":
        registry.register(artifacts(tag))
    first = registry.promote(1)
    assert (first.version, first.previous) == (1, None)
    assert registry.promote(1) == first  # idempotent: previous is not overwritten by itself
    registry.promote(3)
    alias = registry.alias()
    assert alias is not None and (alias.version, alias.previous) == (3, 1)
    assert [info.is_production for info in registry.versions()] == [False, False, True]
    raw = orjson.loads((registry.model_dir / "aliases" / "production.json").read_bytes())
    assert raw == {"version": 3, "previous": 1, "set_at": alias.set_at.isoformat(timespec="milliseconds")}

    back = registry.rollback()
    assert (back.version, back.previous) == (1, None)
    assert registry.alias() == back
    with pytest.raises(VersionNotFound, match="no previous version"):
        registry.rollback()


def test_alias_refuses_missing_or_tampered_versions(registry: Registry) -> None:
    registry.register(artifacts())
    registry.register(artifacts())
    registry.promote(1)
    with pytest.raises(VersionNotFound):
        registry.promote(7)
    (registry.path(2) / "metrics.json").write_bytes(b'{"roc_auc": 1.0}')
    with pytest.raises(IntegrityError, match=r"metrics\.json"):
        registry.promote(2)
    alias = registry.alias()
    assert alias is not None and alias.version == 1


def test_alias_file_is_replaced_atomically(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    registry.register(artifacts())
    registry.register(artifacts())
    registry.promote(1)
    alias_path = registry.model_dir / "aliases" / "production.json"
    before = alias_path.read_bytes()
    inode = alias_path.stat().st_ino

    def crash(*_: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        registry.promote(2)
    monkeypatch.undo()
    assert alias_path.read_bytes() == before  # the old alias is intact, whole
    assert sorted(p.name for p in alias_path.parent.iterdir()) == ["production.json"]  # no temp file left

    registry.promote(2)
    assert alias_path.stat().st_ino != inode  # a new file renamed over the old one, not rewritten in place
    assert oct(alias_path.stat().st_mode & 0o777) == oct(0o644)


def test_concurrent_registers_from_threads_get_distinct_versions(registry: Registry) -> None:
    barrier = threading.Barrier(8)

    def write(tag: int) -> list[int]:
        barrier.wait()
        return [registry.register(artifacts(f"{tag}-{i}")) for i in range(3)]

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        versions = [v for chunk in pool.map(write, range(8)) for v in chunk]
    assert sorted(versions) == list(range(1, 25))
    assert all(registry.verify(v).version == v for v in versions)


_WRITER = """
import sys
from pathlib import Path
from driftline.registry import Registry
registry = Registry(Path(sys.argv[1]), "credit")
model = Path(sys.argv[2]).read_bytes()
print(" ".join(str(registry.register({"model.keras": model, "training.json": b"{}"})) for _ in range(5)))
"""


def test_concurrent_registers_from_processes_get_distinct_versions(
    registry: Registry, tmp_path: Path
) -> None:
    model = tmp_path / "model.keras"
    model.write_bytes(fake_keras())
    root = Path(__file__).resolve().parents[2]
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(registry.root), str(model)],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [writer.communicate(timeout=60)[0] for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0, 0]
    versions = [int(v) for out in outputs for v in out.split()]
    assert sorted(versions) == list(range(1, 16))
    assert [info.version for info in registry.versions()] == list(range(1, 16))


def test_registry_does_not_import_tensorflow() -> None:
    code = "import sys, driftline.registry, driftline.scoring; print('tensorflow' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"


def test_names_are_checked(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="model name"):
        Registry(tmp_path, "../other")
    with pytest.raises(RegistryError, match="alias name"):
        Registry(tmp_path, "ok").alias("../../etc/passwd")
