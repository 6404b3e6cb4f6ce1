"""Rich tables for the terminal."""

from __future__ import annotations

from rich import box
from rich.console import Group, OverflowMethod, RenderableType
from rich.table import Table
from rich.text import Text

from cifarsweep.formatting import metric_value, spec_value_text
from cifarsweep.tracking.schema import TrialState

_STATE_STYLE = {
    TrialState.COMPLETE: "green",
    TrialState.PRUNED: "yellow",
    TrialState.FAIL: "red",
    TrialState.RUNNING: "cyan",
    TrialState.WAITING: "dim",
}


RUN_ID_WIDTH = 32  # MLflow run ids are 32 hex digits; `landscape RUN_ID` needs every one


def objective_cell(metric: str, row: dict) -> str:
    """The trial's value; for a pruned trial the last value the pruner saw, and its epoch."""
    if row["value"] is not None:
        return metric_value(metric, row["value"])
    if row.get("last_value") is not None and row["state"] == TrialState.PRUNED:
        return f"{metric_value(metric, row['last_value'])} (epoch {row['last_epoch']})"
    return ""


def status_table(sweep, rows: list[dict], front: set[int] | frozenset[int] = frozenset()) -> RenderableType:
    """One row per trial: number, state, swept values, seed, objective, epochs, run id; then the notes.

    Run ids are never cut (they are what `landscape RUN_ID` takes): on a narrow
    terminal the other columns wrap instead. Notes (why a trial was pruned,
    failed or retried) are lines under the table, so a long one squeezes nothing. ``front``: the
    trial numbers on the Pareto front (several objectives).
    """
    metric = sweep.spec.objective.metric
    names = sweep.spec.swept_params
    more = [o.metric for o in sweep.spec.all_objectives[1:]]
    goal = ", ".join(f"{o.resolved_direction} {o.metric}" for o in sweep.spec.all_objectives)
    table = Table(
        title=f"sweep {sweep.name} ({sweep.spec.sweep.kind}, {goal})",
        box=box.SIMPLE_HEAD,  # no vertical rules and no padding: more room for the values at 80 columns
        padding=0,
        pad_edge=False,
    )
    wrap: OverflowMethod = "fold"  # wrap rather than cut with an ellipsis
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("state", no_wrap=True, min_width=len(TrialState.COMPLETE))
    if sweep.spec.sweep.variants:
        table.add_column("variant", overflow=wrap)
    for name in names:
        table.add_column(name, overflow=wrap)
    table.add_column("seed", justify="right", overflow=wrap)
    table.add_column(metric, justify="right", overflow=wrap)
    for other in more:
        table.add_column(other, justify="right", overflow=wrap)
    if more:
        table.add_column("Pareto", justify="center", no_wrap=True)
    table.add_column("epochs", justify="right", overflow=wrap)
    table.add_column("MLflow run", no_wrap=True, min_width=RUN_ID_WIDTH)
    notes = []
    for row in rows:
        params = row["params"] or {}
        style = _STATE_STYLE.get(row["state"], "")
        cells = [str(row["trial"]), f"[{style}]{row['state']}[/{style}]" if style else row["state"]]
        if sweep.spec.sweep.variants:
            cells.append(row["variant"] or "")
        cells += [spec_value_text(params[name]) if name in params else "" for name in names]
        cells += ["" if row["seed"] is None else str(row["seed"]), objective_cell(metric, row)]
        if more:
            values = row.get("values") or []
            cells += [metric_value(m, values[i + 1]) if len(values) > i + 1 else "" for i, m in enumerate(more)]
            cells.append("*" if row["trial"] in front else "")
        cells.append(str(row["epochs"]))
        table.add_row(*cells, row["run_id"])
        if row["note"]:
            notes.append(Text(f"#{row['trial']}: {row['note']}", overflow="fold"))
    return Group(table, *notes) if notes else table
