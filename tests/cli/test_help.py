"""--help reads as usual: flags without a value type, arguments in capitals, texts that fit the command."""

import re

import pytest

from cifarsweep.cli import app
from tests.support.cli import invoke

COMMANDS = sorted(command.name or command.callback.__name__.replace("_", "-") for command in app.registered_commands)


def help_text(*command: str) -> str:
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    return re.sub(r"\s+", " ", result.stdout)


@pytest.mark.parametrize("command", COMMANDS)
def test_flags_show_no_type_and_arguments_read_as_usual(command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    text = help_text(command)
    usage_and_description = text.split("Usage:")[1].split("╭")[0]
    assert "<bool>" not in text and "{" not in usage_and_description
    assert "--help Show this message" in text


def test_usage_lines(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert "Usage: cifarsweep run [OPTIONS] SPEC_PATH " in help_text("run")
    assert "Usage: cifarsweep landscape [OPTIONS] RUN_ID " in help_text("landscape")
    assert "Usage: cifarsweep status [OPTIONS] [SWEEP] " in help_text("status")
    assert "--surface-3d Also draw" in help_text("landscape")


def test_seed_texts_say_what_each_seed_chooses(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert "--seed <int> Seed of the random directions" in help_text("landscape")
    for command in ("filters", "conv-geometry"):
        text = help_text(command)
        assert "direction" not in text and "validation image" in text, command
