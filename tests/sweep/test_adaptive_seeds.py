"""Adaptive seeds: rounds decided from the completed trials, bad specs refused, exactly once under 2 workers and a kill."""

from __future__ import annotations

import os
import signal
from types import SimpleNamespace

import pytest
from optuna.trial import TrialState

from cifarsweep.config.yamlfile import YamlDocument
from cifarsweep.sweep.adaptive import first_round, next_round, plan_words, status_words
from cifarsweep.sweep.space import Cell
from cifarsweep.sweep.spec import parse_spec
from tests.support.cli import invoke

SPEC = {
    "name": "adaptive",
    "base": {"dataset": "synthetic"},
    "sweep": {"kind": "grid", "params": {"lr": [0.1, 0.01]}, "seeds": {"min": 2, "max": 4}},
}


def spec(**sweep):
    data = {**SPEC, "sweep": {**SPEC["sweep"], **sweep}}
    return parse_spec(YamlDocument(data, "spec.yaml", {}))


def done(lr: float, seed: int, value: float | None, state=TrialState.COMPLETE, outcome: str | None = None):
    attrs = {**Cell({"lr": lr}, seed).to_attrs(), **({"outcome": outcome} if outcome else {})}
    return SimpleNamespace(state=state, value=value, user_attrs=attrs)


def test_the_first_round_is_min_seeds_and_the_plan_says_up_to_max():
    adaptive = spec()
    assert adaptive.seeds == [0, 1, 2, 3]
    assert sorted((c.params["lr"], c.seed) for c in first_round(adaptive)) == [(0.01, 0), (0.01, 1), (0.1, 0), (0.1, 1)]
    assert plan_words(adaptive).startswith("up to 8 trials: every cell runs 2 seeds (4 trials)")


def test_separated_cells_stop_and_overlapping_ones_get_one_more_seed_per_round():
    adaptive = spec()
    separated = [done(0.1, 0, 0.90), done(0.1, 1, 0.91), done(0.01, 0, 0.50), done(0.01, 1, 0.51)]
    assert next_round(adaptive, separated) == []
    overlapping = [done(0.1, 0, 0.90), done(0.1, 1, 0.80), done(0.01, 0, 0.85), done(0.01, 1, 0.86)]
    assert sorted((c.params["lr"], c.seed) for c in next_round(adaptive, overlapping)) == [(0.01, 2), (0.1, 2)]
    assert "2 more in the next round" in status_words(adaptive, overlapping)
    # While a trial of the round runs, nothing is decided; a cell taken only by a duplicate is free again.
    assert next_round(adaptive, [*overlapping, done(0.1, 2, None, TrialState.RUNNING)]) == []
    dup = done(0.1, 2, None, TrialState.FAIL, "duplicate")
    again = next_round(adaptive, [*overlapping, dup, done(0.01, 2, 0.85)])
    assert sorted((c.params["lr"], c.seed) for c in again) == [(0.01, 3), (0.1, 2)]
    # At max seeds a cell gets no more, whatever its interval.
    full = overlapping + [done(lr, s, 0.85) for lr in (0.1, 0.01) for s in (2, 3)]
    assert next_round(adaptive, full) == []
    # A first-round cell missing (a crash while queueing) is queued before anything is decided.
    assert [(c.params["lr"], c.seed) for c in next_round(adaptive, separated[:3])] == [(0.01, 1)]


@pytest.mark.parametrize(
    ("seeds", "words"),
    [
        ("{min: 3, max: 2}", "sweep.seeds.min: min (3) is above max (2)"),
        ("{min: 0, max: 2}", "min: expected a whole number from 1 to 1000 (got 0)"),
        ("{min: 2}", "adaptive seeds need min and max (missing max)"),
        ("{min: 2, max: 3, step: 1}", "unknown key 'step'"),
        ("{min: 2.5, max: 3}", "min: expected a whole number"),
        ("{min: true, max: 3}", "min: expected a whole number"),
        ("3", "expected a list of seeds or {min: M, max: N}"),
    ],
)
def test_bad_seeds_are_refused_in_one_line(empty_workdir, seeds, words):
    path = empty_workdir / "bad.yaml"
    path.write_text(
        f"name: bad\nbase: {{dataset: synthetic}}\nsweep: {{params: {{lr: [0.1, 0.01]}}, seeds: {seeds}}}\n"
    )
    result = invoke("run", path)
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and words in result.stderr and "sweep.seeds" in result.stderr
    assert not (empty_workdir / "mlruns").exists()


def test_a_search_takes_no_adaptive_seeds(empty_workdir):
    path = empty_workdir / "bad.yaml"
    path.write_text(
        "name: bad\nbase: {dataset: synthetic}\n"
        "sweep: {kind: tpe, n_trials: 3, params: {lr: {low: 0.001, high: 0.1}}, seeds: {min: 1, max: 3}}\n"
    )
    result = invoke("run", path)
    assert result.exit_code == 2 and "is for kind: grid, not tpe" in result.stderr


@pytest.mark.slow
def test_two_workers_and_a_kill_run_each_cell_and_seed_exactly_once(workdir):
    from tests.support.sweeps import study, write_spec
    from tests.sweep.test_chaos import FAST_RECOVERY, cifarsweep, running_trials, wait_for
    from tests.sweep.test_faults import assert_every_cell_once_and_nothing_running

    # Clipping the gradient norm at 1000 never clips: the two configurations train alike, their
    # intervals always overlap, so both run every seed up to max, in rounds after the first.
    sweep = {"kind": "grid", "params": {"grad_clip_norm": [None, 1000.0]}, "seeds": {"min": 2, "max": 3}}
    path = write_spec(workdir, base={"epochs": 3}, sweep={**sweep, **FAST_RECOVERY})
    launcher = cifarsweep(workdir, "run", str(path), "--workers", "2")
    ((_, pid), *_) = wait_for(lambda: running_trials(1), launcher, "a worker's first epoch")
    os.kill(pid, signal.SIGKILL)  # one worker dies mid-trial; the other takes its trial over
    _, err = launcher.communicate(timeout=600)
    result = invoke("run", path)  # whatever the launcher left (it may report the lost worker), run to the end
    assert result.exit_code == 0, err.decode() + result.output
    assert_every_cell_once_and_nothing_running(cells=2 * 3)
    seeds = sorted(t.user_attrs["seed"] for t in study().trials if t.state == TrialState.COMPLETE)
    assert seeds == [0, 0, 1, 1, 2, 2]
    status = invoke("status")
    assert "adaptive seeds: 6 trials queued so far of up to 6" in status.stdout
