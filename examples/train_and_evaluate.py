"""Train and evaluate a classifier, then decide what to do with it.

A toy churn model: generate a labelled data set, split it, fit a logistic regression with
stochastic gradient descent (standard library only), evaluate it, and branch on the result.

It shows:

- artifacts: `dsl.Output[dsl.Dataset]`, `dsl.Input[dsl.Dataset]`, `dsl.Output[dsl.Model]`,
  `dsl.Input[dsl.Model]`, `dsl.Output[dsl.Markdown]`, and artifact metadata;
- metrics: `dsl.Metrics.log_metric`, `dsl.ClassificationMetrics.log_roc_curve` and
  `log_confusion_matrix`;
- a `NamedTuple` return value, read with `task.outputs['accuracy']`;
- `@dsl.component(base_image=..., packages_to_install=...)`;
- `dsl.If` / `dsl.Elif` / `dsl.Else` on an upstream output.
"""

from typing import NamedTuple

from sluiceway import compiler, dsl


@dsl.component
def make_dataset(num_samples: int, seed: int, dataset: dsl.Output[dsl.Dataset]):
    """Write a CSV of customers: two features and whether they churned (two Gaussian blobs)."""
    import csv
    import random

    rng = random.Random(seed)
    with open(dataset.path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tenure", "support_calls", "churned"])
        for _ in range(num_samples):
            churned = rng.random() < 0.5
            center = (1.0, 1.0) if churned else (-1.0, -1.0)
            writer.writerow([round(rng.gauss(center[0], 1.0), 4), round(rng.gauss(center[1], 1.0), 4), int(churned)])
    dataset.metadata["rows"] = num_samples
    dataset.metadata["columns"] = ["tenure", "support_calls", "churned"]


@dsl.component
def split_dataset(
    dataset: dsl.Input[dsl.Dataset],
    test_fraction: float,
    seed: int,
    train: dsl.Output[dsl.Dataset],
    test: dsl.Output[dsl.Dataset],
):
    """Shuffle the rows and write a train and a test CSV, both with the header."""
    import csv
    import random

    with open(dataset.path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    random.Random(seed).shuffle(rows)
    cut = int(len(rows) * (1.0 - test_fraction))
    for artifact, part in ((train, rows[:cut]), (test, rows[cut:])):
        with open(artifact.path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(part)
        artifact.metadata["rows"] = len(part)


@dsl.component(base_image="python:3.12-slim")
def train_model(train: dsl.Input[dsl.Dataset], learning_rate: float, epochs: int, model: dsl.Output[dsl.Model]):
    """Fit a logistic regression with stochastic gradient descent; save its weights as JSON."""
    import csv
    import json
    import math
    import random

    with open(train.path, newline="") as handle:
        rows = [([float(r["tenure"]), float(r["support_calls"])], int(r["churned"])) for r in csv.DictReader(handle)]

    def sigmoid(z):
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    weights, bias = [0.0, 0.0], 0.0
    rng = random.Random(0)
    for _ in range(epochs):
        rng.shuffle(rows)
        for features, label in rows:
            error = sigmoid(sum(w * x for w, x in zip(weights, features, strict=True)) + bias) - label
            weights = [w - learning_rate * error * x for w, x in zip(weights, features, strict=True)]
            bias -= learning_rate * error

    loss = 0.0
    for features, label in rows:
        p = min(max(sigmoid(sum(w * x for w, x in zip(weights, features, strict=True)) + bias), 1e-9), 1 - 1e-9)
        loss -= label * math.log(p) + (1 - label) * math.log(1 - p)
    with open(model.path, "w") as handle:
        json.dump({"features": ["tenure", "support_calls"], "weights": weights, "bias": bias}, handle)
    model.metadata["framework"] = "stdlib-logistic-regression"
    model.metadata["train_log_loss"] = round(loss / len(rows), 4)


@dsl.component
def evaluate_model(
    test: dsl.Input[dsl.Dataset],
    model: dsl.Input[dsl.Model],
    metrics: dsl.Output[dsl.Metrics],
    classification: dsl.Output[dsl.ClassificationMetrics],
) -> NamedTuple("EvaluationOutputs", [("accuracy", float), ("auc", float)]):
    """Score the test set: accuracy, ROC curve and AUC, and the confusion matrix."""
    import csv
    import json
    import math
    from collections import namedtuple

    with open(model.path) as handle:
        params = json.load(handle)
    with open(test.path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    labels = [int(r["churned"]) for r in rows]
    scores = []
    for r in rows:
        z = sum(w * float(r[name]) for w, name in zip(params["weights"], params["features"], strict=True)) + params["bias"]
        scores.append(1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z)))))

    predictions = [int(s >= 0.5) for s in scores]
    accuracy = sum(p == y for p, y in zip(predictions, labels, strict=True)) / len(labels)
    positives = sum(labels) or 1
    negatives = (len(labels) - sum(labels)) or 1

    thresholds = [i / 20 for i in range(21)]
    tpr = [sum(s >= t and y == 1 for s, y in zip(scores, labels, strict=True)) / positives for t in thresholds]
    fpr = [sum(s >= t and y == 0 for s, y in zip(scores, labels, strict=True)) / negatives for t in thresholds]
    # The thresholds rise, so the points run from (1, 1) down to (0, 0): integrate right to left.
    auc = sum((fpr[i] - fpr[i + 1]) * (tpr[i] + tpr[i + 1]) / 2 for i in range(len(thresholds) - 1))

    matrix = [[0, 0], [0, 0]]  # rows: actual, columns: predicted
    for p, y in zip(predictions, labels, strict=True):
        matrix[y][p] += 1

    metrics.log_metric("accuracy", round(accuracy, 4))
    metrics.log_metric("auc", round(auc, 4))
    metrics.log_metric("test_rows", len(labels))
    classification.log_roc_curve(fpr, tpr, thresholds)
    classification.log_confusion_matrix(["stayed", "churned"], matrix)

    outputs = namedtuple("EvaluationOutputs", ["accuracy", "auc"])
    return outputs(round(accuracy, 4), round(auc, 4))


