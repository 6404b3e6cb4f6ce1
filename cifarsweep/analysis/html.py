"""The report's HTML pages: figures with their captions and CSVs, and a sorted trials table."""

from __future__ import annotations

from html import escape
from pathlib import Path

import pandas as pd

from cifarsweep.analysis import frames
from cifarsweep.stores.urls import mask_password

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2em; } .meta { color: #555; }
figure { margin: 2em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #444; max-width: 60em; } .note { color: #8a4b00; }
table { border-collapse: collapse; font-size: 0.85em; } th, td { padding: 0.2em 0.6em; border-bottom: 1px solid #eee; }
th { background: #f4f4f4; position: sticky; top: 0; } td { text-align: right; } pre { background: #f7f7f7; padding: 1em; }
"""


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head>\n<body>\n<h1>{escape(title)}</h1>\n{body}\n</body></html>\n"
    )


def _figure(png: str, heading: str, caption: str, links: list[str], notes: list[str]) -> str:
    files = " · ".join(f'<a href="{escape(link)}">{escape(link)}</a>' for link in links)
    note_html = "".join(f'<p class="note">{escape(note)}</p>' for note in notes)
    return (
        f'<figure><h2>{escape(heading)}</h2><img src="{escape(png)}" alt="{escape(heading)}">'
        f"<figcaption>{escape(caption)} Numbers: {files}</figcaption>{note_html}</figure>"
    )


def sweep_page(data, plan, best_run: Path | None) -> str:
    """index.html of a sweep: summary, each figure, the best run's page link, the trials table."""
    sweep, trials = data.sweep, data.trials
    states = ", ".join(f"{n} {s.lower()}" for s, n in trials["state"].value_counts().items())
    label = frames.metric_label(plan.metric)
    meta = (
        f'<p class="meta">sampler {escape(sweep.sampler or "?")} · objective {escape(sweep.objective)} '
        f"({escape(sweep.direction)}) · swept: {escape(', '.join(sweep.swept_params) or 'nothing')} · "
        f"{len(trials)} trials ({escape(states)}) · store {escape(mask_password(data.tracking_uri))} · "
        f"parent run {escape(sweep.parent_run_id)}</p>"
    )
    parts = [meta]
    for item in plan.figures:
        links = [f"{item.name}.csv"] + [f"{name}.csv" for name in item.extra]
        parts.append(_figure(f"{item.name}.png", item.heading, item.caption, links, item.notes))
    if best_run is not None:
        parts.append(
            f'<h2>Best run</h2><p><a href="{escape(best_run.name)}/index.html">learning curves, confusion '
            "matrix and classification report of the best finished run</a></p>"
        )
    table = frames.trials_table(trials, plan.metric, plan.direction, plan.swept)
    parts.append(
        f"<h2>Trials</h2><p>Best {escape(label)} first; unfinished trials last. "
        f'All params and final metrics: <a href="trials.csv">trials.csv</a>.</p>'
    )
    parts.append(table.to_html(index=False, na_rep="", escape=True, classes="trials", border=0))
    return _page(f"Sweep {sweep.name}", "\n".join(parts))


def run_page(run, name: str, written: dict[str, str], history: pd.DataFrame, pairs, report_text: str | None) -> str:
    """index.html of one run."""
    row = run.run
    parts = [
        f'<p class="meta">experiment {escape(run.experiment)} · run {escape(str(row["run_id"]))} · '
        f"status {escape(str(row['status']))} · {len(history)} epochs</p>"
    ]
    if "learning_curves" in written:
        parts.append(
            _figure(
                written["learning_curves"],
                "Learning curves",
                "Loss and accuracy per epoch, training (augmented) against validation.",
                ["history.csv"],
                [],
            )
        )
    if "confusion_matrix" in written:
        parts.append(
            _figure(
                written["confusion_matrix"],
                "Confusion matrix",
                "Each row: where the images of that true class went (% of the class).",
                ["confusion_matrix.csv", "most_confused.csv"],
                [],
            )
        )
    else:
        parts.append('<p class="note">No confusion matrix: the run logged none (it did not finish).</p>')
    if pairs is not None and not pairs.empty:
        parts.append("<h2>Most-confused class pairs</h2>" + pairs.to_html(index=False, escape=True, border=0))
    if report_text:
        parts.append(f"<h2>Classification report</h2><pre>{escape(report_text)}</pre>")
    params = {k: frames.format_value(v) for k, v in sorted(run.params.items())}
    parts.append(
        "<h2>Config</h2>"
        + pd.DataFrame({"field": list(params), "value": list(params.values())}).to_html(
            index=False, escape=True, border=0
        )
    )
    return _page(f"Run {name}", "\n".join(parts))
