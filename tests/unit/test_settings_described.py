"""Every setting says what it does: the README's table is generated from these descriptions."""

from __future__ import annotations

from pydantic import BaseModel

from driftline.settings import Settings, settings_markdown


def _fields() -> list[tuple[str, str | None]]:
    found = []
    for section, field in Settings.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            found += [(f"{section}.{name}", leaf.description) for name, leaf in model.model_fields.items()]
        else:
            found.append((section, field.description))
    return found


def test_every_setting_has_a_description() -> None:
    undescribed = [name for name, description in _fields() if not (description or "").strip()]
    assert not undescribed, f"settings without a description: {undescribed}"


def test_every_table_row_has_text_in_its_last_column() -> None:
    rows = settings_markdown().splitlines()[2:]
    assert len(rows) == len(_fields())
    empty = [row for row in rows if not row.split("|", 3)[3].rstrip().removesuffix("|").strip()]
    assert not empty, empty
