"""Where a probe's files go: a folder, written atomically, then published to the run.

Every file is written to a temporary name and renamed into place, so a probe
killed half-way never leaves a truncated grid behind for the next run to
continue from. When the folder is the run's own artifact folder (the default
local store) the files are artifacts as soon as they exist; otherwise
``publish`` uploads the files it wrote to the run.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import pandas as pd

from cifarsweep.analysis.style import close

FIGURE_DPI = 120


def write_atomic(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Call ``write`` on a temporary file beside ``path``, flush it to disk, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


class ProbeOutput:
    """A folder of one probe's results, and how it reaches the run's artifacts."""

    def __init__(self, folder: Path, location: str | None = None, upload: Callable[[list[Path]], None] | None = None):
        self.folder = Path(folder)
        self.location = location or str(self.folder)
        self._upload = upload
        self.written: list[str] = []

    def path(self, name: str) -> Path:
        return self.folder / name

    def _note(self, name: str) -> Path:
        if name not in self.written:
            self.written.append(name)
        return self.path(name)

    def save_figure(self, figure, name: str) -> Path:
        """Save a matplotlib Figure as PNG and close it (figures hold a lot of memory)."""
        path = self._note(name)
        write_atomic(path, lambda handle: figure.savefig(handle, format="png", dpi=FIGURE_DPI))
        close(figure)
        return path

    def save_frame(self, frame: pd.DataFrame, name: str) -> Path:
        path = self._note(name)
        write_atomic(path, lambda handle: handle.write(frame.to_csv(index=False).encode()))
        return path

    def save_arrays(self, name: str, arrays: dict[str, np.ndarray]) -> Path:
        """An uncompressed ``.npz`` of named arrays (read back with ``allow_pickle=False``)."""
        path = self._note(name)
        # cast: numpy's stub would match a name in ``arrays`` against ``allow_pickle: bool``
        write_atomic(path, lambda handle: np.savez(handle, **cast(dict[str, Any], arrays)))
        return path

    def save_json(self, name: str, data: dict[str, Any]) -> Path:
        path = self._note(name)
        write_atomic(path, lambda handle: handle.write(json.dumps(data, indent=2).encode()))
        return path

    def publish(self) -> str:
        """Make the files artifacts of the run (an upload for remote stores); returns where they are."""
        if self._upload is not None:
            self._upload([self.path(name) for name in self.written])
        return self.location
