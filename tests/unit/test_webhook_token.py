"""The webhook token's rules: the repository's default only on loopback, a token file (docker secrets style) or the
secret setting, and a trainer that refuses to start otherwise with one line and exit 2 (the /alerts checks:
test_trainer_service.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.errors import ConfigError
from driftline.settings import DEFAULT_WEBHOOK_TOKEN, TrainerSettings
from trainer.app import webhook_token
from trainer.cli import main as trainer_main


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_the_default_token_is_allowed_on_loopback(host: str) -> None:
    assert webhook_token(TrainerSettings(host=host)) == DEFAULT_WEBHOOK_TOKEN


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "trainer.internal", ""])
def test_the_default_token_is_refused_anywhere_else(host: str) -> None:
    with pytest.raises(ConfigError, match=f"trainer.host is {host}, not loopback, and the webhook token is the"):
        webhook_token(TrainerSettings(host=host))
    assert webhook_token(TrainerSettings(host=host, webhook_token="an-own-secret")) == "an-own-secret"  # type: ignore[arg-type]


def test_the_token_is_read_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("  from-a-secret-file\n")
    assert webhook_token(TrainerSettings(host="0.0.0.0", webhook_token_file=secret)) == "from-a-secret-file"
    secret.write_text(DEFAULT_WEBHOOK_TOKEN + "\n")  # the default in a file is still the default
    with pytest.raises(ConfigError, match="not loopback"):
        webhook_token(TrainerSettings(host="0.0.0.0", webhook_token_file=secret))
    secret.write_text("\n")
    with pytest.raises(ConfigError, match="is empty: expected the token"):
        TrainerSettings(webhook_token_file=secret).token()
    with pytest.raises(ConfigError, match="cannot read it"):
        TrainerSettings(webhook_token_file=tmp_path / "missing").token()
    both = TrainerSettings(webhook_token="never-printed", webhook_token_file=secret)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"set trainer\.webhook_token or trainer\.webhook_token_file, not both") as e:
        both.token()
    assert "never-printed" not in str(e.value)


def test_trainer_serve_refuses_to_start_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("DRIFTLINE_TRAINER__HOST", "0.0.0.0")
    monkeypatch.delenv("DRIFTLINE_TRAINER__WEBHOOK_TOKEN", raising=False)
    monkeypatch.delenv("DRIFTLINE_TRAINER__WEBHOOK_TOKEN_FILE", raising=False)
    assert trainer_main(["serve"]) == 2  # returns before anything listens
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "DRIFTLINE_TRAINER__WEBHOOK_TOKEN_FILE" in err, err
