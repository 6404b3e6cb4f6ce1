"""The README and --help stay true to the code."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from cifarsweep.cli import app
from cifarsweep.config.training import TRAIN_FIELDS
from tests.support.cli import invoke

README = (Path(__file__).parent.parent / "README.md").read_text()


def commands() -> dict:
    return typer.main.get_command(app).commands


def test_readme_opens_with_the_two_commands():
    first_block = README.split("```")[1].strip().splitlines()
    assert [line.split()[0:2] for line in first_block] == [["make", "demo"], ["make", "test"]]


def test_every_command_has_help_and_is_in_the_readme():
    for name, command in commands().items():
        assert command.help and len(command.help) > 20, name
        assert f"cifarsweep {name}" in README, name
        result = invoke(name, "--help")
        assert result.exit_code == 0 and "Usage" in result.stdout


def test_contract_commands_exist():
    expected = {
        "run",
        "worker",
        "train",
        "status",
        "report",
        "ui",
        "landscape",
        "filters",
        "conv-geometry",
        "reconcile",
    }
    assert expected <= set(commands())


def test_every_training_field_is_in_the_readme_table():
    for field in TRAIN_FIELDS:
        assert f"| `{field}` |" in README, field


@pytest.mark.slow
def test_the_first_python_example_runs_as_written(tmp_path):
    """The README's first Python block, verbatim, in a fresh process and an empty working directory."""
    block = README.split("```python\n", 1)[1].split("```", 1)[0]
    assert 'cifarsweep.run("sweeps/synthetic_demo.yaml")' in block
    (tmp_path / "sweeps").symlink_to(Path(__file__).parent.parent / "sweeps")
    # What the block's last line shows in a notebook, after a marker (the progress lines come before it).
    code = block + "\nprint('--- trials ---')\nprint(r.trials.head().to_string())\n"
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "CIFARSWEEP_STORAGE")}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    table = done.stdout.split("--- trials ---\n", 1)[1]
    assert table.count("COMPLETE") == 4 and "lr=0.01 wd=1e-4 s0" in table
