"""Small helpers shared by the CLI tests."""

from __future__ import annotations

from typer.testing import CliRunner

from cifarsweep.cli import app


def invoke(*args: str):
    """Run ``cifarsweep ARGS`` in-process; returns click's Result (exit_code, stdout, stderr)."""
    return CliRunner().invoke(app, [str(arg) for arg in args], catch_exceptions=False)
