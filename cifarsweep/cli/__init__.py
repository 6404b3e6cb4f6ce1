"""The ``cifarsweep`` command. Each command is a few lines over the library.

Commands live in one module per group and register themselves on the shared app.
"""

from cifarsweep.cli import (
    dashboard,  # noqa: F401  (registers the command)
    probes,  # noqa: F401  (landscape, filters, conv-geometry)
    report,  # noqa: F401  (registers the command)
    sweep,  # noqa: F401
    train,  # noqa: F401  (registers the command)
)
from cifarsweep.cli.common import app

__all__ = ["app"]
