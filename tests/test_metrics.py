import math
from pathlib import Path

import numpy as np

from backends.metrics import ConfusionMatrix


def test_hand_computed_case() -> None:
    # 3 classes; the ignore label 255 is excluded everywhere.
    true = np.array([[0, 0, 1, 1], [2, 2, 255, 1]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 2, 2]])
    cm = ConfusionMatrix.from_labels(true, pred, 3, ignore=255)
    # rows = true, columns = predicted
    assert cm.matrix.tolist() == [[1, 1, 0], [0, 2, 1], [1, 0, 1]]
    assert cm.pixels == 7
    assert math.isclose(cm.pixel_accuracy, 4 / 7)
    # IoU: c0 1/(2+2-1)=1/3, c1 2/(3+3-2)=1/2, c2 1/(2+2-1)=1/3
    assert np.allclose(cm.iou, [1 / 3, 1 / 2, 1 / 3])
    assert math.isclose(cm.miou, (1 / 3 + 1 / 2 + 1 / 3) / 3)
    # similarity pools classes 1..2: (2 + 1) / (4 + 3)
    assert math.isclose(cm.similarity, 3 / 7)


def test_absent_class_is_nan_and_left_out_of_the_mean() -> None:
    cm = ConfusionMatrix.from_labels(np.array([0, 0, 1]), np.array([0, 0, 1]), 3)
    assert math.isnan(cm.iou[2])
    assert cm.miou == 1.0
    summary = cm.summary(["a", "b", "c"])
    assert summary["iou"]["c"] is None and summary["miou"] == 1.0


def test_matrices_add_and_normalise_by_row() -> None:
    a = ConfusionMatrix.from_labels(np.array([0, 1]), np.array([0, 0]), 2)
    b = ConfusionMatrix.from_labels(np.array([1, 1]), np.array([1, 1]), 2)
    total = a + b
    assert total.matrix.tolist() == [[1, 0], [1, 2]]
    assert np.allclose(total.normalised(), [[1, 0], [1 / 3, 2 / 3]])
    assert ConfusionMatrix.empty(2).normalised().tolist() == [[0, 0], [0, 0]]


def test_empty_matrix_has_no_figures() -> None:
    cm = ConfusionMatrix.empty(4)
    assert math.isnan(cm.pixel_accuracy) and math.isnan(cm.miou) and math.isnan(cm.similarity)


def test_matches_a_naive_loop_on_random_labels() -> None:
    rng = np.random.default_rng(0)
    true = rng.integers(0, 5, (4, 32, 32))
    true[rng.random(true.shape) < 0.1] = 255
    pred = rng.integers(0, 5, (4, 32, 32))
    expected = np.zeros((5, 5), int)
    for t, p in zip(true.ravel(), pred.ravel(), strict=True):
        if t != 255:
            expected[t, p] += 1
    assert (ConfusionMatrix.from_labels(true, pred, 5).matrix == expected).all()
    # the same as uint8 arrays (masks and predictions as they come), and an ignore label that
    # is a class index (its row is left out, its column kept)
    small = ConfusionMatrix.from_labels(true.astype(np.uint8), pred.astype(np.uint8), 5)
    assert (small.matrix == expected).all()
    expected[2] = 0
    assert (ConfusionMatrix.from_labels(true, pred, 5, ignore=2).matrix == expected).all()


def test_predict_takes_the_argmax_of_quantised_output_without_dequantising(
    trained_ws: Path,
) -> None:
    """A real LiteRT int8 model: class indices straight from its int8 output equal the argmax
    of the dequantised probabilities on every pixel of the validation images."""
    from backends.datasets.shards import split
    from backends.runtimes import infer, load, predict
    from backends.workspace import Workspace

    ws = Workspace.open(trained_ws)
    int8 = next(a for a in ws.catalog.artifacts("tflite") if a.meta.get("precision") == "int8")
    assert int8.dataset_id is not None
    dataset = ws.catalog.dataset_by_id(int8.dataset_id)
    model = load("litert", ws.verify(int8))
    images, _ = next(split(ws.path(dataset.path), "val").batches(4))
    assert model.run(model.prepare(images)).dtype == np.int8
    labels = predict(model, images)
    assert labels.dtype == np.uint8 and (labels == infer(model, images).argmax(-1)).all()


def test_classification_figures_by_hand() -> None:
    # 3 classes, 8 images; class 2 is never predicted
    true = np.array([0, 0, 0, 1, 1, 2, 2, 1])
    pred = np.array([0, 0, 1, 1, 1, 1, 0, 1])
    cm = ConfusionMatrix.from_labels(true, pred, 3, ignore=None)
    assert cm.matrix.tolist() == [[2, 1, 0], [0, 3, 0], [1, 1, 0]]
    assert cm.pixel_accuracy == 5 / 8
    assert np.allclose(cm.precision[:2], [2 / 3, 3 / 5]) and math.isnan(cm.precision[2])
    assert np.allclose(cm.recall, [2 / 3, 1, 0])
    f1 = [2 * (2 / 3) * (2 / 3) / (4 / 3), 2 * (3 / 5) / (3 / 5 + 1), 0]
    assert math.isclose(cm.macro_f1, sum(f1) / 3)
    summary = cm.summary(["a", "b", "c"], "classification")
    assert summary["accuracy"] == 0.625 and summary["precision"]["c"] is None
    assert summary["recall"] == {"a": 0.666667, "b": 1.0, "c": 0.0}
    assert "miou" not in summary and summary["confusion"] == cm.matrix.tolist()


def test_macro_f1_matches_per_class_loop_on_random_labels() -> None:
    rng = np.random.default_rng(1)
    true, pred = rng.integers(0, 10, 500), rng.integers(0, 10, 500)
    scores = []
    for c in range(10):
        tp = np.sum((true == c) & (pred == c))
        fp, fn = np.sum((true != c) & (pred == c)), np.sum((true == c) & (pred != c))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    cm = ConfusionMatrix.from_labels(true, pred, 10, ignore=None)
    assert math.isclose(cm.macro_f1, float(np.mean(scores)))
