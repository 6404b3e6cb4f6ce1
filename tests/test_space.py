"""Pure parts of a sweep: cells, keys, trial configs, samplers; and the ready specs in sweeps/."""

from pathlib import Path

import optuna
import pytest

from cifarsweep.sweep.space import Cell, cell_key, grid_cells, spec_value_text, suggest_params, trial_config
from cifarsweep.sweep.spec import load_spec
from cifarsweep.sweep.study import build_sampler
from tests.support.cli import invoke
from tests.support.sweeps import write_spec

SWEEPS = sorted((Path(__file__).parent.parent / "sweeps").glob("*.yaml"))


def test_grid_cells_are_cells_times_seeds_with_stable_distinct_keys(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    cells = grid_cells(spec)
    assert len(cells) == 8 and len({c.key for c in cells}) == 8
    assert [c.seed for c in cells] == [0] * 4 + [1] * 4  # a first pass over all cells comes first
    again = grid_cells(load_spec(write_spec(tmp_path)))
    assert [c.key for c in cells] == [c.key for c in again]
    assert cell_key({"lr": 0.01}, 0) == cell_key({"lr": 0.01}, 0) != cell_key({"lr": 0.01}, 1)


def test_variants_multiply_the_grid_and_override_the_base(tmp_path):
    spec = load_spec(
        write_spec(
            tmp_path,
            base={"mixup_alpha": 0.2},
            sweep={
                "kind": "grid",
                "params": {"lr": [0.1, 0.01]},
                "variants": {"full": {}, "no_mixup": {"mixup_alpha": 0.0}},
            },
        )
    )
    cells = grid_cells(spec)
    assert len(cells) == 4
    no_mixup = next(c for c in cells if c.variant == "no_mixup" and c.params["lr"] == 0.1)
    cfg = trial_config(spec, no_mixup)
    assert cfg.mixup_alpha == 0.0 and cfg.lr == 0.1 and cfg.width == 8
    assert Cell.from_attrs(no_mixup.to_attrs()) == no_mixup


def test_spec_value_text():
    assert [spec_value_text(v) for v in (1e-4, 5e-4, 0.01, None, True, 128, 2.5e-4)] == [
        "1e-04",
        "5e-04",
        "0.01",
        "null",
        "true",
        "128",
        "2.500e-04",
    ]


def test_seeded_sampler_is_reproducible(tmp_path):
    spec = load_spec(
        write_spec(
            tmp_path,
            sweep={
                "kind": "tpe",
                "n_trials": 5,
                "seed": 3,
                "params": {"lr": {"low": 1e-4, "high": 1e-1, "log": True}, "optimizer": {"choices": ["sgd", "adam"]}},
            },
        )
    )

    def draws():
        study = optuna.create_study(sampler=build_sampler(spec))
        values = []
        for _ in range(4):
            trial = study.ask()
            values.append(suggest_params(trial, spec))
            study.tell(trial, values[-1]["lr"])
        return values

    assert draws() == draws()
    other = optuna.create_study(sampler=build_sampler(spec, worker_index=1)).ask()
    assert suggest_params(other, spec) != draws()[0]  # a second worker draws other points


@pytest.mark.parametrize("path", SWEEPS, ids=[p.name for p in SWEEPS])
def test_every_ready_spec_loads_and_dry_runs(empty_workdir, path):
    spec = load_spec(path)
    assert spec.name == path.stem
    result = invoke("run", path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert not (empty_workdir / "mlruns").exists()


def test_the_ready_specs_cover_the_notebook_experiments():
    names = {p.stem for p in SWEEPS}
    assert {"quickstart", "lr_range", "hparam_grid", "aug_ablation", "optimizers", "schedulers", "tpe_search"} <= names


def test_run_names_carry_the_swept_values_short():
    from cifarsweep.sweep.space import Cell, short_value

    assert Cell({"lr": 0.01, "weight_decay": 1.0e-4}, 0).run_name == "lr=0.01 wd=1e-4 s0"
    assert Cell({"batch_size": 128, "grad_clip": None}, 3, "no_jitter").run_name == "no_jitter bs=128 clip=null s3"
    assert [short_value(v) for v in (5.0e-4, 0.0123456, 2.5e-5, True, "adam")] == [
        "5e-4",
        "0.0123",
        "2.5e-5",
        "true",
        "adam",
    ]
