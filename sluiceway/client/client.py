"""`sluiceway.Client`: a Sluiceway server's REST API from Python, with the methods KFP's `kfp.Client` users know.

    client = sluiceway.Client("http://sluiceway.internal:8888", token=os.environ["SLUICEWAY_TOKEN"])
    run = client.create_run_from_pipeline_func(my_pipeline, arguments={"n": 3}, experiment_name="baseline")
    run = client.wait_for_run_completion(run.run_id, timeout=3600)
    for text in client.get_run_logs(run.run_id, "train"):
        print(text, end="")

Every error the server answers is raised as one exception, ApiError, with the problem details'
status, title and detail; a server that cannot be reached is an ApiError with status 0.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx

from ..core import ir
from .errors import ApiError
from .models import Artifact, Experiment, Page, Pipeline, PipelineVersion, RecurringRun, Run, TaskDetail, build

TOKEN_ENV = "SLUICEWAY_TOKEN"
DEFAULT_NAMESPACE = "default"
PipelineSource = Any
"""What upload and create-run take: a @dsl.pipeline function, compiled IR (ir.Pipeline), or an IR file (YAML or JSON)."""

USE_CLIENT_TIMEOUT = object()


class Client:
    """A Sluiceway server's API. `host` is its address (default: `client.host` of the configuration); `token` an API token
    (default: $SLUICEWAY_TOKEN, else `client.token`), sent as `Authorization: Bearer TOKEN`; `namespace` the one used
    when a method is not given one."""

    def __init__(
        self,
        host: str | None = None,
        token: str | None = None,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        token = token or os.environ.get(TOKEN_ENV)
        if host is None or token is None:
            host, token = _configured(host, token)
        self.host = host.rstrip("/")
        self.namespace = namespace
        headers = {"User-Agent": f"sluiceway-client/{_version()}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=self.host, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- experiments ---------------------------------------------------------------------------

    def create_experiment(self, name: str, description: str = "", namespace: str | None = None) -> Experiment:
        body = {"name": name, "description": description, "namespace": namespace or self.namespace}
        return build(Experiment, self._json("POST", "/api/v1/experiments", json=body))

    def get_experiment(
        self, experiment_id: str | None = None, experiment_name: str | None = None, namespace: str | None = None
    ) -> Experiment:
        """An experiment by id, or by name in the namespace."""
        if (experiment_id is None) == (experiment_name is None):
            raise ValueError("give experiment_id or experiment_name")
        if experiment_id is not None:
            return build(Experiment, self._json("GET", f"/api/v1/experiments/{experiment_id}"))
        page = self.list_experiments(filter=f"name = {quote_filter_value(experiment_name or '')}", page_size=1, namespace=namespace)
        if not page.items:
            raise ApiError(404, "Not Found", f"no experiment '{experiment_name}' in namespace '{namespace or self.namespace}'")
        return page.items[0]

    def list_experiments(
        self,
        page_token: str | None = None,
        page_size: int = 50,
        sort_by: str = "",
        filter: str = "",  # noqa: A002  (kfp.Client's name)
        namespace: str | None = None,
    ) -> Page[Experiment]:
        """A page of the namespace's experiments; `filter` and `sort_by` as docs/how-to/run-a-server.md describes."""
        data = self._json("GET", "/api/v1/experiments", params=self._page(page_token, page_size, sort_by, filter, namespace))
        return Page.of(data, lambda item: build(Experiment, item))

    def archive_experiment(self, experiment_id: str) -> Experiment:
        return build(Experiment, self._json("POST", f"/api/v1/experiments/{experiment_id}/archive"))

    def unarchive_experiment(self, experiment_id: str) -> Experiment:
        return build(Experiment, self._json("POST", f"/api/v1/experiments/{experiment_id}/unarchive"))

    def delete_experiment(self, experiment_id: str) -> None:
        self._send("DELETE", f"/api/v1/experiments/{experiment_id}")

    # --- pipelines -----------------------------------------------------------------------------

    def upload_pipeline(
        self, pipeline_package_path: PipelineSource, pipeline_name: str | None = None, description: str = "", namespace: str | None = None
    ) -> PipelineVersion:
        """Upload a pipeline as a version of the pipeline `pipeline_name` (default: the name the IR gives), made if new.
        Uploading the same content again returns the version made the first time."""
        body, content_type = _ir_body(pipeline_package_path)
        params = {
            "namespace": namespace or self.namespace,
            "description": description,
            **({"name": pipeline_name} if pipeline_name else {}),
        }
        data = self._json("POST", "/api/v1/pipelines/upload", content=body, params=params, headers={"Content-Type": content_type})
        return build(PipelineVersion, data)

    def upload_pipeline_version(
        self, pipeline_package_path: PipelineSource, pipeline_id: str | None = None, pipeline_name: str | None = None
    ) -> PipelineVersion:
        """Add a version to an existing pipeline, named by id or by name (in the client's namespace)."""
        if (pipeline_id is None) == (pipeline_name is None):
            raise ValueError("give pipeline_id or pipeline_name")
        if pipeline_id is not None:
            pipeline = self.get_pipeline(pipeline_id)
            return self.upload_pipeline(pipeline_package_path, pipeline.name, namespace=pipeline.namespace)
        return self.upload_pipeline(pipeline_package_path, pipeline_name)

    def get_pipeline(self, pipeline_id: str) -> Pipeline:
        return build(Pipeline, self._json("GET", f"/api/v1/pipelines/{pipeline_id}"))

    def list_pipelines(
        self,
        page_token: str | None = None,
        page_size: int = 50,
        sort_by: str = "",
        filter: str = "",  # noqa: A002  (kfp.Client's name)
        namespace: str | None = None,
    ) -> Page[Pipeline]:
        data = self._json("GET", "/api/v1/pipelines", params=self._page(page_token, page_size, sort_by, filter, namespace))
        return Page.of(data, lambda item: build(Pipeline, item))

    def list_pipeline_versions(self, pipeline_id: str, page_token: str | None = None, page_size: int = 50) -> Page[PipelineVersion]:
        params = {"page_size": page_size, **({"page_token": page_token} if page_token else {})}
        data = self._json("GET", f"/api/v1/pipelines/{pipeline_id}/versions", params=params)
        return Page.of(data, lambda item: build(PipelineVersion, item))

    def delete_pipeline(self, pipeline_id: str) -> None:
        self._send("DELETE", f"/api/v1/pipelines/{pipeline_id}")

    # --- runs ----------------------------------------------------------------------------------

    def run_pipeline(
        self,
        pipeline_id: str,
        version_digest: str,
        arguments: Mapping[str, Any] | None = None,
        experiment_name: str | None = None,
        namespace: str | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Run an uploaded version (as `upload_pipeline` returned it: its pipeline_id and digest)."""
        reference = {"pipeline_version": {"pipeline_id": pipeline_id, "digest": version_digest}}
        return self._create_run(reference, arguments, experiment_name, namespace, idempotency_key)

    def create_run_from_pipeline_func(
        self,
        pipeline_func: Callable[..., Any],
        arguments: Mapping[str, Any] | None = None,
        experiment_name: str | None = None,
        namespace: str | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Compile the pipeline here and run it on the server (its IR is sent inline; nothing is uploaded)."""
        from ..compiler import compile_pipeline
        from ..core.serialize import to_dict

        spec = {"pipeline_spec": to_dict(compile_pipeline(pipeline_func))}
        return self._create_run(spec, arguments, experiment_name, namespace, idempotency_key)

    def create_run_from_pipeline_package(
        self,
        pipeline_file: str | os.PathLike[str] | ir.Pipeline,
        arguments: Mapping[str, Any] | None = None,
        experiment_name: str | None = None,
        namespace: str | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Run a compiled pipeline: an IR file (YAML or JSON, as `sluiceway compile` writes it), or the IR itself."""
        from ..core.serialize import load, to_dict

        pipeline = pipeline_file if isinstance(pipeline_file, ir.Pipeline) else load(Path(pipeline_file))
        return self._create_run({"pipeline_spec": to_dict(pipeline)}, arguments, experiment_name, namespace, idempotency_key)

    def _create_run(
        self,
        what: dict[str, Any],
        arguments: Mapping[str, Any] | None,
        experiment_name: str | None,
        namespace: str | None,
        idempotency_key: str | None,
    ) -> Run:
        body = {**what, "parameters": dict(arguments or {}), "namespace": namespace or self.namespace}
        if experiment_name is not None:
            body["experiment"] = experiment_name
        if idempotency_key is not None:
            body["idempotency_key"] = idempotency_key
        return Run.from_json(self._json("POST", "/api/v1/runs", json=body))

    def get_run(self, run_id: str) -> Run:
        """The run, with each task's state and outputs."""
        return Run.from_json(self._json("GET", f"/api/v1/runs/{run_id}"))

    def list_runs(
        self,
        page_token: str | None = None,
        page_size: int = 50,
        sort_by: str = "",
        filter: str = "",  # noqa: A002  (kfp.Client's name)
        namespace: str | None = None,
        experiment_name: str | None = None,
    ) -> Page[Run]:
        """A page of the namespace's runs, newest first unless `sort_by` says otherwise."""
        if experiment_name is not None:
            by_experiment = f"experiment = {quote_filter_value(experiment_name)}"
            filter = f"{filter} AND {by_experiment}" if filter else by_experiment  # noqa: A001
        data = self._json("GET", "/api/v1/runs", params=self._page(page_token, page_size, sort_by, filter, namespace))
        return Page.of(data, Run.from_json)

    def wait_for_run_completion(self, run_id: str, timeout: float, sleep_duration: float = 1.0) -> Run:
        """The run once it has ended (succeeded, failed or cancelled); TimeoutError if it has not within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_run(run_id)
            if run.finished:
                return run
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"run '{run_id}' is still {run.state} after {timeout:g} s")
            time.sleep(min(sleep_duration, left))

    def cancel_run(self, run_id: str) -> Run:
        """Ask the run to stop; ApiError 409 if it has already ended."""
        return Run.from_json(self._json("POST", f"/api/v1/runs/{run_id}/cancel"))

    terminate_run = cancel_run
    """kfp.Client's name for cancel_run."""

    def retry_run(self, run_id: str) -> Run:
        """Run a failed or cancelled run again from the tasks that did not succeed, keeping the rest; the run as the server
        took it up. ApiError 409 for a run in any other state."""
        return Run.from_json(self._json("POST", f"/api/v1/runs/{run_id}/retry"))

    def archive_run(self, run_id: str) -> Run:
        """Leave the run out of list_runs unless its filter names `archived` (`archived = true`); the run is kept whole."""
        return Run.from_json(self._json("POST", f"/api/v1/runs/{run_id}/archive"))

    def unarchive_run(self, run_id: str) -> Run:
        return Run.from_json(self._json("POST", f"/api/v1/runs/{run_id}/unarchive"))

    def delete_run(self, run_id: str) -> None:
        """Delete a run that has ended, with its tasks' records (admin; ApiError 409 if it is still going). Its artifacts
        are left in the artifact store."""
        self._send("DELETE", f"/api/v1/runs/{run_id}")

    def get_task(self, run_id: str, task_id: str) -> TaskDetail:
        """A task of a run: its attempts, outputs and metrics."""
        return TaskDetail.from_json(self._json("GET", f"/api/v1/runs/{run_id}/tasks/{task_id}"))

    def get_run_logs(self, run_id: str, task_id: str, follow: bool = True) -> Iterator[str]:
        """A task's log as text, piece by piece as the server sends it. Following (the default), the pieces come as the
        task writes them, and the iterator ends when the task does; `follow=False` gives what exists now."""
        params = {"follow": "true" if follow else "false"}
        # No read timeout: a followed task may be silent for as long as it runs.
        with self._stream(f"/api/v1/runs/{run_id}/tasks/{task_id}/logs", params, read_timeout=None) as response:
            yield from response.iter_text()

    def get_run_lineage(self, run_id: str) -> dict[str, Any]:
        """{run_id, artifacts, edges: [{source, target}]}: what the run's tasks consumed and produced."""
        return self._json("GET", f"/api/v1/runs/{run_id}/lineage")

    # --- recurring runs --------------------------------------------------------------------------

    def create_recurring_run(
        self,
        name: str,
        pipeline_id: str,
        version_digest: str,
        *,
        cron_expression: str | None = None,
        timezone: str = "UTC",
        interval_seconds: int | None = None,
        params: Mapping[str, Any] | None = None,
        experiment_name: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        max_concurrency: int = 1,
        no_catchup: bool = True,
        enabled: bool = True,
        namespace: str | None = None,
    ) -> RecurringRun:
        """Run an uploaded version on a schedule: `cron_expression` read in `timezone` (e.g. "0 9 * * 1-5" and
        "Europe/Berlin"), or every `interval_seconds`. `no_catchup=False` makes up for every time missed while the server was
        down, in order; the default fires only the latest."""
        body: dict[str, Any] = {
            "namespace": namespace or self.namespace,
            "name": name,
            "pipeline_version": {"pipeline_id": pipeline_id, "digest": version_digest},
            "parameters": dict(params or {}),
            "experiment": experiment_name,
            "trigger": {"cron": cron_expression, "timezone": timezone, "interval_seconds": interval_seconds},
            "start_at": start_time.isoformat() if start_time else None,
            "end_at": end_time.isoformat() if end_time else None,
            "max_concurrency": max_concurrency,
            "catch_up": not no_catchup,
            "enabled": enabled,
        }
        return build(RecurringRun, self._json("POST", "/api/v1/recurring-runs", json=body))

    def get_recurring_run(self, recurring_run_id: str) -> RecurringRun:
        return build(RecurringRun, self._json("GET", f"/api/v1/recurring-runs/{recurring_run_id}"))

    def list_recurring_runs(
        self,
        page_token: str | None = None,
        page_size: int = 50,
        sort_by: str = "",
        filter: str = "",  # noqa: A002  (kfp.Client's name)
        namespace: str | None = None,
    ) -> Page[RecurringRun]:
        data = self._json("GET", "/api/v1/recurring-runs", params=self._page(page_token, page_size, sort_by, filter, namespace))
        return Page.of(data, lambda item: build(RecurringRun, item))

    def enable_recurring_run(self, recurring_run_id: str) -> RecurringRun:
        """Fire again, from the first scheduled time after now."""
        return build(RecurringRun, self._json("POST", f"/api/v1/recurring-runs/{recurring_run_id}/enable"))

    def disable_recurring_run(self, recurring_run_id: str) -> RecurringRun:
        """Fire no more until enabled; the runs it made go on."""
        return build(RecurringRun, self._json("POST", f"/api/v1/recurring-runs/{recurring_run_id}/disable"))

    def delete_recurring_run(self, recurring_run_id: str) -> None:
        self._send("DELETE", f"/api/v1/recurring-runs/{recurring_run_id}")

    # --- artifacts -----------------------------------------------------------------------------

    def get_artifact(self, uri: str) -> Artifact:
        return build(Artifact, self._json("GET", "/api/v1/artifacts", params={"uri": uri}))

    def download_artifact(self, uri: str, path: str | os.PathLike[str]) -> Path:
        """Write the artifact's bytes to `path`, as they arrive (never whole in memory); the path written."""
        target = Path(path)
        with self._stream("/api/v1/artifacts/content", {"uri": uri}) as response, open(target, "wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
        return target

    # --- the requests --------------------------------------------------------------------------

    def _page(self, page_token: str | None, page_size: int, sort_by: str, filter: str, namespace: str | None) -> dict[str, Any]:  # noqa: A002
        params: dict[str, Any] = {"namespace": namespace or self.namespace, "page_size": page_size}
        for name, value in (("page_token", page_token), ("order_by", sort_by), ("filter", filter)):
            if value:
                params[name] = value
        return params

    def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **options)
        except httpx.TransportError as error:
            raise ApiError(0, "Unreachable", f"cannot reach the Sluiceway server at {self.host}: {error}") from None
        if response.is_error:
            raise _error(response)
        return response

    @contextmanager
    def _stream(
        self, path: str, params: dict[str, str], *, read_timeout: float | object | None = USE_CLIENT_TIMEOUT
    ) -> Iterator[httpx.Response]:
        """A GET whose body is read as it arrives; errors raised as _send raises them, before the body is read."""
        timeout = self._http.timeout
        if read_timeout is not USE_CLIENT_TIMEOUT:
            timeout = httpx.Timeout(timeout.connect, read=read_timeout, write=timeout.write, pool=timeout.pool)  # type: ignore[arg-type]
        try:
            with self._http.stream("GET", path, params=params, timeout=timeout) as response:
                if response.is_error:
                    response.read()
                    raise _error(response)
                yield response
        except httpx.TransportError as error:
            raise ApiError(0, "Unreachable", f"cannot reach the Sluiceway server at {self.host}: {error}") from None

    def _json(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        data: dict[str, Any] = self._send(method, path, **options).json()
        return data


def _error(response: httpx.Response) -> ApiError:
    """The response's problem details as an ApiError; a body that is not one (a proxy's page) by its first line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        return ApiError.from_problem(response.status_code, body)
    first_line = response.text.strip().partition("\n")[0][:200] or response.reason_phrase
    return ApiError(response.status_code, response.reason_phrase, first_line)


def _ir_body(source: PipelineSource) -> tuple[bytes, str]:
    """The IR to upload and its content type: a file as it is (YAML or JSON), a pipeline or a function compiled to JSON."""
    from ..core.serialize import dump_json

    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        return path.read_bytes(), "application/json" if path.suffix == ".json" else "application/yaml"
    if isinstance(source, ir.Pipeline):
        return dump_json(source).encode(), "application/json"
    from ..compiler import compile_pipeline

    return dump_json(compile_pipeline(source)).encode(), "application/json"


def quote_filter_value(value: str) -> str:
    """A string as the listing filter reads it: double quotes, a backslash before quotes and backslashes."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _configured(host: str | None, token: str | None) -> tuple[str, str | None]:
    """The host and token not given, from the configuration (`client.host`, `client.token`)."""
    from .. import config

    settings = config.load().client
    host = host or settings.host
    if not host:
        raise ApiError(0, "No server", "no server named: give Client(host=...), or set client.host in the configuration")
    return host, token or settings.token


def _version() -> str:
    from .. import __version__

    return __version__
