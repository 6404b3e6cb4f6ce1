"""A sweep's report: every figure as a PNG with the CSV of its numbers, trials.csv and index.html.

``render_report(ReportOptions(...))`` reads the sweep (``tracking.query``),
checks every option against what the sweep holds and computes every frame
before it writes anything, so bad input leaves no files behind. The figures are
then written to ``reports/<sweep>/`` (or ``out``) and logged as artifacts of
the sweep's parent run under ``report/``, so the MLflow UI shows them too.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cifarsweep.analysis import frames, html, pareto, plots, seed_report, stats
from cifarsweep.analysis.configs import PAIRED_METRICS
from cifarsweep.analysis.figure import DPI, REPORTS_DIR, Figure, Plan, slug
from cifarsweep.analysis.run_report import write_run_report
from cifarsweep.analysis.search_figures import search_figures
from cifarsweep.analysis.search_frames import last_values
from cifarsweep.analysis.style import close
from cifarsweep.errors import UserError
from cifarsweep.metrics import lower_is_better, metric_label
from cifarsweep.tracking.client import local_artifact_dir
from cifarsweep.tracking.predictions import read_predictions
from cifarsweep.tracking.query import SweepFrames, load_sweep

__all__ = ["DPI", "REPORTS_DIR", "Figure", "Plan", "ReportOptions", "slug", "render_report"]

log = logging.getLogger("cifarsweep.report")
CURVE_METRICS = ("val_acc", "val_loss")
SCHEDULE_PARAMS = ("lr", "scheduler")
ARTIFACT_DIR = "report"
MANIFEST = "report.json"  # the pages made so far for this sweep: the full index lists them all
MIN_TRIALS = 5  # fewer completed trials than this: the page says the report is thin

# Given the sweep's frames and the plan, the parameter importances and where they came from;
# Optuna lives with the stores, so the caller (``cifarsweep.api.report``) passes this in.
ImportanceSource = Callable[[SweepFrames, Plan], "tuple[pd.DataFrame, str]"]


@dataclass
class ReportOptions:
    """What ``cifarsweep report`` was asked for (no plot option: every figure that fits)."""

    sweep: str | None = None
    heatmap: tuple[str, str] | None = None
    facet: str | None = None
    agg: str = "max"
    curves: Sequence[str] = ()
    x: str = "epoch"
    ablation: bool = False
    metric: str | None = None
    out: Path | None = None
    tracking_uri: str | None = None
    storage: str | None = None
    run: str | None = None
    log_artifacts: bool = True
    alpha: float = 0.05  # the level of the group of configurations not distinguishable from the best

    @property
    def selects_plots(self) -> bool:
        return bool(self.heatmap or self.curves or self.ablation)


def render_report(options: ReportOptions, importances: ImportanceSource | None = None) -> Path:
    """Write the report and return its page: ``index.html`` for the full report, its own page for a partial one.

    A partial request (``--heatmap``, ``--curves``, ``--ablation``) never
    replaces the full report's ``index.html``; it adds its page to the list of
    pages there.
    """
    if options.run:
        return write_run_report(options.run, options.out, options.tracking_uri) / "index.html"
    data = load_sweep(options.sweep, options.tracking_uri, metrics=set(CURVE_METRICS) | {options.metric or "val_acc"})
    plan = _plan(data, options, importances)
    out = Path(options.out) if options.out else REPORTS_DIR / slug(data.sweep.name)
    out.mkdir(parents=True, exist_ok=True)
    _write_figures(plan.figures, out)
    data.trials.to_csv(out / "trials.csv", index=False)
    seeds_html = ""
    if plan.seeds is not None and not options.selects_plots:
        plan.seeds.configs.to_csv(out / seed_report.CONFIGS_CSV, index=False)
        seeds_html = seed_report.html_section(plan.seeds)
    last = last_values(data.metrics, plan.metric)
    if options.selects_plots:
        page = out / f"{'__'.join(f.name for f in plan.figures)[:150]}.html"
        page.write_text(html.sweep_page(data, plan, None, last, partial=True), encoding="utf-8")
        pages = _remember(out, page.name, [f.heading for f in plan.figures])
        html.update_page_list(out / "index.html", pages)
    else:
        page = out / "index.html"
        pages = _remember(out, None, [])
        best_run = _best_run_report(data, plan, out)
        page.write_text(html.sweep_page(data, plan, best_run, last, pages=pages, seeds_html=seeds_html), "utf-8")
    if options.log_artifacts:
        _log_to_parent(data, out)
    return page


def _write_figures(figures: list[Figure], out: Path) -> None:
    for item in figures:
        figure = item.draw()
        figure.savefig(out / f"{item.name}.png", dpi=DPI)
        close(figure)
        item.table.to_csv(out / f"{item.name}.csv", index=False)
        for name, table in item.extra.items():
            table.to_csv(out / f"{name}.csv", index=False)


def _remember(out: Path, page: str | None, headings: list[str]) -> dict[str, list[str]]:
    """Add a partial page to the folder's manifest; returns every partial page made so far (file -> headings)."""
    path = out / MANIFEST
    try:
        pages = json.loads(path.read_text()).get("pages", {}) if path.is_file() else {}
    except (OSError, ValueError):  # a damaged manifest only loses the list of earlier pages
        pages = {}
    if page is not None:
        pages[page] = headings
        path.write_text(json.dumps({"pages": pages}, indent=1), encoding="utf-8")
    return {name: list(heads) for name, heads in pages.items() if (out / name).is_file()}


