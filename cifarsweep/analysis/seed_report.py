"""The report's seed statistics: the configurations table, the variance split and its figure,
the power sentence for the best two, and their part of the HTML page.

Computed from the sweep's frames and the runs' per-example predictions (read
by ``tracking.predictions``) before anything is written, like every figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

import numpy as np
import pandas as pd

from cifarsweep import metrics
from cifarsweep.analysis import frames
from cifarsweep.analysis.configs import OVERLAP, PAIRED, PAIRED_METRICS, best_two, config_keys, configs_table
from cifarsweep.analysis.figure import Figure, Plan
from cifarsweep.analysis.html import table_html
from cifarsweep.analysis.seed_stats import INTERVAL_WORDS
from cifarsweep.analysis.style import new_figure
from cifarsweep.analysis.variance import sentence, variance_split

CONFIGS_CSV = "configs.csv"
VARIANCE = "variance"  # variance.png and variance.csv
SEARCH_NOTE = (
    "A search runs each configuration once, so it cannot separate seed noise from the parameters' effects: "
    "see Optuna's parameter importances instead (they are shares of the objective's variance over the trials, "
    "seed noise included)."
)


@dataclass
class SeedAnalysis:
    """What the report shows about seeds: ``configs`` (configs.csv), the variance split and its words."""

    configs: pd.DataFrame
    alpha: float
    metric: str
    variance: pd.DataFrame | None = None
    answer: str = ""  # the one-sentence answer to "what matters", or why there is none
    power: str = ""  # how many seeds would separate the best two
    saved: str = ""  # adaptive seeds: the trials run against the full grid of max seeds
    notes: list[str] = field(default_factory=list)


def analyse(
    trials: pd.DataFrame, plan: Plan, search: bool, predictions: dict, alpha: float, spec: dict | None = None
) -> SeedAnalysis:
    """The seed statistics of the finished runs for ``plan.metric`` (``spec``: the sweep's, as stored)."""
    table = configs_table(trials, plan.metric, plan.direction, plan.swept, predictions, alpha)
    result = SeedAnalysis(table, alpha, plan.metric, saved=saved_words(spec or {}, len(trials)))
    label = metrics.metric_label(plan.metric).split(" (")[0]
    if search:
        result.answer = SEARCH_NOTE
    else:
        done = frames.finished(trials, plan.metric)
        keys = config_keys(trials, plan.swept)
        runs = pd.DataFrame(
            {k: done[k] if k == "variant" else done[frames.P + k].map(frames.format_value) for k in keys}
        )
        runs["value"] = done[frames.M + plan.metric].astype(float) * metrics.metric_unit(plan.metric)[0]
        try:
            result.variance = variance_split(runs, keys)
            result.answer = sentence(result.variance, label)
        except ValueError as exc:
            result.answer = f"No variance split: {exc} (a grid with sweep.seeds of two or more has them)."
    result.power = _power_words(table, trials, plan, alpha)
    if PAIRED_METRICS.get(plan.metric) is None:
        result.notes.append(
            f"p_vs_best is empty: the per-example test decides val_acc and val_top5, not {plan.metric}; "
            "the group is the configurations whose interval overlaps the best's."
        )
    elif len(table) > 1 and (table["group_by"] == OVERLAP).any():
        result.notes.append(
            "Some runs have no predictions.npz (recorded before it existed, or not finished): their "
            "configurations' group mark is by interval overlap."
        )
    return result


def saved_words(spec: dict, trials: int) -> str:
    """'Adaptive seeds ran 12 of the 16 trials of the full grid (2 to 4 seeds per cell): 4 saved (25%).'"""
    sweep = spec.get("sweep") or {}
    seeds = sweep.get("seeds") if isinstance(sweep, dict) else None
    if not isinstance(seeds, dict) or "max" not in seeds:
        return ""
    cells = 1
    for values in (sweep.get("params") or {}).values():
        cells *= len(values) if isinstance(values, list) else 1
    cells *= len(sweep.get("variants") or {}) or 1
    full = cells * int(seeds["max"])
    saved = max(0, full - trials)
    return (
        f"Adaptive seeds ran {trials} of the {full} trials of the full grid ({seeds.get('min')} to {seeds['max']} "
        f"seeds per cell, more only where a cell's interval overlapped the best's): {saved} saved "
        f"({100 * saved / full:.0f}%)."
    )


def _power_words(table: pd.DataFrame, trials: pd.DataFrame, plan: Plan, alpha: float) -> str:
    found = best_two(table, trials, plan.metric, plan.swept, alpha)
    if found is None:
        return ""
    unit = metrics.metric_unit(plan.metric)[1]
    unit = "points" if unit == "%" else unit  # a difference of percentages is in percentage points
    places = metrics.decimals(plan.metric)

    def name(config: dict) -> str:
        return ", ".join(f"{k}={v}" for k, v in config.items()) or "the configuration"

    head = (
        f"The best two configurations, {name(found['best'])} (n = {found['n_best']}) and {name(found['second'])} "
        f"(n = {found['n_second']}), differ by {abs(found['difference']):.{places}f} {unit} in mean"
    )
    if not np.isfinite(found["spread"]):
        return head + "; with one seed each there is no seed spread to size more seeds from."
    head += f", with a pooled seed standard deviation of {found['spread']:.{places}f} {unit}"
    welch = found["welch_p"]
    if np.isfinite(welch) and welch < alpha:
        return head + f": they are separated already over seeds (Welch t-test p = {welch:.2g} < {alpha:g})."
    needed = found["seeds_needed"]
    if needed is None:
        return head + ": no number of seeds would separate them (no difference, or no spread)."
    return (
        head + f": a t-test over seeds needs {needed} seeds per configuration to separate them at "
        f"alpha = {alpha:g} with 80% power (Colas et al. 2018)."
    )


def variance_figure(analysis: SeedAnalysis, sweep: str) -> Figure | None:
    """The bar figure of the variance split (writes variance.png and variance.csv)."""
    table = analysis.variance
    if table is None:
        return None
    label = metrics.metric_label(analysis.metric).split(" (")[0]
    title = f"{sweep}: what explains the variance of {label}"
    n = int(table["df"].fillna(0).sum()) + 1
    caption = (
        f"Share of the total sum of squares of {label} over the n = {n} finished runs: each swept parameter's "
        "main effect, the largest pairwise interaction, the other interactions, and seed (the spread of one "
        "configuration's runs around their mean). Shares add up to 100%."
    )
    return Figure(VARIANCE, title, caption, table, lambda: variance_bars(table, title))


def variance_bars(table: pd.DataFrame, title: str = ""):
    """Horizontal bars of ``variance_split``'s shares, the seed in grey."""
    table = table.iloc[::-1]
    figure, axes = new_figure(width=6.0, height=max(2.5, 0.5 * len(table) + 1.5))
    ax = axes[0][0]
    colours = ["0.6" if kind == "seed" else "#4C72B0" for kind in table["kind"]]
    bars = ax.barh(table["source"].astype(str), 100 * table["share"], color=colours)
    ax.bar_label(bars, labels=[f"{100 * s:.0f}%" for s in table["share"]], padding=3)
    ax.set(xlabel="share of the variance (%)", ylabel="", xlim=(0, 105))
    if title:
        figure.suptitle(title)
    return figure


def group_cells(
    table: pd.DataFrame, configs: pd.DataFrame, keys: list[str], agg: str, direction: str
) -> pd.Series | None:
    """For a heatmap's cells: whether the configuration each shows is in the group (None if none match).

    A cell that holds the best of several configurations (``agg`` max) is in the group when
    that one is; a cell that averages several is when any of them is."""
    if configs.empty or not all(k in configs for k in keys):
        return None
    flags = []
    for _, row in table.iterrows():
        match = np.ones(len(configs), dtype=bool)
        for k in keys:
            match &= (configs[k].astype(str) == str(row[k])).to_numpy()
        rows = configs[match]
        if rows.empty:
            flags.append(False)
        elif agg == "max":
            flags.append(bool(rows.sort_values("mean", ascending=direction == "minimize").iloc[0]["group"]))
        else:
            flags.append(bool(rows["group"].any()))
    found = pd.Series(flags, index=table.index)
    return found if found.any() else None


def html_section(analysis: SeedAnalysis) -> str:
    """The page's "What matters versus noise" and "Configurations" sections."""
    table = analysis.configs
    places = metrics.decimals(analysis.metric)
    shown = table.copy()
    for column in ("mean", "ci_low", "ci_high", "median"):
        shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.{places}f}")
    for column in ("p_improve", "p_vs_best", "p_holm"):
        shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.3g}")
    kinds = [k for k in INTERVAL_WORDS if (table["interval"] == k).any()]
    in_group = int(table["group"].sum())
    rule = (
        f"the exact McNemar test of its per-example validation predictions against the best's, pooled over the "
        f"seeds both ran, Holm-adjusted over the comparisons (p_holm) ≥ alpha = {analysis.alpha:g}"
        if (table["group_by"] == PAIRED).any()
        else f"its interval overlaps the best's (no paired test here; alpha = {analysis.alpha:g})"
    )
    parts = [
        "<h2>What matters versus noise</h2>",
        f"<p><strong>{escape(analysis.answer)}</strong></p>",
    ]
    if analysis.power:
        parts.append(f"<p>{escape(analysis.power)}</p>")
    if analysis.saved:
        parts.append(f"<p>{escape(analysis.saved)}</p>")
    parts += [f'<p class="note">{escape(note)}</p>' for note in analysis.notes]
    parts.append(
        f"<h2>Configurations</h2><p>{in_group} of {len(table)} configurations cannot be told from the best "
        f"(group = true): {escape(rule)}. Intervals: {escape('; '.join(INTERVAL_WORDS[k] for k in kinds))}; "
        "n is each configuration's number of finished runs. p_improve: the chance that a run of the "
        "configuration beats a run of the best, over every pairing of their seeds. "
        f'Numbers: <a href="{CONFIGS_CSV}">{CONFIGS_CSV}</a>.</p>'
    )
    parts.append(table_html(shown))
    return "\n".join(parts)
