"""Each figure draws exactly the numbers of its frame (the CSV written beside it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer

from cifarsweep.analysis import frames, plots, search_frames, search_plots
from cifarsweep.analysis.style import close
from cifarsweep.tracking import query
from tests.support.report_fixtures import report_store  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def grid(report_store):  # noqa: F811
    return query.load_sweep("grid", report_store["uri"])


@pytest.fixture(scope="module")
def search(report_store):  # noqa: F811
    return query.load_sweep("search", report_store["uri"])


def roundtrip(table: pd.DataFrame, tmp_path) -> pd.DataFrame:
    """The table as the report's CSV reads back."""
    path = tmp_path / "numbers.csv"
    table.to_csv(path, index=False)
    labels = {c: str for c in table.columns if not pd.api.types.is_numeric_dtype(table[c]) and table[c].dtype != bool}
    return pd.read_csv(path, dtype=labels, keep_default_na=False, na_values=[""])


def test_heatmap_draws_cell_means_annotations_and_marks_blanks(grid, tmp_path):
    table = frames.cell_table(
        grid.trials,
        "val_acc",
        "lr",
        "weight_decay",
        facet="grad_clip",
        swept=grid.sweep.swept_params,
        levels=grid.sweep.spec["sweep"]["params"],
    )
    csv = roundtrip(table, tmp_path)
    figure = plots.heatmap(table, "lr", "weight_decay", "grad_clip", title="grid: validation accuracy")
    panels = [ax for ax in figure.axes if ax.get_title().startswith("grad_clip")]
    assert [ax.get_title() for ax in panels] == ["grad_clip = None", "grad_clip = 0.1"]
    for ax, level in zip(panels, ["None", "0.1"]):
        part = csv[csv["grad_clip"].astype(str) == level]
        expected = part.pivot(index="weight_decay", columns="lr", values="mean").reindex(
            index=["1e-4", "5e-4", "1e-3"], columns=["1e-3", "0.01"]
        )
        drawn = ax.collections[0].get_array().ravel()  # rows: weight_decay in order, columns: lr
        assert np.ma.getmaskarray(drawn).tolist() == expected.isna().to_numpy().ravel().tolist()
        assert drawn.compressed() == pytest.approx(expected.to_numpy().ravel()[~expected.isna().to_numpy().ravel()])
        texts = {t.get_text() for t in ax.texts if t.get_gid() != "blank"} - {""}
        assert texts == set(part.loc[part["n"] > 0, "annotation"])
        assert all("n=" in text for text in texts)  # n is shown in every filled cell
        blanks = [t for t in ax.texts if t.get_gid() == "blank"]
        assert len(blanks) == part["n"].eq(0).sum() == 3
        assert sorted(t.get_text() for t in blanks) == sorted(part.loc[part["n"] == 0, "blank"])  # says why
        outlined = [p for p in ax.patches if p.get_gid() == "overlaps_best"]
        assert len(outlined) == part["overlaps_best"].sum()
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1e-3", "0.01"]
        assert [t.get_text() for t in ax.get_yticklabels()] == ["1e-4", "5e-4", "1e-3"]
        assert ax.get_xlabel() == "lr" and ax.get_ylabel() == "weight_decay"
    assert figure.axes[-1].get_ylabel() == "validation accuracy (%)"  # the colour bar
    assert figure.get_suptitle() == "grid: validation accuracy"
    close(figure)


def test_curves_draw_mean_lines_bands_and_the_lr_schedules(grid, tmp_path):
    table = frames.curve_table(grid.trials, grid.metrics, "lr", ["val_acc", "val_loss"], swept=grid.sweep.swept_params)
    schedules = frames.lr_schedule_table(grid.trials, "lr", "val_acc", "maximize", grid.run_config)
    csv, lr_csv = roundtrip(table, tmp_path), roundtrip(schedules, tmp_path)
    figure = plots.curves(table, "lr", "epoch", schedules, title="grid: curves")
    accuracy, loss, rates = figure.axes[:3]
    for ax, metric in ((accuracy, "val_acc"), (loss, "val_loss")):
        lines = {line.get_label().split(" (")[0]: line for line in ax.get_lines()}
        assert set(lines) == {"1e-3", "0.01"}
        assert {line.get_label() for line in ax.get_lines()} == {"1e-3 (n=2)", "0.01 (n=2)"}
        for level, line in lines.items():
            part = csv[(csv["metric"] == metric) & (csv["lr"].astype(str) == level)].sort_values("epoch")
            assert line.get_xdata().tolist() == part["epoch"].tolist()
            assert line.get_ydata() == pytest.approx(part["mean"].to_numpy())
        bands = [c.get_paths()[0].vertices[:, 1] for c in ax.collections]
        part = csv[csv["metric"] == metric]
        assert min(b.min() for b in bands) == pytest.approx(part["lower"].min())
        assert max(b.max() for b in bands) == pytest.approx(part["upper"].max())
    assert accuracy.get_ylabel() == "validation accuracy (%)" and loss.get_ylabel() == "validation loss (cross-entropy)"
    for line in rates.get_lines():
        part = lr_csv[lr_csv["lr"].astype(str) == line.get_label()]
        assert line.get_ydata() == pytest.approx(part["learning_rate"].to_numpy())
    assert rates.get_yscale() == "log" and rates.yaxis.get_major_formatter()(1e-4, 0) == "1e-4"
    close(figure)