# -- what to draw ------------------------------------------------------------------------------
def _check_param(data: SweepFrames, option: str, name: str) -> None:
    """``name`` must be a training field the sweep varied: else a one-line error naming the swept ones."""
    swept = ", ".join(data.sweep.swept_params) or "none"
    if name not in data.param_names:
        others = ", ".join(p for p in data.param_names if p not in data.sweep.swept_params)
        raise UserError(f"{option}: unknown parameter {name!r} (swept: {swept}; other training fields: {others})")
    values = frames.ordered_levels(data.trials[frames.P + name])
    if len(values) < 2:
        held = frames.format_value(values[0]) if values else "unset"
        raise UserError(f"{option}: {name} was not swept in {data.sweep.name!r} (every run has {held}); swept: {swept}")


def _check_search_heatmap(data: SweepFrames, axes: tuple[str, str]) -> None:
    """A search's continuous params would make one cell per trial: refuse, pointing at the contour plot."""
    if not data.sweep.is_optuna_search:
        return
    for name in axes:
        if len(frames.ordered_levels(data.trials[frames.P + name])) > frames.MAX_LEVELS:
            raise UserError(
                f"--heatmap: {name} is continuous in the {data.sweep.sampler} search {data.sweep.name!r} "
                f"(a cell per trial); see contour_{axes[0]}_{axes[1]}.png of `cifarsweep report --sweep "
                f"{data.sweep.name}` instead"
            )


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
        _check_search_heatmap(data, options.heatmap)
    if options.facet:
        _check_param(data, "--facet", options.facet)
        if options.heatmap and options.facet in options.heatmap:
            raise UserError(f"--facet: {options.facet} is already an axis of the heatmap")
    for name in options.curves:
        _check_param(data, "--curves", name)
    if options.agg not in ("mean", "max"):
        raise UserError(f"--agg: expected mean or max (got {options.agg!r})")
    if not 0 < options.alpha < 1:
        raise UserError(f"--alpha: expected a level between 0 and 1, e.g. 0.05 (got {options.alpha:g})")
    if options.x not in ("epoch", "time"):
        raise UserError(f"--x: expected epoch or time (got {options.x!r})")
    if options.ablation and trials["variant"].dropna().empty:
        raise UserError(f"--ablation: sweep {sweep.name!r} has no variants (a spec with sweep.variants makes them)")
    direction = (
        sweep.direction if metric == sweep.objective else ("minimize" if lower_is_better(metric) else "maximize")
    )
    return metric, direction


