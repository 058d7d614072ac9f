"""Exit handler: always send a run report, whether the guarded tasks succeed or fail.

A small ingestion job: generate a batch of sensor readings, validate it (failing when too
many rows are bad), and compute summary statistics. Whatever happens, the exit task runs
afterwards and reports the outcome.

It shows:

- `dsl.ExitHandler(exit_task)` guarding a group of tasks;
- an exit task taking `dsl.PipelineTaskFinalStatus`, which it receives without being passed it;
- a component that raises to fail the run (try `max_bad_fraction=0.0`).
"""

from sluiceway import compiler, dsl


@dsl.component
def send_run_report(status: dsl.PipelineTaskFinalStatus, recipients: str):
    """Report how the guarded tasks ended. `status` is filled in by the pipeline runner."""
    lines = [
        f"Run:   {status.pipeline_job_resource_name}",
        f"Task:  {status.pipeline_task_name}",
        f"State: {status.state}",
    ]
    if status.error_message:
        lines.append(f"Error: {status.error_message} (code {status.error_code})")
    print(f"To: {recipients}")
    print("\n".join(lines))


@dsl.component
def generate_readings(num_rows: int, bad_row_rate: float, readings: dsl.Output[dsl.Dataset]):
    """Write sensor readings; a fraction of them have a missing or impossible temperature."""
    import csv
    import random

    rng = random.Random(2024)
    with open(readings.path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sensor", "temperature_c"])
        for row in range(num_rows):
            value = "" if rng.random() < bad_row_rate / 2 else round(rng.gauss(21.0, 3.0), 2)
            if value != "" and rng.random() < bad_row_rate / 2:
                value = -500.0
            writer.writerow([f"sensor-{row % 10}", value])


@dsl.component
def validate_readings(readings: dsl.Input[dsl.Dataset], max_bad_fraction: float, clean: dsl.Output[dsl.Dataset]) -> int:
    """Drop bad rows; fail when more than `max_bad_fraction` of them are bad."""
    import csv

    with open(readings.path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    good = [r for r in rows if r["temperature_c"] and -90.0 <= float(r["temperature_c"]) <= 60.0]
    bad_fraction = 1 - len(good) / len(rows)
    print(f"{len(rows) - len(good)} of {len(rows)} rows are bad ({bad_fraction:.1%})")
    if bad_fraction > max_bad_fraction:
        raise ValueError(f"{bad_fraction:.1%} of the rows are bad; at most {max_bad_fraction:.1%} are allowed")
    with open(clean.path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["sensor", "temperature_c"])
        writer.writeheader()
        writer.writerows(good)
    return len(good)


@dsl.component
def summarize_readings(clean: dsl.Input[dsl.Dataset], metrics: dsl.Output[dsl.Metrics]):
    """Log the mean, spread and range of the temperatures."""
    import csv
    import statistics

    with open(clean.path, newline="") as handle:
        temperatures = [float(r["temperature_c"]) for r in csv.DictReader(handle)]
    metrics.log_metric("mean_c", round(statistics.fmean(temperatures), 3))
    metrics.log_metric("stdev_c", round(statistics.stdev(temperatures), 3))
    metrics.log_metric("min_c", min(temperatures))
    metrics.log_metric("max_c", max(temperatures))


@dsl.pipeline(name="sensor-ingest", description="Ingest a batch of sensor readings and always report the outcome.")
def sensor_ingest(num_rows: int = 500, bad_row_rate: float = 0.04, max_bad_fraction: float = 0.1):
    report = send_run_report(recipients="data-eng@example.com")
    with dsl.ExitHandler(report, name="ingest"):
        readings = generate_readings(num_rows=num_rows, bad_row_rate=bad_row_rate)
        validated = validate_readings(readings=readings.outputs["readings"], max_bad_fraction=max_bad_fraction)
        summarize_readings(clean=validated.outputs["clean"])


if __name__ == "__main__":
    compiler.Compiler().compile(sensor_ingest, "exit_handler.yaml")
