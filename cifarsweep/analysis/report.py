"""A sweep's report: every figure as a PNG with the CSV of its numbers, trials.csv and index.html.

``write_report(ReportOptions(...))`` reads the sweep (``tracking.query``),
checks every option against what the sweep holds and computes every frame
before it writes anything, so bad input leaves no files behind. The figures are
then written to ``reports/<sweep>/`` (or ``out``) and logged as artifacts of
the sweep's parent run under ``report/``, so the MLflow UI shows them too.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cifarsweep.analysis import frames, html
from cifarsweep.errors import UserError
from cifarsweep.tracking.query import SweepFrames, load_sweep
from cifarsweep.tracking.store import local_artifact_dir

log = logging.getLogger("cifarsweep.report")
CURVE_METRICS = ("val_acc", "val_loss")
SCHEDULE_PARAMS = ("lr", "scheduler")
REPORTS_DIR = Path("reports")
ARTIFACT_DIR = "report"
DPI = 110


@dataclass
class ReportOptions:
    """What ``cifarsweep report`` was asked for (no plot option: every figure that fits)."""

    sweep: str | None = None
    heatmap: tuple[str, str] | None = None
    facet: str | None = None
    agg: str = "mean"
    curves: Sequence[str] = ()
    x: str = "epoch"
    ablation: bool = False
    metric: str | None = None
    out: Path | None = None
    tracking_uri: str | None = None
    storage: str | None = None
    run: str | None = None
    log_artifacts: bool = True

    @property
    def selects_plots(self) -> bool:
        return bool(self.heatmap or self.curves or self.ablation)


@dataclass
class Figure:
    """One figure of the page: its file stem, the numbers it shows and how to draw them."""

    name: str
    heading: str
    caption: str
    table: pd.DataFrame
    draw: Callable[[], object]
    notes: list[str] = field(default_factory=list)
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)  # more CSVs of numbers the figure shows


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "report"


def write_report(options: ReportOptions) -> Path:
    """Write the report and return its folder (``index.html`` is inside)."""
    if options.run:
        from cifarsweep.analysis.run_report import write_run_report

        return write_run_report(options.run, options.out, options.tracking_uri)
    data = load_sweep(options.sweep, options.tracking_uri, metrics=set(CURVE_METRICS) | {options.metric or "val_acc"})
    plan = _plan(data, options)
    out = Path(options.out) if options.out else REPORTS_DIR / slug(data.sweep.name)
    out.mkdir(parents=True, exist_ok=True)
    from cifarsweep.analysis.style import close

    for item in plan.figures:
        figure = item.draw()
        figure.savefig(out / f"{item.name}.png", dpi=DPI)
        close(figure)
        item.table.to_csv(out / f"{item.name}.csv", index=False)
        for name, table in item.extra.items():
            table.to_csv(out / f"{name}.csv", index=False)
    data.trials.to_csv(out / "trials.csv", index=False)
    best_run = _best_run_report(data, plan, out) if not options.selects_plots else None
    (out / "index.html").write_text(html.sweep_page(data, plan, best_run), encoding="utf-8")
    if options.log_artifacts:
        _log_to_parent(data, out)
    return out


# -- what to draw ------------------------------------------------------------------------------
@dataclass
class Plan:
    metric: str
    direction: str
    swept: list[str]
    figures: list[Figure]


def _check_param(data: SweepFrames, option: str, name: str) -> None:
    if name in data.param_names:
        return
    swept = ", ".join(data.sweep.swept_params) or "none"
    others = ", ".join(p for p in data.param_names if p not in data.sweep.swept_params)
    raise UserError(f"{option}: unknown parameter {name!r} (swept: {swept}; other training fields: {others})")


def _validate(data: SweepFrames, options: ReportOptions) -> tuple[str, str]:
    trials, sweep = data.trials, data.sweep
    done = frames.finished(trials)
    if done.empty:
        counts = trials["state"].value_counts() if not trials.empty else pd.Series(dtype=int)
        states = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no trials at all"
        raise UserError(
            f"sweep {sweep.name!r} has no finished trials yet ({states}); run `cifarsweep status {sweep.name}`"
        )
    metric = options.metric or sweep.objective
    if metric not in data.metric_names:
        raise UserError(
            f"--metric: no run of sweep {sweep.name!r} has metric {metric!r} (available: {', '.join(data.metric_names)})"
        )
    if options.heatmap:
        for name in options.heatmap:
            _check_param(data, "--heatmap", name)
        if options.heatmap[0] == options.heatmap[1]:
            raise UserError(f"--heatmap: give two different parameters (got {options.heatmap[0]} twice)")
    if options.facet:
        _check_param(data, "--facet", options.facet)
        if options.heatmap and options.facet in options.heatmap:
            raise UserError(f"--facet: {options.facet} is already an axis of the heatmap")
    for name in options.curves:
        _check_param(data, "--curves", name)
    if options.agg not in ("mean", "max"):
        raise UserError(f"--agg: expected mean or max (got {options.agg!r})")
    if options.x not in ("epoch", "time"):
        raise UserError(f"--x: expected epoch or time (got {options.x!r})")
    if options.ablation and trials["variant"].dropna().empty:
        raise UserError(f"--ablation: sweep {sweep.name!r} has no variants (a spec with sweep.variants makes them)")
    direction = (
        sweep.direction if metric == sweep.objective else ("minimize" if frames.lower_is_better(metric) else "maximize")
    )
    return metric, direction


def _plan(data: SweepFrames, options: ReportOptions) -> Plan:
    metric, direction = _validate(data, options)
    swept = [p for p in data.sweep.swept_params if p in data.param_names and p != "seed"]
    plan = Plan(metric, direction, swept, [])
    heatmap = options.heatmap
    facet = options.facet
    if not options.selects_plots:
        # A heatmap fits a grid; the few scattered points of a search show better in parallel coordinates.
        axes = [p for p in swept if p != facet]
        if len(axes) >= 2 and not data.sweep.is_optuna_search:
            heatmap = (axes[0], axes[1])
            facet = facet or (axes[2] if len(axes) >= 3 else None)
        elif facet:
            raise UserError(
                f"--facet needs --heatmap X Y here (sweep {data.sweep.name!r}: {data.sweep.sampler}, "
                f"swept {', '.join(swept) or 'nothing'})"
            )
    if heatmap:
        plan.figures.append(_heatmap_figure(data, plan, heatmap, facet, options.agg))
    curve_params = list(options.curves) if options.selects_plots else swept
    for param in curve_params:
        plan.figures.append(_curves_figure(data, plan, param, options))
    has_variants = not data.trials["variant"].dropna().empty
    if options.ablation or (not options.selects_plots and has_variants):
        plan.figures.append(_ablation_figure(data, plan))
    if not options.selects_plots and data.sweep.is_optuna_search and swept:
        from cifarsweep.analysis.search_figures import search_figures

        plan.figures.extend(search_figures(data, plan, options.storage))
    return plan


def _agg_words(agg: str, others: list[str], curves: bool = False) -> str:
    if not others:
        return ""
    names = ", ".join(others)
    if agg == "max":
        return f" Other swept parameters ({names}): the best cell is shown (best_of in the CSV names it)."
    if curves:
        return f" Other swept parameters ({names}) are pooled: each line averages every run with its value."
    return (
        f" Other swept parameters ({names}) are averaged: the mean of the cells' means; the interval "
        "pools the spread over seeds within the cells."
    )


def _heatmap_figure(data: SweepFrames, plan: Plan, axes: tuple[str, str], facet: str | None, agg: str) -> Figure:
    from cifarsweep.analysis import plots

    x, y = axes
    table = frames.cell_table(
        data.trials,
        plan.metric,
        x,
        y,
        facet=facet,
        swept=plan.swept,
        agg=agg,
        direction=plan.direction,
        levels=_grid_levels(data),
    )
    keys = [k for k in (facet, y, x) if k]
    blanks = frames.blank_cells(table, keys)
    others = [p for p in plan.swept if p not in keys]
    label = frames.metric_label(plan.metric)
    title = f"{data.sweep.name}: {label} by {x} and {y}" + (f", one panel per {facet}" if facet else "")
    name = f"heatmap_{x}_{y}" + (f"_by_{facet}" if facet else "")
    caption = (
        f"Mean {label} of the finished runs in each cell over seeds; with two or more seeds, ± the half-width "
        f"of its 95% confidence interval (Student t).{_agg_words(agg, others)}"
    )
    notes = [f"Blank cells (no finished run): {'; '.join(blanks)}."] if blanks else []
    return Figure(name, title, caption, table, lambda: plots.heatmap(table, x, y, facet, title), notes)


def _grid_levels(data: SweepFrames) -> dict:
    """The values a grid spec lists, so cells whose runs never started show as blanks too."""
    sweep = data.sweep.spec.get("sweep") or {}
    if not isinstance(sweep, dict) or sweep.get("kind", "grid") != "grid":
        return {}
    return {k: v for k, v in (sweep.get("params") or {}).items() if isinstance(v, list)}


def _curves_figure(data: SweepFrames, plan: Plan, param: str, options: ReportOptions) -> Figure:
    from cifarsweep.analysis import plots

    per_epoch = set(data.metrics["metric"].astype(str).unique()) if not data.metrics.empty else set()
    metrics = [m for m in dict.fromkeys(CURVE_METRICS + (plan.metric,)) if m in per_epoch]
    table = frames.curve_table(
        data.trials,
        data.metrics,
        param,
        metrics,
        swept=plan.swept,
        agg=options.agg,
        objective=plan.metric,
        direction=plan.direction,
    )
    lr_table = (
        frames.lr_schedule_table(data.trials, param, plan.metric, plan.direction) if param in SCHEDULE_PARAMS else None
    )
    axis = "wall-clock time" if options.x == "time" else "epoch"
    names = [frames.metric_label(m).split(" (")[0] for m in metrics]
    title = f"{data.sweep.name}: {' and '.join(names)} per {axis}, by {param}"
    others = [p for p in plan.swept if p != param]
    caption = (
        f"Finished runs only. Lines: the mean per value of {param}; bands: 95% confidence interval of that mean "
        f"over its runs at each epoch.{_agg_words(options.agg, others, curves=True)}"
    )
    if lr_table is not None:
        caption += (
            " Right: the learning rate at each batch step (x in epochs) of the best run's config for each "
            "value, as optim.lr_schedule steps it."
        )
    name = f"curves_{param}" + ("_time" if options.x == "time" else "")
    figure = Figure(name, title, caption, table, lambda: plots.curves(table, param, options.x, lr_table, title))
    if lr_table is not None:
        figure.extra[f"{name}_lr"] = lr_table
    return figure


def _ablation_figure(data: SweepFrames, plan: Plan) -> Figure:
    from cifarsweep.analysis import plots

    metric = plan.metric if plan.metric != "gen_gap" else "val_acc"
    table = frames.ablation_table(data.trials, metric)
    reference = table.loc[table["reference"], "variant"]
    ref = str(reference.iloc[0]) if len(reference) else "?"
    label = frames.metric_label(metric).split(" (")[0]
    title = f"{data.sweep.name}: {label} and generalisation gap per variant, against the full recipe ({ref})"
    caption = (
        f"Final {frames.metric_label(metric)} and the generalisation gap (clean training accuracy minus "
        f"validation accuracy, percentage points) per variant; error bars: 95% confidence interval over seeds; "
        f"dashed: the {ref} recipe. delta in the CSV is the difference to it."
    )
    return Figure("ablation", title, caption, table, lambda: plots.ablation(table, title))


def _best_run_report(data: SweepFrames, plan: Plan, out: Path) -> Path | None:
    from cifarsweep.analysis.run_report import write_run_report

    done = frames.finished(data.trials, plan.metric)
    if done.empty:
        return None
    best = done.sort_values(frames.M + plan.metric, ascending=plan.direction == "minimize").iloc[0]
    try:
        return write_run_report(str(best["run_id"]), out / "best_run", data.tracking_uri)
    except Exception as exc:  # a page of the best run is a bonus; the sweep's report stands without it
        log.warning("could not write the best run's page: %s", exc)
        return None


def _log_to_parent(data: SweepFrames, out: Path) -> None:
    """Copy the report into the parent run's artifacts (``report/``): the MLflow UI shows it there."""
    try:
        local = local_artifact_dir(data.sweep.artifact_uri)
        if local is not None:
            shutil.copytree(out, local / ARTIFACT_DIR, dirs_exist_ok=True)
        else:
            from cifarsweep.tracking.store import client

            client(data.tracking_uri).log_artifacts(data.sweep.parent_run_id, str(out), ARTIFACT_DIR)
    except Exception as exc:  # the files are written; only the copy in MLflow is missing
        log.warning("report written, but not logged to the parent run %s: %s", data.sweep.parent_run_id, exc)
