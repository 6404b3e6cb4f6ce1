"""Rich tables for the terminal."""

from __future__ import annotations

from rich.table import Table

from cifarsweep.space import format_value

_STATE_STYLE = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red", "RUNNING": "cyan", "WAITING": "dim"}


def trials_table(sweep, rows: list[dict]) -> Table:
    """One row per trial: number, state, swept values, seed, objective, epochs, run id, note."""
    metric = sweep.spec.objective.metric
    names = sweep.spec.swept_params
    table = Table(
        title=f"sweep {sweep.name} ({sweep.spec.sweep.kind}, {sweep.spec.objective.resolved_direction} {metric})"
    )
    table.add_column("#", justify="right")
    table.add_column("state")
    if sweep.spec.sweep.variants:
        table.add_column("variant")
    for name in names:
        table.add_column(name)
    table.add_column("seed", justify="right")
    table.add_column(metric, justify="right")
    table.add_column("epochs", justify="right")
    table.add_column("MLflow run")
    table.add_column("note")
    for row in rows:
        params = row["params"] or {}
        style = _STATE_STYLE.get(row["state"], "")
        cells = [str(row["trial"]), f"[{style}]{row['state']}[/{style}]" if style else row["state"]]
        if sweep.spec.sweep.variants:
            cells.append(row["variant"] or "")
        cells += [format_value(params[name]) if name in params else "" for name in names]
        cells += [
            "" if row["seed"] is None else str(row["seed"]),
            "" if row["value"] is None else f"{row['value']:.4f}",
            str(row["epochs"]),
            row["run_id"],
            row["note"],
        ]
        table.add_row(*cells)
    return table
