"""What every report module shares: one figure of a page, the plan of a report, file names.

The report (``report``), the search figures (``search_figures``) and the run
page (``run_report``) all build on these, so none of them imports another's
internals and the package has no import cycle.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

REPORTS_DIR = Path("reports")
DPI = 110


@dataclass
class Figure:
    """One figure of the page: its file stem, the numbers it shows and how to draw them."""

    name: str
    heading: str
    caption: str
    table: pd.DataFrame
    draw: Callable[[], Any]
    notes: list[str] = field(default_factory=list)
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)  # more CSVs of numbers the figure shows


@dataclass
class Plan:
    """What a report shows: the metric, its direction, the swept parameters, the figures and warnings."""

    metric: str
    direction: str
    swept: list[str]
    figures: list[Figure]
    warnings: list[str] = field(default_factory=list)
    seeds: Any = None  # the seed statistics (``seed_report.SeedAnalysis``) when the report computes them


def slug(name: str) -> str:
    """A file-name-safe form of ``name``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "report"
