"""The README and --help stay true to the code."""

from pathlib import Path

import typer.main

from cifarsweep.cli import app
from cifarsweep.config import TRAIN_FIELDS
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
