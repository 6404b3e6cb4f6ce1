"""Macro F1 and the classification report count a class missing from the validation set the same way."""

import pytest
import torch

from cifarsweep.trainer.evaluate import class_report

CLASSES = ["cat", "dog", "bird"]


def test_a_class_without_validation_images_is_left_out_of_macro_f1_and_the_report():
    labels = torch.tensor([0, 0, 1, 1])  # no bird
    predictions = torch.tensor([0, 1, 1, 2])  # one image predicted as bird
    matrix, f1, text, table = class_report(labels, predictions, CLASSES)
    assert matrix.shape == (3, 3) and matrix.sum() == 4
    per_class = [table[name]["f1-score"] for name in ("cat", "dog")]
    assert f1 == pytest.approx(sum(per_class) / 2)
    assert f1 == pytest.approx(table["macro avg"]["f1-score"])
    assert "bird" not in table and table["absent_classes"] == ["bird"]
    assert "left out of the averages: bird" in text


def test_every_class_present_is_the_usual_macro_f1():
    labels = torch.tensor([0, 1, 2, 2])
    _, f1, _, table = class_report(labels, torch.tensor([0, 1, 2, 1]), CLASSES)
    assert f1 == pytest.approx(table["macro avg"]["f1-score"]) and "absent_classes" not in table
