"""Spec validation: every mistake is one line naming the key (and the line), exit 2, nothing written."""

import pytest

from cifarsweep.errors import UserError
from cifarsweep.sweep.spec import load_spec
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

HUNDRED = list(range(1, 101))
THOUSAND = list(range(1000))

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
    # Issue 12 item 9: specs that passed validation and then failed after writing.
    ("name: x\nsweep: {seed: -5}\n", "sweep.seed"),
    ("name: x\nsweep: {seed: 1e20}\n", "sweep.seed"),
    ("name: x\nsweep: {kind: tpe, n_trials: 3, params: {lr: {low: 0.001, high: .inf}}}\n", "sweep.params.lr.high"),
    ("name: x\nsweep: {kind: tpe, n_trials: 3, params: {lr: {low: .nan, high: 1}}}\n", "sweep.params.lr.low"),
    ("name: x\nsweep: {kind: tpe, n_trials: 3, params: {batch_size: {low: 16.0, high: 32.0}}}\n", "integer"),
    (
        "name: x\nbase: {dataset: synthetic, download: false, data_dir: nodata}\n"
        "sweep: {params: {dataset: [synthetic, cifar10]}}\n",
        "cifar10 not found",
    ),
    (
        f"name: x\nsweep: {{params: {{train_subset: {HUNDRED}, val_subset: {HUNDRED}, data_seed: {THOUSAND}}}}}\n",
        "sweep.max_cells",
    ),
    ("name: x\nsweep: {params: {}}\n", "sweep.params: empty"),
    ("name: x\nbase: {width: 8}\nbase: {width: 16}\n", "duplicate key 'base'"),
    ("name: x\nbase: {lr: 0.1, lr: 0.2}\n", "duplicate key 'lr'"),
    ('name: "abc\\n"\n', "name"),
    ("name: x\nsweep: {seeds: [true]}\n", "sweep.seeds.0"),
    ("name: x\nsweep: {seeds: [1e23]}\n", "sweep.seeds.0"),
    ("name: x\nsweep: {seeds: [-1]}\n", "sweep.seeds.0"),
    ("name: x\nbase: {lr: .inf}\n", "base.lr"),
    ("name: x\nbase: {seed: 4294967296}\n", "base.seed"),
    ("name: x\nbase: {epochs: 1e26}\n", "base.epochs"),
    ("name: x\nbase: {epochs: 1e9}\n", "base.epochs"),
    ("name: x\nsweep: {params: {lr: [.nan]}}\n", "sweep.params.lr.0"),
    ("name: x\nsweep: {params: {batch_size: [32, 32.0]}}\n", "sweep.params.batch_size.1"),
    ("name: x\nsweep: {params: {amp: [off, 'off']}}\n", "sweep.params.amp.1"),
    ("name: x\nsweep: {variants: {a: {seed: 3}}}\n", "sweep.variants.a.seed"),
    # item 11: inputs that gave exit 1 or 0
    ("name: x\nsweep: {params: {1: [1]}}\n", "sweep.params.1"),
    ("name: x\nsweep: {params: {null: [1]}}\n", "sweep.params.None"),
    ("name: x\nbase: {1: 2}\n", "base.1"),
    ("name: x\nbase: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than"),
    ("name: x\nbase: {amp: on}\n", "got true"),  # issue 18 item 4: the message shows what YAML read
    ("name: x\nsweep: {trial_figures: sometimes}\n", "sweep.trial_figures: expected true, false or auto"),
    ("name: x\nsweep: {trial_figures: 1}\n", "sweep.trial_figures: expected true, false or auto (got 1)"),
    # item 8: a 9-level alias bomb (expands to 9^9 strings when walked)
    (
        "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        + "".join(f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi")),
        "alias bomb",
    ),
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


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"name: x\n# caf\xe9\n", "spec.yaml:2: not UTF-8"),
        (b"name: x\n" + b"#" * 1_000_001 + b"\n", "at most"),
    ],
    ids=["latin-1", "too-big"],
)
def test_unreadable_spec_files_exit_2(empty_workdir, content, fragment):
    (empty_workdir / "spec.yaml").write_bytes(content)
    result = invoke("run", "spec.yaml")
    assert result.exit_code == 2 and fragment in result.stderr and len(result.stderr.splitlines()) == 1
    assert files_under(empty_workdir) == {"spec.yaml": (empty_workdir / "spec.yaml").stat().st_mtime}


def test_merge_keys_may_override_but_a_key_written_twice_may_not(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: x\nbase: &b {width: 8}\nsweep: {variants: {wide: {<<: *b, width: 16}}}\n")
    assert load_spec(path).sweep.variants == {"wide": {"width": 16}}


def test_amp_off_is_the_word_off_in_files_overrides_grids_and_choices(tmp_path):
    """Issue 18 item 4: YAML reads an unquoted `off` as false; amp's choices include the word."""
    path = tmp_path / "s.yaml"
    path.write_text("name: x\nbase: {amp: off}\nsweep: {params: {amp: [off, fp16]}}\n")
    spec = load_spec(path)
    assert spec.base.amp == "off" and spec.sweep.params["amp"] == ["off", "fp16"]
    assert load_spec(path, ["base.amp=fp16", "base.amp=off"]).base.amp == "off"
    path.write_text("name: x\nsweep: {kind: tpe, n_trials: 2, params: {amp: {choices: [off, fp16]}}}\n")
    assert load_spec(path).sweep.params["amp"].choices == ["off", "fp16"]


@pytest.mark.parametrize("interval, grace", [(5, 5), (10, 19), (1, 1)])
def test_a_grace_period_under_twice_the_heartbeat_is_refused(empty_workdir, interval, grace):
    # A grace close to the interval declares a worker lost after one late beat (issue 12 item 1).
    (empty_workdir / "spec.yaml").write_text(
        f"name: g\nsweep: {{heartbeat_interval: {interval}, grace_period: {grace}}}\n"
    )
    result = invoke("run", "spec.yaml")
    assert result.exit_code == 2, result.output
    assert "sweep.grace_period: must be at least twice heartbeat_interval" in result.stderr
    assert not (empty_workdir / "mlruns").exists()
