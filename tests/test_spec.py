"""Spec validation: every mistake is one line naming the key (and the line), exit 2, nothing written."""

import pytest

from cifarsweep.errors import UserError
from cifarsweep.spec import load_spec
from tests.support import files_under
from tests.support.cli import invoke

GOOD = """\
name: good
base:
  dataset: synthetic
  width: 8
sweep:
  kind: grid
  params:
    batch_size: [128, 256]
    weight_decay: [1.0e-4, 5e-4]
    grad_clip: [null, 0.1]
  seeds: [0, 1]
objective:
  metric: val_acc
pruner:
  kind: median
"""

MALFORMED = [
    # (spec text, fragment the one-line error must contain)
    ("base: {width: 8}\n", "name"),
    ("name: 'bad name!'\n", "name"),
    ("name: x\nbase: {widht: 8}\n", "base.widht"),
    ("name: x\nbase: {width: eight}\n", "base.width"),
    ("name: x\nbase: {optimizer: lion}\n", "base.optimizer"),
    ("name: x\nsweeep: {kind: grid}\n", "sweeep"),
    ("name: x\nsweep: {kind: bayes}\n", "sweep.kind"),
    ("name: x\nsweep: {params: {batch_size: []}}\n", "sweep.params.batch_size"),
    ("name: x\nsweep: {params: {batch_size: [128, big]}}\n", "sweep.params.batch_size.1"),
    ("name: x\nsweep: {params: {learning_rate: [0.1]}}\n", "sweep.params.learning_rate"),
    ("name: x\nsweep: {params: {lr: [0.1, 0.1]}}\n", "sweep.params.lr"),
    ("name: x\nsweep: {kind: tpe, n_trials: 5, params: {lr: {low: 0.1, high: 0.01}}}\n", "sweep.params.lr"),
    ("name: x\nsweep: {kind: tpe, n_trials: 5, params: {lr: {low: 0, high: 0.1, log: true}}}\n", "sweep.params.lr"),
    ("name: x\nsweep: {kind: tpe, n_trials: 5, params: {optimizer: {choices: [sgd, 1]}}}\n", "sweep.params.optimizer"),
    ("name: x\nsweep: {kind: tpe, params: {lr: {low: 0.001, high: 0.1}}}\n", "sweep.n_trials"),
    ("name: x\nsweep: {kind: tpe, n_trials: 5, params: {lr: [0.1, 0.01]}}\n", "sweep.params.lr"),
    ("name: x\nsweep: {kind: grid, n_trials: 5, params: {lr: [0.1]}}\n", "sweep.n_trials"),
    (
        "name: x\nsweep: {kind: tpe, n_trials: 5, params: {optimizer: {choices: [sgd, lion]}}}\n",
        "sweep.params.optimizer.choices.1",
    ),
    ("name: x\nobjective: {metric: accuracy}\n", "objective.metric"),
    ("name: x\nobjective: {metric: val_acc, direction: up}\n", "objective.direction"),
    ("name: x\npruner: {kind: sometimes}\n", "pruner.kind"),
    ("name: x\nobjective: {metric: val_f1_macro}\npruner: {kind: median}\n", "pruner.kind"),
    ("name: x\nsweep: {seeds: []}\n", "sweep.seeds"),
    ("name: x\nsweep: {params: {seed: [1, 2]}}\n", "sweep.params.seed"),
    ("name: x\nsweep: {variants: {no_crop: {random_crp: false}}}\n", "sweep.variants.no_crop.random_crp"),
    ("name: x\nsweep: {kind: tpe, n_trials: 3, seeds: [0, 1], params: {lr: {low: 0.001, high: 0.1}}}\n", "sweep.seeds"),
    ("name: x\nbase: [1, 2]\n", "base"),
    ("name: x\nsweep: {params: {lr: [0.1]}\n", "invalid YAML"),
    ("- just\n- a list\n", "top level"),
]


@pytest.mark.parametrize("text, fragment", MALFORMED, ids=[f[1] + f"-{i}" for i, f in enumerate(MALFORMED)])
def test_malformed_spec_exits_2_naming_the_key_and_writes_nothing(empty_workdir, text, fragment):
    (empty_workdir / "spec.yaml").write_text(text)
    before = files_under(empty_workdir)
    result = invoke("run", "spec.yaml")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], lines
    assert files_under(empty_workdir) == before  # no mlruns/, no database


def test_errors_point_at_the_file_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(GOOD.replace("batch_size: [128, 256]", "batch_size: [128, huge]"))
    with pytest.raises(UserError, match=r"s.yaml:8: sweep.params.batch_size.1"):
        load_spec(path)


def test_a_good_spec_and_overrides(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(GOOD)
    spec = load_spec(path, ["base.epochs=5", "sweep.seeds=[3]"])
    assert spec.base.epochs == 5 and spec.base.width == 8 and spec.base.model == "resnet34"
    assert spec.sweep.params["grad_clip"] == [None, 0.1] and spec.sweep.params["weight_decay"] == [1e-4, 5e-4]
    assert spec.seeds == [3] and spec.objective.resolved_direction == "maximize"


def test_missing_spec_file(empty_workdir):
    result = invoke("run", "nope.yaml")
    assert result.exit_code == 2 and "nope.yaml" in result.stderr


def test_unknown_override_key(empty_workdir):
    (empty_workdir / "spec.yaml").write_text(GOOD)
    result = invoke("run", "spec.yaml", "--set", "base.lrr=1")
    assert result.exit_code == 2 and "base.lrr" in result.stderr