def _plan(data: SweepFrames, options: ReportOptions, importances: ImportanceSource | None = None) -> Plan:
    metric, direction = _validate(data, options)
    swept = [p for p in data.sweep.swept_params if p in data.param_names and p != "seed"]
    plan = Plan(metric, direction, swept, [])
    search = data.sweep.is_optuna_search
    if not options.selects_plots or options.heatmap:
        plan.seeds = _seed_analysis(data, plan, options.alpha)
    heatmap, facet = options.heatmap, options.facet
    if not options.selects_plots:
        # A heatmap fits a grid; a search's scattered points show on contour and slice plots instead.
        axes = [p for p in swept if p != facet]
        if len(axes) >= 2 and not search:
            heatmap = (axes[0], axes[1])
            facet = facet or (axes[2] if len(axes) >= 3 else None)
        elif facet:
            raise UserError(
                f"--facet needs --heatmap X Y here (sweep {data.sweep.name!r}: {data.sweep.sampler}, "
                f"swept {', '.join(swept) or 'nothing'})"
            )
    if heatmap:
        plan.figures.append(_heatmap_figure(data, plan, heatmap, facet, options.agg))
    # Curves per value of a continuous search parameter would be a line per trial: the search figures show it.
    curve_params = list(options.curves) if options.selects_plots else ([] if search else swept)
    for param in curve_params:
        plan.figures.append(_curves_figure(data, plan, param, options))
    has_variants = not data.trials["variant"].dropna().empty
    if options.ablation or (not options.selects_plots and has_variants):
        plan.figures.append(_ablation_figure(data, plan))
    variance = seed_report.variance_figure(plan.seeds, data.sweep.name) if plan.seeds is not None else None
    if not options.selects_plots and variance is not None:
        plan.figures.append(variance)
    if not options.selects_plots and search and swept:
        plan.figures.extend(search_figures(data, plan, importances(data, plan) if importances else None))
    objectives = pareto.objectives_of(data.sweep.spec)
    if not options.selects_plots and len(objectives) > 1:
        plan.figures.append(pareto.pareto_figure(data.trials, objectives, data.sweep.name))
    completed = len(frames.finished(data.trials, metric))
    if completed < MIN_TRIALS:
        plan.warnings.append(
            f"Warning: only {completed} completed trial{'s' if completed != 1 else ''} (fewer than {MIN_TRIALS}): "
            "too few to compare settings with any confidence."
        )
    return plan


def _seed_analysis(data: SweepFrames, plan: Plan, alpha: float) -> seed_report.SeedAnalysis:
    """The configurations table, the variance split and the power sentence (predictions read here)."""
    predictions = {}
    if plan.metric in PAIRED_METRICS:
        done = frames.finished(data.trials, plan.metric)
        predictions = read_predictions(zip(done["run_id"], done["artifact_uri"]), data.tracking_uri)
    return seed_report.analyse(data.trials, plan, data.sweep.is_optuna_search, predictions, alpha, data.sweep.spec)


def _agg_words(agg: str, others: list[str], what: str) -> str:
    """How the figure treats the swept parameters it does not show: held at the best, or averaged."""
    if not others:
        return ""
    names = ", ".join(others)
    if agg == "max":
        return (
            f" Other swept parameters ({names}) are held at their best configuration for each {what} "
            "(best_of in the CSV names it); the interval is over that configuration's seeds only."
        )
    return (
        f" Other swept parameters ({names}) are averaged: the mean of the configurations' means, with no band "
        "(the spread over configurations is not a confidence interval); n counts every run averaged."
    )


def _held_words(agg: str, others: list[str]) -> str:
    """For a title: what happened to the swept parameters the figure does not show."""
    if not others:
        return ""
    return " (other parameters at their best)" if agg == "max" else f" (averaged over {', '.join(others)})"


