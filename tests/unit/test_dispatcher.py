"""`driftline COMMAND` hands over to each part's own entry point, and `driftline produce` never loads TensorFlow."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from driftline.cli import COMMANDS, main, usage
from harness.processes import ROOT


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_reaches_a_parser_of_its_own(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    module, _, _ = COMMANDS[command]
    assert callable(importlib.import_module(module).main)
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_usage_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["--help"]) == 0
    assert all(f"  {name} " in usage() for name in COMMANDS)
    assert main(["no-such-command"]) == 2
    assert "unknown command 'no-such-command'" in capsys.readouterr().err


def test_settings_is_the_core_s_own(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["settings"]) == 0
    assert "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["produce", "stack", "report"])
def test_light_commands_import_no_tensorflow(command: str) -> None:
    argv, absent = [command, "--help"], "tensorflow"
    code = (
        "import sys\nfrom driftline.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"sys.exit(3 if {absent!r} in sys.modules else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{absent} was imported by driftline {' '.join(argv)}:\n{result.stderr[-2000:]}"


def test_the_core_s_public_names_resolve_and_its_import_stays_light() -> None:
    import driftline

    assert all(getattr(driftline, name) is not None for name in driftline.__all__)
    code = "import sys, driftline.settings, driftline.messages\nsys.exit(3 if 'pandas' in sys.modules else 0)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
