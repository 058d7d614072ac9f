"""Nested pipelines and importers: bring in an existing data set and reuse a pipeline as a step.

An existing CSV of flower measurements is imported with `dsl.importer`, cleaned and
featurized by a small pipeline used as one step of the outer pipeline, and a
nearest-centroid classifier is trained only when there is enough data.

It shows:

- `dsl.importer(artifact_uri=..., artifact_class=dsl.Dataset, metadata=...)` with the URI
  given as a pipeline parameter;
- a `@dsl.pipeline` called inside another pipeline, taking an artifact input and returning
  an output that the outer pipeline reads with `task.output`;
- `dsl.Condition`, KFP's older name for `dsl.If`.

The data set must exist before the run; this folder ships one. Run with, for example,
`data_uri=file:///abs/path/to/examples/data/flowers.csv`.
"""

from typing import NamedTuple

from sluiceway import compiler, dsl


@dsl.component
def drop_incomplete_rows(raw: dsl.Input[dsl.Dataset], clean: dsl.Output[dsl.Dataset]) -> int:
    """Copy the rows that have every value; return how many were dropped."""
    import csv

    with open(raw.path, newline="") as handle:
        reader = csv.DictReader(handle)
        fieldnames, rows = reader.fieldnames, list(reader)
    complete = [row for row in rows if all(value.strip() for value in row.values())]
    with open(clean.path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(complete)
    print(f"dropped {len(rows) - len(complete)} of {len(rows)} rows")
    return len(rows) - len(complete)


@dsl.component
def add_ratio_features(clean: dsl.Input[dsl.Dataset], features: dsl.Output[dsl.Dataset]):
    """Add the length/width ratios of the sepals and petals as two more columns."""
    import csv

    with open(clean.path, newline="") as handle:
        reader = csv.DictReader(handle)
        fieldnames, rows = list(reader.fieldnames), list(reader)
    for row in rows:
        row["sepal_ratio"] = round(float(row["sepal_length"]) / float(row["sepal_width"]), 4)
        row["petal_ratio"] = round(float(row["petal_length"]) / float(row["petal_width"]), 4)
    with open(features.path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*fieldnames, "sepal_ratio", "petal_ratio"])
        writer.writeheader()
        writer.writerows(rows)


@dsl.pipeline(name="prepare-features", description="Clean a flower data set and add ratio features.")
def prepare_features(raw: dsl.Input[dsl.Dataset]):
    cleaned = drop_incomplete_rows(raw=raw)
    featurized = add_ratio_features(clean=cleaned.outputs["clean"])
    return featurized.outputs["features"]


@dsl.component
def profile_dataset(features: dsl.Input[dsl.Dataset]) -> NamedTuple("Profile", [("rows", int), ("classes", int)]):
    """Count the rows and the distinct species."""
    import csv
    from collections import Counter, namedtuple

    with open(features.path, newline="") as handle:
        species = Counter(row["species"] for row in csv.DictReader(handle))
    print(dict(species))
    profile = namedtuple("Profile", ["rows", "classes"])
    return profile(sum(species.values()), len(species))


@dsl.component
def train_nearest_centroid(features: dsl.Input[dsl.Dataset], model: dsl.Output[dsl.Model], metrics: dsl.Output[dsl.Metrics]):
    """Fit one centroid per species; log the leave-one-out accuracy."""
    import csv
    import json
    import math

    columns = ["sepal_length", "sepal_width", "petal_length", "petal_width", "sepal_ratio", "petal_ratio"]
    with open(features.path, newline="") as handle:
        samples = [([float(row[c]) for c in columns], row["species"]) for row in csv.DictReader(handle)]

    def centroids(data):
        grouped = {}
        for vector, label in data:
            grouped.setdefault(label, []).append(vector)
        return {label: [sum(v) / len(vectors) for v in zip(*vectors, strict=True)] for label, vectors in grouped.items()}

    def predict(centres, vector):
        return min(centres, key=lambda label: math.dist(centres[label], vector))

    correct = sum(predict(centroids(samples[:i] + samples[i + 1 :]), vector) == label for i, (vector, label) in enumerate(samples))
    accuracy = correct / len(samples)
    with open(model.path, "w") as handle:
        json.dump({"columns": columns, "centroids": centroids(samples)}, handle, indent=2)
    model.metadata["classes"] = sorted({label for _, label in samples})
    metrics.log_metric("loo_accuracy", round(accuracy, 4))
    print(f"leave-one-out accuracy: {accuracy:.3f}")


@dsl.pipeline(name="flower-classifier", description="Import a flower data set, prepare it with a nested pipeline and train a classifier.")
def flower_classifier(data_uri: str, min_rows: int = 50):
    raw = dsl.importer(
        artifact_uri=data_uri,
        artifact_class=dsl.Dataset,
        reimport=False,
        metadata={"source": "examples/data/flowers.csv", "license": "synthetic"},
    )
    features = prepare_features(raw=raw.output)
    profile = profile_dataset(features=features.output)
    with dsl.Condition(profile.outputs["rows"] >= min_rows, name="enough-rows"):
        train_nearest_centroid(features=features.output)


if __name__ == "__main__":
    compiler.Compiler().compile(flower_classifier, "nested_pipeline.yaml")