def _heatmap_figure(data: SweepFrames, plan: Plan, axes: tuple[str, str], facet: str | None, agg: str) -> Figure:
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
    label = metric_label(plan.metric)
    held = _held_words(agg, others)
    title = f"{data.sweep.name}: {label} by {x} and {y}" + (f", one panel per {facet}" if facet else "") + held
    name = f"heatmap_{x}_{y}" + (f"_by_{facet}" if facet else "")
    filled = table[table["n"] > 0]
    caption = (
        f"Each cell: the mean {label} of the finished runs of one configuration over its seeds, and n. "
        f"{stats.caption_words(filled, plan.metric)} A cell reads 'mean ± half-width' (n ≥ 3) or 'mean' and "
        "the two values' range (n = 2). Outlined cells: their interval (or value) overlaps the best cell's, so "
        "the data cannot tell them from the best, whatever their colour. Hatched cells have no finished run and "
        f"say why.{_agg_words(agg, others, 'cell')}"
    )
    notes = [f"Blank cells: {'; '.join(blanks)}."] if blanks else []
    group = None
    if plan.seeds is not None:
        group = seed_report.group_cells(table, plan.seeds.configs, keys, agg, plan.direction)
    if group is not None:
        table["in_group"] = group
        caption = caption.replace(
            "Outlined cells: their interval (or value) overlaps the best cell's, so the data cannot tell them "
            "from the best, whatever their colour.",
            f"Outlined cells: the group of configurations the data cannot tell from the best at alpha = "
            f"{plan.seeds.alpha:g} (the group column of configs.csv, which says by which test), whatever "
            "their colour.",
        )
    return Figure(name, title, caption, table, lambda: plots.heatmap(table, x, y, facet, title), notes)


def _grid_levels(data: SweepFrames) -> dict:
    """The values a grid spec lists, so cells whose runs never started show as blanks too."""
    sweep = data.sweep.spec.get("sweep") or {}
    if not isinstance(sweep, dict) or sweep.get("kind", "grid") != "grid":
        return {}
    return {k: v for k, v in (sweep.get("params") or {}).items() if isinstance(v, list)}


def _curves_figure(data: SweepFrames, plan: Plan, param: str, options: ReportOptions) -> Figure:
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
        frames.lr_schedule_table(data.trials, param, plan.metric, plan.direction, data.run_config)
        if param in SCHEDULE_PARAMS
        else None
    )
    axis = "wall-clock time" if options.x == "time" else "epoch"
    names = [metric_label(m).split(" (")[0] for m in metrics]
    others = [p for p in plan.swept if p != param]
    held = _held_words(options.agg, others)
    title = f"{data.sweep.name}: {' and '.join(names)} per {axis}, by {param}{held}"
    caption = (
        f"Finished runs only. Lines: the mean per value of {param} (n in the legend). "
        f"{stats.caption_words(table, plan.metric)}{_agg_words(options.agg, others, 'value')}"
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
    metric = plan.metric if plan.metric != "gen_gap" else "val_acc"
    table = frames.ablation_table(data.trials, metric)
    reference = table.loc[table["reference"], "variant"]
    ref = str(reference.iloc[0]) if len(reference) else "?"
    label = metric_label(metric).split(" (")[0]
    title = f"{data.sweep.name}: {label} and generalisation gap per variant, against the full recipe ({ref})"
    caption = (
        f"Final {metric_label(metric)} and the generalisation gap (clean training accuracy minus "
        f"validation accuracy, percentage points) per variant over its seeds (n on each bar). Error bars: "
        f"{stats.caption_words(table, metric)} Dashed: the {ref} recipe; delta in the CSV is the difference to it."
    )
    return Figure("ablation", title, caption, table, lambda: plots.ablation(table, title))


def _best_run_report(data: SweepFrames, plan: Plan, out: Path) -> Path | None:
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
            from cifarsweep.tracking.client import client

            client(data.tracking_uri).log_artifacts(data.sweep.parent_run_id, str(out), ARTIFACT_DIR)
    except Exception as exc:  # the files are written; only the copy in MLflow is missing
        log.warning("report written, but not logged to the parent run %s: %s", data.sweep.parent_run_id, exc)
