"""When a finished trial's figures are drawn: the plan's choices, then a sweep that defers and what draws them."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from cifarsweep.runs import figures
from cifarsweep.runs.figures import FigureChoice, FigurePlan, draw_deferred_figures, draw_deferred_figures_behind
from cifarsweep.tracking import schema
from tests.support.cli import invoke
from tests.support.sweeps import mlflow_runs, write_spec

PNGS = {schema.LEARNING_CURVES_FIGURE, schema.CONFUSION_FIGURE}


def test_true_and_false_do_what_they_say_whatever_the_cost():
    always, never = FigurePlan(True, spare_core=False), FigurePlan(False, spare_core=True)
    always.drawn_between_trials(100.0)
    assert always.choose(0.01) == FigureChoice.DRAW
    assert never.choose(1000.0) == FigureChoice.SKIP


def test_auto_draws_behind_training_when_a_core_is_idle():
    plan = FigurePlan("auto", spare_core=True)
    plan.drawn_between_trials(5.0)  # dear, but it overlaps the next trial
    assert plan.choose(0.1) == FigureChoice.DRAW


def test_auto_without_an_idle_core_draws_while_figures_are_a_small_share_of_the_trial():
    plan = FigurePlan("auto", spare_core=False)
    assert plan.choose(0.2) == FigureChoice.DRAW  # the first drawing measures what drawing costs here
    plan.drawn_between_trials(0.5)
    assert plan.choose(0.2) == FigureChoice.DEFER  # 0.5 s of figures for a 0.2 s trial
    assert plan.choose(4.9) == FigureChoice.DEFER
    assert plan.choose(5.0) == FigureChoice.DRAW  # exactly a tenth
    assert plan.choose(60.0) == FigureChoice.DRAW


def pngs(run) -> set[str]:
    folder = Path(run.info.artifact_uri.replace("file://", ""))
    return {p.name for p in folder.iterdir()} & PNGS


@pytest.fixture
def deferred_sweep(workdir, monkeypatch):
    """A 3-trial sweep on a machine with no idle core whose trials are all cheaper than their figures."""
    monkeypatch.setattr(figures, "spare_cpu_for_figures", lambda device: False)
    monkeypatch.setattr(figures, "MAX_FIGURE_SHARE", 0.0)  # any drawing costs more than a trial may
    result = invoke("run", write_spec(workdir, sweep={"kind": "grid", "params": {"lr": [0.05, 0.01, 0.002]}}))
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.slow
def test_auto_defers_dear_figures_and_the_report_draws_them(deferred_sweep):
    assert "trial figures of 2 runs deferred" in deferred_sweep.stdout
    _, children = mlflow_runs()
    first = min(children, key=lambda run: run.info.start_time)
    assert pngs(first) == PNGS and schema.TAG_FIGURES not in first.data.tags  # drawn, and measured
    later = [run for run in children if run is not first]
    for run in later:
        assert run.data.tags[schema.TAG_FIGURES] == schema.FIGURES_DEFERRED and not pngs(run)
        folder = Path(run.info.artifact_uri.replace("file://", ""))
        assert (folder / schema.HISTORY_ARTIFACT).is_file() and (folder / schema.CONFUSION_ARTIFACT).is_file()

    assert "figures drawn" not in invoke("status").output  # status repairs crashes; deferral is no crash

    result = invoke("report", "--curves", "lr")
    assert result.exit_code == 0, result.output
    assert "figures of 2 of 2 runs drawn" in result.stderr
    assert Path(result.stdout.strip()).is_file()  # stdout is still only the page
    _, children = mlflow_runs()
    for run in children:
        assert pngs(run) == PNGS and schema.TAG_FIGURES not in run.data.tags
    assert "figures of" not in invoke("report", "--curves", "lr").stderr  # once


@pytest.mark.slow
def test_the_ui_draws_every_sweeps_deferred_figures_in_the_background(deferred_sweep):
    tracking = f"sqlite:///{Path('mlruns/mlflow.db').resolve()}"
    _, children = mlflow_runs()
    one = next(run for run in children if schema.TAG_FIGURES in run.data.tags)
    assert draw_deferred_figures(run_id=one.info.run_id, tracking_uri=tracking) == 1
    assert pngs(MlflowClient(tracking).get_run(one.info.run_id)) == PNGS

    reported: list = []
    draw_deferred_figures_behind(tracking, lambda drawn, why: reported.append((drawn, why))).join(timeout=120)
    assert reported == [(1, "")]
    for run in mlflow_runs()[1]:
        assert pngs(run) == PNGS and schema.TAG_FIGURES not in run.data.tags
