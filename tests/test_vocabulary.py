"""One vocabulary: trial states and run statuses only in ``tracking.schema``, metric rules only in ``metrics``.

Parsed with ``ast``: a string constant that spells a state, or a suffix test on a
metric name, anywhere else in the package fails here with its file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

from cifarsweep import metrics
from cifarsweep.formatting import metric_value
from cifarsweep.tracking.schema import RunStatus, TrialState
from cifarsweep.trainer.results import EpochReport

PACKAGE = Path(__file__).resolve().parents[1] / "cifarsweep"
STATE_WORDS = {member.value for member in TrialState} | {member.value for member in RunStatus}
# Pieces of metric names that a unit or direction rule tests for.
METRIC_RULE_PIECES = {"_acc", "_top5", "loss", "seconds", "acc", "top5", "gen_gap", "val_f1_macro"}


def _constants(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node


def test_no_bare_state_string_outside_the_schema():
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.value!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PACKAGE / "tracking" / "schema.py"
        for node in _constants(path)
        if node.value in STATE_WORDS
    ]
    assert found == [], "use tracking.schema.TrialState / RunStatus:\n" + "\n".join(found)


def test_no_metric_unit_rule_outside_the_metric_table():
    rules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "metrics.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "endswith":
                pieces = {c.value for arg in node.args for c in ast.walk(arg) if isinstance(c, ast.Constant)}
                if pieces & METRIC_RULE_PIECES:
                    rules.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
            if isinstance(node, ast.Compare) and any(isinstance(op, ast.In) for op in node.ops):
                left = node.left
                if isinstance(left, ast.Constant) and left.value in {"acc", "top5", "_acc", "loss"}:
                    rules.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert rules == [], "read cifarsweep.metrics instead of testing metric names:\n" + "\n".join(rules)


def test_the_table_holds_every_metric_the_trainer_reports():
    reported = set(EpochReport.__dataclass_fields__) - {"epoch", "epochs", "best_val_acc", "is_best", "checkpoint"}
    assert reported == set(metrics.EPOCH_METRICS)
    assert set(metrics.FINAL_METRICS) >= {"best_val_acc", "val_f1_macro", "clean_train_acc", "gen_gap"}
    for name in metrics.OBJECTIVE_METRICS:
        assert metrics.metric(name).direction in ("maximize", "minimize")


def test_macro_f1_reads_the_same_in_the_terminal_and_the_report():
    # It was 0.4567 in the terminal and 45.7 % in the report.
    assert metric_value("val_f1_macro", 0.4567) == "45.7%"
    assert metrics.metric_unit("val_f1_macro") == (100.0, "%")
    assert metrics.metric_range("val_f1_macro") == (0.0, 100.0)


def test_units_ranges_and_directions():
    assert metrics.metric_label("val_acc") == "validation accuracy (%)"
    assert metrics.metric_label("val_loss") == "validation loss (cross-entropy)"
    assert metrics.metric_label("epoch_seconds") == "epoch time (s)"
    assert metrics.range_words("gen_gap") == "[-100, 100] points"
    assert metrics.range_words("val_top5") == "[0, 100] %"
    assert metrics.range_words("train_loss") == "≥ 0"
    assert metrics.lower_is_better("gen_gap") and metrics.lower_is_better("val_loss")
    assert not metrics.lower_is_better("val_acc")
    assert metrics.decimals("val_acc") == 1 and metrics.decimals("val_loss") == 3
    unknown = metrics.metric("custom_score")
    assert (unknown.scale, unknown.unit, metrics.range_words("custom_score")) == (1.0, "", "(unbounded)")
    assert "lr" not in metrics.OBJECTIVE_METRICS and "val_acc" in metrics.PER_EPOCH_OBJECTIVES


def test_states_read_as_their_names():
    assert str(TrialState.COMPLETE) == "COMPLETE" and f"{TrialState.PRUNED}" == "PRUNED"
    assert TrialState.FAIL == "FAIL" and {"RUNNING": 1}[TrialState.RUNNING] == 1
    assert RunStatus("KILLED") is RunStatus.KILLED
