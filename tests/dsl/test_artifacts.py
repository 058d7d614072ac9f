"""What a component sees at run time: artifact objects and the metrics they log."""

from __future__ import annotations

import pytest

from sluiceway import dsl


def test_path_follows_a_local_uri_unless_set():
    artifact = dsl.Dataset(name="rows", uri="file:///data/rows.csv")
    assert artifact.path == "/data/rows.csv"
    artifact.path = "/tmp/staged/rows.csv"
    assert artifact.path == "/tmp/staged/rows.csv" and artifact.uri == "file:///data/rows.csv"


def test_metrics_are_kept_in_metadata():
    metrics = dsl.Metrics()
    metrics.log_metric("accuracy", 0.91)
    metrics.log_metric("loss", 0.2)
    assert metrics.metadata == {"accuracy": 0.91, "loss": 0.2}


def test_roc_curve_and_confusion_matrix():
    metrics = dsl.ClassificationMetrics()
    metrics.log_roc_curve(fpr=[0.0, 0.5], tpr=[0.2, 1.0], threshold=[0.9, 0.1])
    metrics.log_confusion_matrix(["cat", "dog"], [[8, 2], [1, 9]])
    assert metrics.metadata["confidenceMetrics"] == [
        {"confidenceThreshold": 0.9, "recall": 0.2, "falsePositiveRate": 0.0},
        {"confidenceThreshold": 0.1, "recall": 1.0, "falsePositiveRate": 0.5},
    ]
    assert metrics.metadata["confusionMatrix"] == {
        "annotationSpecs": [{"displayName": "cat"}, {"displayName": "dog"}],
        "rows": [{"row": [8, 2]}, {"row": [1, 9]}],
    }


def test_malformed_metrics_say_what_is_wrong():
    metrics = dsl.ClassificationMetrics()
    with pytest.raises(ValueError, match="fpr, tpr and threshold differ in length: 2, 1, 2"):
        metrics.log_roc_curve([0.0, 1.0], [1.0], [0.5, 0.1])
    with pytest.raises(ValueError, match="matrix has 1 rows; expected 2"):
        metrics.log_confusion_matrix(["a", "b"], [[1, 2]])
    metrics.set_confusion_categories(["a", "b"])
    with pytest.raises(ValueError, match=r"unknown category 'c'; categories are \['a', 'b'\]"):
        metrics.log_confusion_matrix_row("c", [1, 2])
