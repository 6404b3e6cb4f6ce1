"""Markdown generated from the code, so the README's field table cannot drift.

``python -m cifarsweep.config.docs`` prints the training-config table.
"""

from __future__ import annotations

from cifarsweep.config.training import TrainConfig


def _show(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def field_table() -> str:
    """One row per training-config field: name, default, meaning."""
    rows = ["| field | default | meaning |", "|---|---|---|"]
    for name, info in TrainConfig.model_fields.items():
        rows.append(f"| `{name}` | `{_show(info.default)}` | {info.description} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(field_table())
