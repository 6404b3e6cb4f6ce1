"""The report's HTML pages: figures with their captions and CSVs, and a sorted trials table."""

from __future__ import annotations

from html import escape
from pathlib import Path

import pandas as pd

from cifarsweep.analysis import frames
from cifarsweep.metrics import metric_label
from cifarsweep.tracking.client import mask_password

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } .meta { color: #555; overflow-wrap: anywhere; }
figure { margin: 2em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #444; max-width: 60em; } .note { color: #8a4b00; }
.warning { background: #fff4e0; border-left: 4px solid #e69500; padding: 0.5em 1em; }
.scroll { max-width: 100%; max-height: 36em; overflow: auto; border: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { padding: 0.2em 0.6em; border-bottom: 1px solid #eee; white-space: nowrap; }
th { background: #f4f4f4; position: sticky; top: 0; cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " ▲"; } th[aria-sort=descending]::after { content: " ▼"; }
td { text-align: right; font-variant-numeric: tabular-nums; } td.text { text-align: left; }
td.id { font-family: ui-monospace, monospace; text-align: left; } pre { background: #f7f7f7; padding: 1em; }
"""

# Plain inline JS, no CDN (the page works offline): a click on a header sorts by that column,
# numbers as numbers, empty cells last; a second click reverses.
SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var up = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      function key(row) { var t = row.cells[col].textContent.trim(); var n = parseFloat(t);
        return t === "" ? null : (isNaN(n) || !/^[-+.\\d]/.test(t) ? t : n); }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) { return x === y ? 0 : x === null ? 1 : -1; }
        var c = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
        return up ? c : -c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""
PAGES_START = "<!-- cifarsweep:pages -->"
PAGES_END = "<!-- /cifarsweep:pages -->"


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head>\n<body>\n<h1>{escape(title)}</h1>\n{body}\n"
        f"<script>{SORT_JS}</script>\n</body></html>\n"
    )


def _figure(png: str, heading: str, caption: str, links: list[str], notes: list[str]) -> str:
    files = " · ".join(f'<a href="{escape(link)}">{escape(link)}</a>' for link in links)
    note_html = "".join(f'<p class="note">{escape(note)}</p>' for note in notes)
    return (
        f'<figure id="{escape(png.removesuffix(".png"))}"><h2>{escape(heading)}</h2>'
        f'<img src="{escape(png)}" alt="{escape(heading)}">'
        f"<figcaption>{escape(caption)} Numbers: {files}</figcaption>{note_html}</figure>"
    )


def table_html(table: pd.DataFrame) -> str:
    """A sortable table in a scrolling box: full run ids, text left, numbers right."""
    head = "".join(f"<th>{escape(str(c))}</th>" for c in table.columns)
    kinds = ["id" if c == "run_id" else "" if _numeric(table[c]) else "text" for c in table.columns]
    rows = []
    for values in table.itertuples(index=False, name=None):
        cells = "".join(
            f'<td class="{k}">{escape(_cell(v))}</td>' if k else f"<td>{escape(_cell(v))}</td>"
            for k, v in zip(kinds, values)
        )
        rows.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _numeric(column: pd.Series) -> bool:
    """Numbers (or '72.3%') are right-aligned; text, booleans and ids left."""
    if pd.api.types.is_bool_dtype(column):
        return False
    if pd.api.types.is_numeric_dtype(column):
        return True
    texts = column.dropna().astype(str).str.removesuffix("%")
    return bool(len(texts)) and bool(pd.to_numeric(texts[texts != ""], errors="coerce").notna().all())


def _cell(value) -> str:
    return "" if frames.is_missing(value) else str(value)


def pages_list(pages: dict[str, list[str]]) -> str:
    """The list of partial pages made for this sweep, between markers a later partial report replaces."""
    items = "".join(
        f'<li><a href="{escape(name)}">{escape(name)}</a>: {escape("; ".join(heads))}</li>'
        for name, heads in sorted(pages.items())
    )
    body = f"<h2>More figures</h2><ul>{items}</ul>" if items else ""
    return f"{PAGES_START}{body}{PAGES_END}"


def update_page_list(index: Path, pages: dict[str, list[str]]) -> None:
    """Refresh the list of partial pages in the full report's index.html; the rest of it stays as it is."""
    if not index.is_file():
        index.write_text(_page("Figures", pages_list(pages)), encoding="utf-8")
        return
    text = index.read_text(encoding="utf-8")
    start, end = text.find(PAGES_START), text.find(PAGES_END)
    if start < 0 or end < 0:  # a page written before the list existed: leave it untouched
        return
    index.write_text(text[:start] + pages_list(pages) + text[end + len(PAGES_END) :], encoding="utf-8")


def sweep_page(
    data,
    plan,
    best_run: Path | None,
    last_values: pd.Series | None = None,
    partial: bool = False,
    pages: dict[str, list[str]] | None = None,
    seeds_html: str = "",
) -> str:
    """A sweep's page: summary, warnings, each figure, the best run's page link, the trials table.

    ``partial``: the page of a ``--heatmap``/``--curves``/``--ablation``
    request, which links back to the full report's index.html.
    """
    sweep, trials = data.sweep, data.trials
    states = ", ".join(f"{n} {s.lower()}" for s, n in trials["state"].value_counts().items())
    label = metric_label(plan.metric)
    meta = (
        f'<p class="meta">sampler {escape(sweep.sampler or "?")} · objective {escape(sweep.objective)} '
        f"({escape(sweep.direction)}) · swept: {escape(', '.join(sweep.swept_params) or 'nothing')} · "
        f"{len(trials)} trials ({escape(states)}) · store {escape(mask_password(data.tracking_uri))} · "
        f"parent run {escape(sweep.parent_run_id)}</p>"
    )
    parts = [meta] + [f'<p class="warning">{escape(w)}</p>' for w in plan.warnings]
    if partial:
        parts.append('<p><a href="index.html">The full report of this sweep</a></p>')
    if seeds_html:  # the seed statistics' answer and the configurations table (``seed_report``)
        parts.append(seeds_html)
    for item in plan.figures:
        links = [f"{item.name}.csv"] + [f"{name}.csv" for name in item.extra]
        parts.append(_figure(f"{item.name}.png", item.heading, item.caption, links, item.notes))
    if best_run is not None:
        parts.append(
            f'<h2>Best run</h2><p><a href="{escape(best_run.name)}/index.html">learning curves, confusion '
            "matrix and classification report of the best finished run</a></p>"
        )
    if not partial:
        parts.append(pages_list(pages or {}))
    table = frames.trials_table(trials, plan.metric, plan.direction, plan.swept, last_values)
    parts.append(
        f"<h2>Trials</h2><p>Best {escape(label)} first; unfinished trials last (last value: the {escape(label)} "
        "a trial reported at its last epoch; reason: why it was pruned or failed). Click a column to sort. "
        f'All params and final metrics: <a href="trials.csv">trials.csv</a>.</p>'
    )
    parts.append(table_html(table))
    title = f"Sweep {sweep.name}" + (": " + ", ".join(f.name for f in plan.figures) if partial else "")
    return _page(title, "\n".join(parts))


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
        parts.append("<h2>Most-confused class pairs</h2>" + table_html(pairs))
    if report_text:
        parts.append(f"<h2>Classification report</h2><pre>{escape(report_text)}</pre>")
    params = {k: frames.format_value(v) for k, v in sorted(run.params.items())}
    parts.append("<h2>Config</h2>" + table_html(pd.DataFrame({"field": list(params), "value": list(params.values())})))
    return _page(f"Run {name}", "\n".join(parts))
