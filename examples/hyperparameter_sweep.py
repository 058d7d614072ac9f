"""Hyperparameter sweep: train one model per configuration in parallel, then keep the best.

The best configuration is then retrained with several random seeds, to check that its
score does not depend on luck.

It shows:

- `dsl.ParallelFor` over a literal list of dicts, with `parallelism=` to cap how many
  trials run at once, and `item.learning_rate` / `item.l2` to read one key of the item;
- `dsl.ParallelFor` over a literal list of numbers;
- `dsl.Collected` to gather every trial's result into one list for a fan-in task;
- a `NamedTuple` return value whose fields feed the next loop through `task.outputs['...']`;
- `dsl.InputPath()` / `dsl.OutputPath()` in a `@dsl.component`, for a data file shared
  by all trials.
"""

from typing import Dict, List, NamedTuple

from sluiceway import compiler, dsl


@dsl.component
def make_regression_data(num_samples: int, noise: float, data_path: dsl.OutputPath("Dataset")):
    """Write a CSV of y = 3*x - 2 + noise, for x in [-2, 2]."""
    import csv
    import random

    rng = random.Random(13)
    with open(data_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["x", "y"])
        for _ in range(num_samples):
            x = rng.uniform(-2.0, 2.0)
            writer.writerow([round(x, 5), round(3.0 * x - 2.0 + rng.gauss(0.0, noise), 5)])


@dsl.component
def train_trial(data_path: dsl.InputPath("Dataset"), learning_rate: float, l2: float, epochs: int, seed: int) -> Dict[str, float]:
    """Fit y = a*x + b by gradient descent with an L2 penalty; report the validation error.

    `seed` shuffles the rows before they are split into training and validation sets.
    """
    import csv
    import random

    with open(data_path, newline="") as handle:
        rows = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(handle)]
    random.Random(seed).shuffle(rows)
    cut = int(len(rows) * 0.8)
    train, validation = rows[:cut], rows[cut:]

    a, b = 0.0, 0.0
    for _ in range(epochs):
        grad_a = sum((a * x + b - y) * x for x, y in train) / len(train) + l2 * a
        grad_b = sum(a * x + b - y for x, y in train) / len(train)
        a -= learning_rate * grad_a
        b -= learning_rate * grad_b

    mse = sum((a * x + b - y) ** 2 for x, y in validation) / len(validation)
    print(f"learning_rate={learning_rate} l2={l2} seed={seed}: a={a:.3f} b={b:.3f} validation MSE={mse:.4f}")
    return {"learning_rate": learning_rate, "l2": l2, "seed": seed, "slope": a, "intercept": b, "mse": mse}


@dsl.component
def pick_best(trials: List[Dict[str, float]]) -> NamedTuple("BestTrial", [("learning_rate", float), ("l2", float), ("mse", float)]):
    """The configuration of the trial with the lowest validation error."""
    from collections import namedtuple

    for trial in sorted(trials, key=lambda t: t["mse"]):
        print(f"lr={trial['learning_rate']:<6} l2={trial['l2']:<6} mse={trial['mse']:.4f}")
    best = min(trials, key=lambda t: t["mse"])
    print(f"Best: {best}")
    return namedtuple("BestTrial", ["learning_rate", "l2", "mse"])(best["learning_rate"], best["l2"], best["mse"])


@dsl.component
def check_stability(runs: List[Dict[str, float]], max_relative_spread: float) -> float:
    """Print the spread of the validation error over seeds; fail when it is too wide."""
    import statistics

    errors = [run["mse"] for run in runs]
    mean, spread = statistics.fmean(errors), statistics.pstdev(errors)
    print(f"validation MSE over {len(errors)} seeds: {mean:.4f} +/- {spread:.4f}")
    if spread > max_relative_spread * mean:
        raise RuntimeError(f"the best configuration is unstable: spread {spread:.4f} > {max_relative_spread:.0%} of {mean:.4f}")
    return mean


@dsl.pipeline(name="hyperparameter-sweep", description="Grid-search a learning rate and an L2 penalty, and keep the best trial.")
def hyperparameter_sweep(num_samples: int = 500, epochs: int = 40):
    data = make_regression_data(num_samples=num_samples, noise=0.3)

    with dsl.ParallelFor(
        [
            {"learning_rate": 0.01, "l2": 0.0},
            {"learning_rate": 0.05, "l2": 0.0},
            {"learning_rate": 0.1, "l2": 0.0},
            {"learning_rate": 0.1, "l2": 0.01},
            {"learning_rate": 0.3, "l2": 0.1},
        ],
        parallelism=2,
    ) as config:
        trial = train_trial(data_path=data.output, learning_rate=config.learning_rate, l2=config.l2, epochs=epochs, seed=0)

    best = pick_best(trials=dsl.Collected(trial.output))

    with dsl.ParallelFor([1, 2, 3, 4], parallelism=4) as seed:
        rerun = train_trial(
            data_path=data.output,
            learning_rate=best.outputs["learning_rate"],
            l2=best.outputs["l2"],
            epochs=epochs,
            seed=seed,
        )

    check_stability(runs=dsl.Collected(rerun.output), max_relative_spread=0.5)


if __name__ == "__main__":
    compiler.Compiler().compile(hyperparameter_sweep, "hyperparameter_sweep.yaml")
