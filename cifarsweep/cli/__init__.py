"""The ``cifarsweep`` command. Each command is a few lines over the library.

Commands live in one module per group and register themselves on the shared app.
"""

from cifarsweep.cli.common import app
from cifarsweep.cli import train  # noqa: F401  (registers the command)
from cifarsweep.cli import probes  # noqa: F401  (landscape, filters, conv-geometry)
from cifarsweep.cli import sweep  # noqa: F401
from cifarsweep.cli import report  # noqa: F401  (registers the command)

__all__ = ["app"]
