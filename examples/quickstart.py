"""Quick start: a three-step pipeline with one parameter.

It draws a small sample of numbers, computes their mean, and prints a short report. It shows
the basics every Sluiceway pipeline uses:

- `@dsl.component` turns a plain Python function into a pipeline step;
- `@dsl.pipeline` wires steps together, with a parameter that has a default;
- `task.output` passes one step's return value to the next.

Compile it with `sluiceway compile examples/quickstart.py -o quickstart.yaml`,
or run this file with Python.
"""

from sluiceway import compiler, dsl


@dsl.component
def draw_sample(size: int, seed: int) -> list[float]:
    """Draw `size` numbers from a normal distribution with mean 10 and deviation 2."""
    import random

    rng = random.Random(seed)
    return [round(rng.gauss(10.0, 2.0), 3) for _ in range(size)]


@dsl.component
def compute_mean(numbers: list[float]) -> float:
    """The arithmetic mean of `numbers`."""
    import statistics

    return statistics.fmean(numbers)


@dsl.component
def report(mean: float, size: int) -> str:
    """Print and return a one-line summary."""
    message = f"The mean of {size} samples is {mean:.3f}"
    print(message)
    return message


@dsl.pipeline(name="quickstart", description="Draw a sample of numbers, average them and report the mean.")
def quickstart(size: int = 100, seed: int = 42):
    sample = draw_sample(size=size, seed=seed)
    mean = compute_mean(numbers=sample.output)
    report(mean=mean.output, size=size)


if __name__ == "__main__":
    compiler.Compiler().compile(quickstart, "quickstart.yaml")
