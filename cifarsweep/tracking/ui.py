"""``cifarsweep ui``: the ``mlflow ui`` command line for the project's store (served by ``api.serving``)."""

from __future__ import annotations

import sys
from pathlib import Path


def ui_command(uri: str, artifact_root: Path, host: str, port: int, workers: int) -> list[str]:
    """The ``mlflow ui`` command line for the project's store."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--default-artifact-root",
        str(artifact_root.resolve()),
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
