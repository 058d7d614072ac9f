"""Fan out and fan in: simulate sales per region, merge them, then total each week in parallel.

It shows:

- `dsl.ParallelFor` over a pipeline parameter (the list of regions);
- `dsl.ParallelFor` over an upstream task's output (the weeks found in the data), with
  `parallelism=`;
- `dsl.Collected` on an artifact output, read as `dsl.Input[List[dsl.Dataset]]`, and on a
  value output, read as a plain `List[float]`.
"""

from typing import List

from sluiceway import compiler, dsl


@dsl.component
def simulate_sales(region: str, days: int, sales: dsl.Output[dsl.Dataset]):
    """Write one CSV row per day: a weekly pattern, a slow trend and some noise."""
    import csv
    import math
    import random
    import zlib

    rng = random.Random(zlib.crc32(region.encode()))
    base = rng.uniform(800.0, 1200.0)
    with open(sales.path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["region", "day", "revenue"])
        for day in range(days):
            seasonal = 1.0 + 0.25 * math.sin(2 * math.pi * day / 7)
            trend = 1.0 + 0.002 * day
            writer.writerow([region, day, round(base * seasonal * trend * rng.uniform(0.9, 1.1), 2)])
    sales.metadata["region"] = region


@dsl.component
def merge_sales(shards: dsl.Input[List[dsl.Dataset]], merged: dsl.Output[dsl.Dataset]):
    """Concatenate the regional CSVs into one."""
    import csv

    rows = 0
    with open(merged.path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["region", "day", "revenue"])
        for shard in shards:
            with open(shard.path, newline="") as handle:
                reader = csv.reader(handle)
                next(reader)
                for row in reader:
                    writer.writerow(row)
                    rows += 1
    merged.metadata["rows"] = rows


@dsl.component
def list_weeks(sales: dsl.Input[dsl.Dataset]) -> List[int]:
    """The week numbers present in the data."""
    import csv

    with open(sales.path, newline="") as handle:
        return sorted({int(row["day"]) // 7 for row in csv.DictReader(handle)})


@dsl.component
def weekly_revenue(sales: dsl.Input[dsl.Dataset], week: int) -> float:
    """Total revenue over all regions for one week."""
    import csv

    with open(sales.path, newline="") as handle:
        total = sum(float(row["revenue"]) for row in csv.DictReader(handle) if int(row["day"]) // 7 == week)
    return round(total, 2)


@dsl.component
def report_growth(weeks: List[int], totals: List[float]) -> float:
    """Print the weekly totals and return the growth from the first week to the last."""
    for week, total in zip(weeks, totals, strict=True):
        print(f"week {week:>2}: {total:>12,.2f}")
    growth = (totals[-1] - totals[0]) / totals[0] if len(totals) > 1 and totals[0] else 0.0
    print(f"growth over the period: {growth:+.1%}")
    return growth


@dsl.pipeline(name="regional-sales", description="Simulate sales per region, merge them and total each week in parallel.")
def regional_sales(regions: List[str] = ["emea", "amer", "apac"], days: int = 28):
    with dsl.ParallelFor(regions) as region:
        simulated = simulate_sales(region=region, days=days)

    merged = merge_sales(shards=dsl.Collected(simulated.outputs["sales"]))
    weeks = list_weeks(sales=merged.outputs["merged"])

    with dsl.ParallelFor(weeks.output, parallelism=2) as week:
        revenue = weekly_revenue(sales=merged.outputs["merged"], week=week)

    report_growth(weeks=weeks.output, totals=dsl.Collected(revenue.output))


if __name__ == "__main__":
    compiler.Compiler().compile(regional_sales, "regional_sales.yaml")
