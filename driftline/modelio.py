"""Model I/O: load a ``.keras`` archive safely, and nothing else (DESIGN section 4).

A model file is data, not code. Keras is asked for ``safe_mode=True, compile=False``; before that, the
archive's ``config.json`` is read with zipfile and json alone, so a ``Lambda`` layer (Python code inside the
model) is refused with a clear message, and so :mod:`driftline.registry` can run the same check at register
time without TensorFlow. TensorFlow/Keras are imported lazily, inside the functions that need them: the
producer never imports them.
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.errors import DriftlineError, IntegrityError

if TYPE_CHECKING:
    import keras

__all__ = [
    "REFUSED_SUFFIXES",
    "inspect_keras_archive",
    "load_keras",
    "refuse_unsafe_content",
    "refuse_unsafe_name",
    "require_keras",
]

logger = logging.getLogger(__name__)

#: File kinds that execute code or bypass the Keras v3 format on load: refused everywhere.
REFUSED_SUFFIXES = frozenset({".h5", ".hdf5", ".pkl", ".pickle", ".joblib"})
# Serialised class names that mean "Python code inside the model".
_CODE_CLASS_NAMES = frozenset({"Lambda", "__lambda__"})
# HDF5 and pickle (protocols 2-5) announce themselves in their first bytes, whatever the file is called.
_REFUSED_MAGIC = {b"\x89HDF\r\n\x1a\n": "HDF5", **{b"\x80" + bytes([p]): "pickle" for p in range(2, 6)}}
_MAX_CONFIG_BYTES = 16 * 1024 * 1024
_INSTALL_HINT = "pip install 'driftline[ml]'"


def refuse_unsafe_name(name: str | Path) -> None:
    """Raise IntegrityError if a file name has a refused kind (.h5, .hdf5, pickle, joblib)."""
    suffixes = {suffix.lower() for suffix in Path(name).suffixes}
    refused = sorted(suffixes & REFUSED_SUFFIXES)
    if refused:
        raise IntegrityError(
            f"refused file {Path(name).name!r}: {', '.join(refused)} files are not accepted "
            "(pickle/joblib execute code on load, HDF5 is the legacy Keras format); "
            "expected a .keras archive for models and JSON for everything else"
        )


def refuse_unsafe_content(name: str, head: bytes) -> None:
    """Raise IntegrityError if a file's first bytes are HDF5 or pickle, whatever its name says."""
    for magic, kind in _REFUSED_MAGIC.items():
        if head.startswith(magic):
            raise IntegrityError(f"refused file {name!r}: its content is {kind}, which is never accepted")


def require_keras() -> Any:
    """Import and return the ``keras`` module, or raise DriftlineError naming the extra to install."""
    try:
        import keras
    except ImportError as exc:
        raise DriftlineError(
            f"TensorFlow/Keras is not installed; the model half needs it: {_INSTALL_HINT}"
        ) from exc
    return keras


def inspect_keras_archive(path: Path) -> dict[str, Any]:
    """Check that ``path`` is a Keras v3 ``.keras`` zip without code in it; return its parsed ``config.json``.

    Pure zipfile/json (no TensorFlow), so the registry can refuse a bad model when it is registered, not only
    when a worker loads it.
    """
    path = Path(path)
    refuse_unsafe_name(path)
    if path.suffix.lower() != ".keras":
        raise IntegrityError(
            f"refused model file {path.name!r}: expected a .keras archive, found {path.suffix!r}"
        )
    if not path.is_file():
        raise IntegrityError(f"model file {str(path)!r} is missing: expected a .keras archive")
    if not zipfile.is_zipfile(path):
        raise IntegrityError(
            f"model file {path.name!r} is not a Keras v3 archive: expected a zip, found other bytes"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            try:
                info = archive.getinfo("config.json")
            except KeyError:
                raise IntegrityError(
                    f"model file {path.name!r} has no config.json: expected a Keras v3 archive, "
                    f"found members {archive.namelist()[:10]}"
                ) from None
            if info.file_size > _MAX_CONFIG_BYTES:
                raise IntegrityError(
                    f"model file {path.name!r}: config.json is {info.file_size} bytes, "
                    f"expected at most {_MAX_CONFIG_BYTES}"
                )
            config = json.loads(archive.read(info))
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"model file {path.name!r} cannot be read as a Keras v3 archive: {exc}") from exc
    if not isinstance(config, dict):
        raise IntegrityError(
            f"model file {path.name!r}: config.json should hold an object, found {type(config).__name__}"
        )
    code_layers = sorted(set(_code_objects(config)))
    if code_layers:
        raise IntegrityError(
            f"refused model file {path.name!r}: it contains Lambda layers or Python lambdas "
            f"({', '.join(code_layers)}), which run arbitrary code when loaded; "
            "expected built-in Keras layers only"
        )
    return config


def load_keras(path: Path) -> keras.Model:
    """Load a ``.keras`` model with ``safe_mode=True, compile=False`` after the archive checks above.

    Every failure (refused kind, Lambda, unreadable archive, Keras error) is an IntegrityError, so a caller
    that swaps models keeps the old one on any of them.
    """
    path = Path(path)
    inspect_keras_archive(path)
    keras = require_keras()
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except ValueError as exc:
        if "Lambda" in str(exc) or "safe_mode" in str(exc):
            raise IntegrityError(
                f"refused model file {path.name!r}: Keras safe mode found code inside it (a Lambda layer "
                f"or a Python lambda); expected only built-in Keras layers. Keras said: {exc}"
            ) from exc
        raise IntegrityError(f"model file {path.name!r} cannot be loaded by Keras: {exc}") from exc
    except Exception as exc:  # a trust boundary: whatever Keras raises on a bad file becomes one kind
        raise IntegrityError(f"model file {path.name!r} cannot be loaded by Keras: {exc!r}") from exc
    if not isinstance(model, keras.Model):
        raise IntegrityError(
            f"model file {path.name!r}: expected a keras.Model, found {type(model).__name__}"
        )
    logger.info("loaded Keras model path=%s", path)
    return model


def _code_objects(node: object, where: str = "config") -> Iterator[str]:
    """Yield a description of every serialised object whose class is Lambda or a Python lambda."""
    if isinstance(node, dict):
        class_name = node.get("class_name")
        if isinstance(class_name, str) and class_name in _CODE_CLASS_NAMES:
            config = node.get("config")
            name = config.get("name") if isinstance(config, dict) else None
            yield f"{class_name} {name!r}" if isinstance(name, str) else f"{class_name} at {where}"
        for key, value in node.items():
            yield from _code_objects(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _code_objects(value, f"{where}[{index}]")