@dsl.component(base_image="python:3.11-slim", packages_to_install=["tabulate==0.9.0"])
def write_report(accuracy: float, auc: float, report: dsl.Output[dsl.Markdown]):
    """Write the evaluation as a Markdown table (with tabulate when the image has it)."""
    rows = [("accuracy", accuracy), ("ROC AUC", auc)]
    try:
        from tabulate import tabulate

        table = tabulate(rows, headers=["metric", "value"], tablefmt="github", floatfmt=".3f")
    except ImportError:
        table = "| metric | value |\n|---|---|\n" + "\n".join(f"| {name} | {value:.3f} |" for name, value in rows)
    with open(report.path, "w") as handle:
        handle.write("# Churn model evaluation\n\n" + table + "\n")


@dsl.component
def deploy_model(model: dsl.Input[dsl.Model], endpoint: str) -> str:
    """Pretend to publish the model: check it loads, and return where it is served."""
    import json

    with open(model.path) as handle:
        params = json.load(handle)
    print(f"Serving a model with weights {params['weights']} at {endpoint}")
    return f"{endpoint}/v1/models/churn:predict"


@dsl.component
def request_review(accuracy: float, reviewers: str):
    """Ask people to look at a model that is good but not good enough to ship on its own."""
    print(f"Accuracy {accuracy:.3f} is below the bar for automatic deployment; review requested from {reviewers}")


@dsl.component
def flag_poor_model(accuracy: float):
    """Record that the model was rejected."""
    print(f"Model rejected: accuracy {accuracy:.3f}")


@dsl.pipeline(name="train-and-evaluate", description="Train a churn classifier, evaluate it, and deploy it if it is good enough.")
def train_and_evaluate(
    num_samples: int = 1000,
    learning_rate: float = 0.05,
    epochs: int = 20,
    deploy_threshold: float = 0.9,
    endpoint: str = "http://models.internal/churn",
):
    data = make_dataset(num_samples=num_samples, seed=7)
    split = split_dataset(dataset=data.outputs["dataset"], test_fraction=0.25, seed=7)
    training = train_model(train=split.outputs["train"], learning_rate=learning_rate, epochs=epochs)
    evaluation = evaluate_model(test=split.outputs["test"], model=training.outputs["model"])
    write_report(accuracy=evaluation.outputs["accuracy"], auc=evaluation.outputs["auc"])

    with dsl.If(evaluation.outputs["accuracy"] >= deploy_threshold, name="good-enough"):
        deploy_model(model=training.outputs["model"], endpoint=endpoint)
    with dsl.Elif(evaluation.outputs["accuracy"] >= 0.75):
        request_review(accuracy=evaluation.outputs["accuracy"], reviewers="ml-team@example.com")
    with dsl.Else():
        flag_poor_model(accuracy=evaluation.outputs["accuracy"])


if __name__ == "__main__":
    compiler.Compiler().compile(train_and_evaluate, "train_and_evaluate.yaml")
