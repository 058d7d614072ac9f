"""Production task settings: caching, retries, resources, secrets, scheduling and ordering.

A nightly job that clusters customers into segments with k-means. The components are
small; the point is how each task is configured for a real cluster:

- `.set_caching_options(False)` for a step that must run every time, and
  `.set_caching_options(True, max_staleness=...)` for one whose result may be reused for a day;
- `.set_retry(...)` with backoff for a step that talks to a flaky service;
- `.set_cpu_request()` / `.set_cpu_limit()`, `.set_memory_request()` / `.set_memory_limit()`,
  `.set_accelerator_type()` / `.set_accelerator_limit()` and `.add_node_selector()`;
- `.set_env_variable()` and `.use_secret_as_env()`;
- `.set_display_name()` and `.set_timeout()`;
- `.after()` to order tasks that pass no data to each other.
"""

from datetime import timedelta

from sluiceway import compiler, dsl


@dsl.component
def snapshot_date(days_ago: int) -> str:
    """The date of the snapshot to segment (depends on today, so never cached)."""
    import datetime

    return (datetime.date.today() - datetime.timedelta(days=days_ago)).isoformat()


@dsl.component
def fetch_customer_features(snapshot: str, num_customers: int, features: dsl.Output[dsl.Dataset]):
    """Fetch the customers' features for `snapshot` from the feature store.

    The feature store is simulated: the rows are generated from the snapshot date, so the
    same snapshot always gives the same data.
    """
    import csv
    import os
    import random

    store = os.environ.get("FEATURE_STORE_URL", "<not set>")
    token = os.environ.get("FEATURE_STORE_TOKEN")
    print(f"Reading snapshot {snapshot} from {store} ({'with' if token else 'without'} a token)")

    rng = random.Random(snapshot)
    profiles = [(5.0, 20.0), (25.0, 60.0), (60.0, 15.0)]  # (visits per month, average basket)
    with open(features.path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "visits", "basket"])
        for customer in range(num_customers):
            visits, basket = rng.choice(profiles)
            writer.writerow([customer, round(max(0.0, rng.gauss(visits, visits * 0.2)), 2), round(max(0.0, rng.gauss(basket, 5.0)), 2)])
    features.metadata["snapshot"] = snapshot


@dsl.component
def train_kmeans(features: dsl.Input[dsl.Dataset], k: int, iterations: int, model: dsl.Output[dsl.Model]) -> float:
    """Cluster the customers with k-means; return the mean distance to the nearest centre."""
    import csv
    import json
    import math
    import os
    import random

    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '<not set>')}")
    with open(features.path, newline="") as handle:
        points = [(float(r["visits"]), float(r["basket"])) for r in csv.DictReader(handle)]

    rng = random.Random(0)
    centres = rng.sample(points, k)
    for _ in range(iterations):
        clusters = [[] for _ in range(k)]
        for p in points:
            clusters[min(range(k), key=lambda i: math.dist(p, centres[i]))].append(p)
        centres = [
            tuple(sum(c) / len(cluster) for c in zip(*cluster, strict=True)) if cluster else centres[i]
            for i, cluster in enumerate(clusters)
        ]

    inertia = sum(min(math.dist(p, c) for c in centres) for p in points) / len(points)
    with open(model.path, "w") as handle:
        json.dump({"centres": [list(c) for c in centres], "features": ["visits", "basket"]}, handle)
    model.metadata["k"] = k
    model.metadata["mean_distance"] = round(inertia, 3)
    return round(inertia, 3)


@dsl.component
def publish_segments(model: dsl.Input[dsl.Model], snapshot: str) -> str:
    """Print the segment centres and return the name they are published under."""
    import json

    with open(model.path) as handle:
        centres = json.load(handle)["centres"]
    for index, (visits, basket) in enumerate(sorted(centres)):
        print(f"segment {index}: {visits:.1f} visits/month, basket {basket:.2f}")
    return f"customer-segments-{snapshot}"


@dsl.component
def notify_team(channel: str):
    """Tell the team the segments were refreshed."""
    import os

    webhook = os.environ.get("SLACK_WEBHOOK_URL")
    print(f"[{channel}] customer segments refreshed" + ("" if webhook else " (no webhook configured; printed only)"))


@dsl.pipeline(name="nightly-segmentation", description="Refresh the customer segments every night.")
def nightly_segmentation(num_customers: int = 600, k: int = 3, days_ago: int = 1):
    snapshot = snapshot_date(days_ago=days_ago)
    snapshot.set_caching_options(False)
    snapshot.set_display_name("Pick snapshot date")

    features = (
        fetch_customer_features(snapshot=snapshot.output, num_customers=num_customers)
        .set_display_name("Fetch customer features")
        .set_caching_options(True, max_staleness=timedelta(days=1))
        .set_retry(num_retries=3, backoff_duration="30s", backoff_factor=2.0, backoff_max_duration="5m")
        .set_env_variable("FEATURE_STORE_URL", "https://features.internal/api")
        .use_secret_as_env("feature-store-credentials", {"token": "FEATURE_STORE_TOKEN"})
        .set_timeout("15m")
    )

    training = (
        train_kmeans(features=features.outputs["features"], k=k, iterations=20)
        .set_display_name("Train k-means")
        .set_caching_options(True, max_staleness="12h")
        .set_cpu_request("2")
        .set_cpu_limit("4")
        .set_memory_request("4Gi")
        .set_memory_limit("8Gi")
        .set_accelerator_type("nvidia.com/gpu")
        .set_accelerator_limit(1)
        .add_node_selector("cloud.google.com/gke-accelerator", "nvidia-tesla-t4")
        .set_env_variable("OMP_NUM_THREADS", "4")
        .set_timeout(timedelta(hours=2))
    )

    publish = publish_segments(model=training.outputs["model"], snapshot=snapshot.output).set_display_name("Publish segments")

    notify = notify_team(channel="#customer-analytics").after(publish)
    notify.use_secret_as_env("slack", {"webhook-url": "SLACK_WEBHOOK_URL"})
    notify.set_caching_options(False)


if __name__ == "__main__":
    compiler.Compiler().compile(nightly_segmentation, "nightly_segmentation.yaml")
