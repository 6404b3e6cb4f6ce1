"""One number format in every display: accuracies in percent (one decimal), other floats 4 significant digits."""

from cifarsweep import console as console_module
from cifarsweep.formatting import metric_value, number, percent
from cifarsweep.sweep import display as display_module
from cifarsweep.sweep.display import SweepDisplay
from cifarsweep.sweep.space import Cell
from cifarsweep.trainer.results import EpochReport


def test_helpers():
    assert percent(0.72345) == "72.3%" and percent(None) == "n/a"
    assert number(0.0022881136684755237) == "0.002288" and number(1.23456) == "1.235" and number(3) == "3"
    assert metric_value("val_acc", 0.5) == "50.0%" and metric_value("best_val_acc", 0.25) == "25.0%"
    assert metric_value("val_top5", 0.9) == "90.0%" and metric_value("gen_gap", 0.031) == "3.1%"
    assert metric_value("val_loss", 0.123456) == "0.1235" and metric_value("val_f1_macro", 0.5) == "50.0%"


def test_a_sampled_value_shows_four_significant_digits():
    assert Cell({"lr": 0.0022881136684755237}, 0).label == "lr=0.002288,seed=0"
    assert Cell({"weight_decay": 1e-4, "batch_size": 128}, 1).label == "weight_decay=1e-04,batch_size=128,seed=1"


def printed(monkeypatch, module) -> list[str]:
    lines: list[str] = []
    monkeypatch.setattr(module.console, "print", lambda text, *a, **k: lines.append(str(text)))
    return lines


def test_sweep_lines_show_accuracy_in_percent(monkeypatch):
    lines = printed(monkeypatch, display_module)
    display = SweepDisplay("s", "val_acc", "maximize", enabled=False)
    display.start(4, 0, best=(0.61234, 2))
    display.finished_line(3, "COMPLETE", 0.5, Cell({"lr": 0.0022881136684755237}, 0).label, 12.0)
    assert "best val_acc 61.2% (trial 2)" in lines[0]
    assert "trial 3 COMPLETE val_acc 50.0% lr=0.002288,seed=0" in lines[1]


def test_epoch_line_shows_percent_and_four_digits(monkeypatch):
    lines = printed(monkeypatch, console_module)
    report = EpochReport(
        epoch=1,
        epochs=2,
        train_loss=1.234567,
        train_acc=0.41234,
        val_loss=1.1111111,
        val_acc=0.45678,
        val_top5=0.9,
        lr=0.0022881136684755237,
        epoch_seconds=3.0,
        best_val_acc=0.45678,
        is_best=True,
    )
    console_module.TrainProgressBar(enabled=False).epoch(report)
    assert "train loss 1.235 acc 41.2%" in lines[0] and "val loss 1.111 acc 45.7% top5 90.0%" in lines[0]
    assert "lr 0.002288" in lines[0]


def test_the_best_trial_names_its_variant():
    from cifarsweep.sweep.display import best_line

    attrs = Cell({}, 0, "no_flip", {"hflip": False}).to_attrs() | {"mlflow_run_id": "abc"}
    line = best_line("val_acc", 1, 0.61234, attrs)
    assert line == "best val_acc 61.2%: trial 1 no_flip,seed=0 (run abc)"
    grid = Cell({"lr": 0.1}, 2).to_attrs()
    assert "trial 4 lr=0.1,seed=2 (run ?)" in best_line("val_loss", 4, 0.5, grid)
