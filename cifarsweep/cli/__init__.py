"""The ``cifarsweep`` command. Each command is a few lines over the library.

Commands live in one module per group and register themselves on the shared app.
"""

from cifarsweep.cli.common import app
from cifarsweep.cli import train  # noqa: F401  (registers the command)

__all__ = ["app"]
