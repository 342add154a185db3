from __future__ import annotations

from pathlib import Path

from driftline.settings import settings_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_settings_table_is_generated_from_the_settings_object() -> None:
    text = README.read_text()
    table = text.split("<!-- settings:begin -->\n", 1)[1].split("\n<!-- settings:end -->", 1)[0]
    assert table == settings_markdown(), "README settings table is stale: paste the output of `driftline settings`"


def test_readme_has_the_two_commands() -> None:
    text = README.read_text()
    assert "make demo" in text and "make test" in text
