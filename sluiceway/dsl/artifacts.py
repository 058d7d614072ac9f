"""Artifact classes: the types of files that flow between tasks, and what a task sees at run time.

The class name is the IR type name (`Dataset` -> type "Dataset"). Inside a running task the
executor gives the function instances whose `path` is a local file to read or write and
whose `metadata` it records.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Artifact:
    """Any file or folder produced or consumed by a task."""

    schema_title: ClassVar[str] = "Artifact"

    def __init__(self, name: str = "", uri: str = "", metadata: dict[str, Any] | None = None, path: str | None = None) -> None:
        self.name = name
        self.uri = uri
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._path = path

    @property
    def path(self) -> str:
        """The local file for this artifact (set by the executor; a local URI otherwise)."""
        if self._path is not None:
            return self._path
        return self.uri.removeprefix("file://")

    @path.setter
    def path(self, value: str) -> None:
        self._path = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, uri={self.uri!r}, metadata={self.metadata!r})"


class Dataset(Artifact):
    schema_title = "Dataset"


class Model(Artifact):
    schema_title = "Model"


class HTML(Artifact):
    schema_title = "HTML"


class Markdown(Artifact):
    schema_title = "Markdown"


class Metrics(Artifact):
    """Scalar metrics, kept in the artifact's metadata."""

    schema_title = "Metrics"

    def log_metric(self, metric: str, value: float) -> None:
        self.metadata[metric] = value


class ClassificationMetrics(Artifact):
    """ROC curves and confusion matrices, kept in the artifact's metadata."""

    schema_title = "ClassificationMetrics"

    def log_roc_data_point(self, fpr: float, tpr: float, threshold: float) -> None:
        self.metadata.setdefault("confidenceMetrics", []).append(
            {"confidenceThreshold": threshold, "recall": tpr, "falsePositiveRate": fpr}
        )

    def log_roc_curve(self, fpr: list[float], tpr: list[float], threshold: list[float]) -> None:
        if not len(fpr) == len(tpr) == len(threshold):
            raise ValueError(f"fpr, tpr and threshold differ in length: {len(fpr)}, {len(tpr)}, {len(threshold)}")
        for point in zip(fpr, tpr, threshold, strict=True):
            self.log_roc_data_point(*point)

    def set_confusion_categories(self, categories: list[str]) -> None:
        size = len(categories)
        self.metadata["confusionMatrix"] = {
            "annotationSpecs": [{"displayName": c} for c in categories],
            "rows": [{"row": [0] * size} for _ in categories],
        }

    def log_confusion_matrix_row(self, row_category: str, row: list[int]) -> None:
        matrix = self.metadata["confusionMatrix"]
        names = [spec["displayName"] for spec in matrix["annotationSpecs"]]
        if row_category not in names:
            raise ValueError(f"unknown category '{row_category}'; categories are {names}")
        if len(row) != len(names):
            raise ValueError(f"row has {len(row)} values; expected {len(names)}")
        matrix["rows"][names.index(row_category)] = {"row": list(row)}

    def log_confusion_matrix(self, categories: list[str], matrix: list[list[int]]) -> None:
        if len(matrix) != len(categories):
            raise ValueError(f"matrix has {len(matrix)} rows; expected {len(categories)}")
        self.set_confusion_categories(categories)
        for category, row in zip(categories, matrix, strict=True):
            self.log_confusion_matrix_row(category, row)


class SlicedClassificationMetrics(ClassificationMetrics):
    schema_title = "SlicedClassificationMetrics"


ARTIFACT_CLASSES: dict[str, type[Artifact]] = {
    cls.schema_title: cls for cls in (Artifact, Dataset, Model, HTML, Markdown, Metrics, ClassificationMetrics, SlicedClassificationMetrics)
}
