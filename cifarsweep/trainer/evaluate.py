"""Evaluation passes: loss and top-k accuracy, and the per-class report at the end."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import classification_report, confusion_matrix, f1_score

from cifarsweep.data.datasets import ImageData
from cifarsweep.data.loader import eval_batches
from cifarsweep.trainer.device import Precision
from cifarsweep.trainer.predictions import Predictions


@dataclass
class Evaluation:
    loss: float
    top1: float
    top5: float
    predictions: torch.Tensor | None = None
    top5_hits: torch.Tensor | None = None  # with predictions: whether each label is in the top 5


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    batch_size: int,
    precision: Precision,
    channels_last: bool = False,
    keep_predictions: bool = False,
) -> Evaluation:
    """Mean cross-entropy (no smoothing), top-1 and top-5 over all images; one sync at the end."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=images.device, dtype=torch.float64)
    top1 = torch.zeros((), device=images.device, dtype=torch.int64)
    top5 = torch.zeros((), device=images.device, dtype=torch.int64)
    predictions = []
    top5_hits = []
    for batch, target in eval_batches(images, labels, batch_size, mean, std, channels_last):
        with precision.autocast():
            logits = model(batch)
        logits = logits.float()
        loss_sum += F.cross_entropy(logits, target, reduction="sum").double()
        k = min(5, logits.shape[1])
        ranked = logits.topk(k, dim=1).indices
        hits = ranked == target[:, None]
        top1 += hits[:, 0].sum()
        top5 += hits.any(dim=1).sum()
        if keep_predictions:
            predictions.append(ranked[:, 0])
            top5_hits.append(hits.any(dim=1))
    model.train(was_training)
    count = max(1, images.shape[0])
    return Evaluation(
        loss=loss_sum.item() / count,
        top1=top1.item() / count,
        top5=top5.item() / count,
        predictions=torch.cat(predictions).cpu() if keep_predictions and predictions else None,
        top5_hits=torch.cat(top5_hits).cpu() if keep_predictions and top5_hits else None,
    )


def class_report(labels: torch.Tensor, predictions: torch.Tensor, classes: list[str]):
    """Confusion matrix, macro F1 and scikit-learn's classification report (text and dict).

    A class with no image in the validation set (a small ``val_subset`` can miss
    one) has no defined F1: it is left out of the macro F1 and of the report's
    rows and averages alike, and the text names it. Its images, had it any
    predictions, still count against the classes they belonged to. The confusion
    matrix keeps every class.
    """
    y_true = labels.cpu().numpy()
    y_pred = predictions.cpu().numpy()
    indices = list(range(len(classes)))
    matrix = confusion_matrix(y_true, y_pred, labels=indices)
    present = [index for index in indices if (y_true == index).any()]
    f1 = float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))
    kwargs = dict(labels=present, target_names=[classes[i] for i in present], zero_division=0, digits=4)
    text = classification_report(y_true, y_pred, **kwargs)
    table = classification_report(y_true, y_pred, output_dict=True, **kwargs)
    absent = [classes[i] for i in indices if i not in present]
    if absent:
        text += f"\nnot in the validation set, left out of the averages: {', '.join(absent)}\n"
        table["absent_classes"] = absent
    return np.asarray(matrix), f1, text, table


def final_predictions(data: ImageData, final: Evaluation) -> Predictions | None:
    """The final pass's per-example predictions with each image's index in the validation split."""
    if final.predictions is None or final.top5_hits is None:
        return None
    labels = data.val_labels.cpu().numpy()
    indices = data.val_indices.cpu().numpy() if data.val_indices is not None else np.arange(len(labels))
    return Predictions(indices, labels, final.predictions.numpy(), final.top5_hits.numpy())