def test_curves_against_time_use_the_elapsed_seconds(grid):
    table = frames.curve_table(grid.trials, grid.metrics, "grad_clip", ["val_acc"], swept=grid.sweep.swept_params)
    figure = plots.curves(table, "grad_clip", "time")
    ax = figure.axes[0]
    line = ax.get_lines()[0]
    part = table[table["grad_clip"] == line.get_label().split(" (")[0]]
    assert line.get_xdata().tolist() == part["elapsed_s"].tolist() == [10.0, 20.0, 30.0]
    assert ax.get_xlabel() == "wall-clock time since the run started"
    close(figure)


def test_ablation_bars_and_error_bars_are_the_table(report_store, tmp_path):  # noqa: F811
    data = query.load_sweep("ablation", report_store["uri"])
    csv = roundtrip(frames.ablation_table(data.trials, "val_acc"), tmp_path)
    figure = plots.ablation(frames.ablation_table(data.trials, "val_acc"), title="ablation")
    for ax, measure in zip(figure.axes, ["val_acc", "gen_gap"]):
        part = csv[csv["measure"] == measure]
        bars = next(c for c in ax.containers if isinstance(c, BarContainer))
        assert [p.get_height() for p in bars.patches] == pytest.approx(part["mean"].tolist())
        segments = bars.errorbar.lines[2][0].get_segments()
        assert [s[0][1] for s in segments] == pytest.approx(part["lower"].tolist())
        assert [s[1][1] for s in segments] == pytest.approx(part["upper"].tolist())
        assert [t.get_text() for t in ax.get_xticklabels()] == part["variant"].tolist()
        reference = ax.get_lines()[-1].get_ydata()[0]
        assert reference == pytest.approx(part.loc[part["reference"], "mean"].iloc[0])
    close(figure)


def test_importances_bars_are_the_table():
    table = pd.DataFrame(
        {"param": ["lr", "optimizer", "weight_decay"], "importance": [0.7, 0.2, 0.1], "evaluator": "X"}
    )
    figure = plots.importances(table, "search: importances")
    widths = {t.get_text(): p.get_width() for t, p in zip(figure.axes[0].get_yticklabels(), figure.axes[0].patches)}
    assert widths == {"weight_decay": 0.1, "optimizer": 0.2, "lr": 0.7}
    close(figure)


def test_parallel_coordinates_draw_one_line_per_trial_at_the_table_positions(search, tmp_path):
    table = search_frames.parallel_table(
        search.trials, ["lr", "weight_decay", "optimizer"], "val_acc", log_params=["lr"]
    )
    csv = roundtrip(table, tmp_path)
    figure = plots.parallel_coordinates(table, "val_acc", "maximize", "search: parallel coordinates")
    ax = figure.axes[0]
    lines = {line.get_gid(): line for line in ax.get_lines() if line.get_gid()}
    assert len(lines) == 14
    for run_id, line in lines.items():
        expected = (
            csv[csv["run_id"] == run_id]
            .set_index("axis")
            .loc[["lr", "weight_decay", "optimizer", "val_acc"], "position"]
        )
        assert line.get_ydata() == pytest.approx(expected.to_numpy())
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == "validation accuracy (%)"
    assert {"adam", "sgd"} <= {t.get_text() for t in ax.texts}
    close(figure)


def test_best_so_far_draws_the_values_and_the_running_best(search):
    table = search_frames.best_so_far(search.trials, search.metrics, "val_acc", "maximize")
    figure = search_plots.draw_best_so_far(table, "val_acc", "search: best so far")
    ax = figure.axes[0]
    drawn = sorted(v for c in ax.collections for v in c.get_offsets()[:, 1].tolist())
    assert drawn == pytest.approx(sorted(table["value"].dropna().tolist()))
    assert ax.get_lines()[0].get_ydata() == pytest.approx(table["best"].to_numpy(), nan_ok=True)
    assert ax.get_ylabel() == "validation accuracy (%)" and ax.get_xlabel() == "trial number"
    close(figure)
