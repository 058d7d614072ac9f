"""FakeKubernetes: the API server, the Job controller and the kubelet together, started and stopped as one."""

from __future__ import annotations

import builtins
import importlib
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from .api import Api
from .controller import JobController
from .errors import ApiError
from .kubelet import Kubelet
from .objects import Obj, ObjectStore
from .resources import Resource, ResourceType
from .selectors import parse_label_selector
from .server import Fault, HttpServer, RecordedRequest

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

T = TypeVar("T")


class FakeKubernetes:
    """A TEST DOUBLE FOR A KUBERNETES CLUSTER. IT IS NOT KUBERNETES: an API server, Job controller and kubelet in one
    Python process, which the official `kubernetes` client talks to over real HTTP on 127.0.0.1, and which runs pods
    as local processes. See the package's docstring for what it does and does not simulate.

    Use it as a context manager (`with FakeKubernetes(command_map={"python": sys.executable}) as kube:`).

    - `command_map`: rewrites the first word of a container's command (e.g. `python` to this interpreter); a value may
      be a list of words.
    - `backoff_base_seconds`: the delay before the first retry of a failed pod, doubling after each failure (a real
      controller's is 10 s).
    - `kill_grace_seconds`: the longest a deleted or timed-out pod's processes get between SIGTERM and SIGKILL.
    - `container_start_delay`: how long each container stays `ContainerCreating` before it starts.
    - `bookmark_interval`: seconds of quiet after which a watch with `allowWatchBookmarks` gets a BOOKMARK.
    - `token`: the bearer token requests must carry (others get 401).
    - `engines`: workflow controllers to run beside the Job controller, by name: "argo" (argo/: Argo Workflows)
      and "tekton" (tekton/: Tekton Pipelines). Each is a simulator: see its package docstring.
    """

    def __init__(
        self,
        *,
        command_map: Mapping[str, str | Sequence[str]] | None = None,
        backoff_base_seconds: float = 0.1,
        kill_grace_seconds: float = 1.0,
        container_start_delay: float = 0.0,
        bookmark_interval: float = 1.0,
        token: str = "fake-kubernetes-token",
        engines: Sequence[str] = (),
    ) -> None:
        self.token = token
        self.store = ObjectStore()
        self.kubelet = Kubelet(self.store, command_map, kill_grace_seconds, container_start_delay)
        self.jobs = JobController(self.store, backoff_base_seconds)
        self.engines = {name: _engine(name)(self.store, self.kubelet) for name in engines}
        self.api = Api(self.store, self.kubelet, token, bookmark_interval)
        self._http = HttpServer(self.api)
        self._stopping = threading.Event()
        self._informer = threading.Thread(target=self._inform, name="fake-kubernetes-informer", daemon=True)
        self._started = False

    # Life.

    def start(self) -> FakeKubernetes:
        self._http.start()
        self.jobs.start()
        for engine in self.engines.values():
            engine.start()
        self._informer.start()
        self._started = True
        return self

    def stop(self) -> None:
        """Kill every pod's processes and stop the server, the controller and the kubelet."""
        if not self._started:
            return
        self._started = False
        self._stopping.set()
        self.api.stop()
        self.kubelet.stop()
        self.jobs.stop()
        for engine in self.engines.values():
            engine.stop()
        self.store.wake()
        self._http.stop()
        self._informer.join(timeout=1)

    def __enter__(self) -> FakeKubernetes:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.stop()

    def _inform(self) -> None:
        """Hand every change to the controller and the kubelet, in order, as their informers would."""
        # From the store's version, not 0: waiting for a change after 0 returns at once (versions start at 1), so until
        # the first write this loop would spin and starve every other thread of the interpreter.
        cursor = self.store.resource_version
        while not self._stopping.is_set():
            for event in self.store.events_after(cursor):
                cursor = event.rv
                self.kubelet.on_event(event)
                self.jobs.on_event(event)
                for engine in self.engines.values():
                    engine.on_event(event)
            self.store.wait(cursor, 0.25)

    # Connecting.

    @property
    def url(self) -> str:
        return self._http.url

    def write_kubeconfig(self, path: str | Path, namespace: str = "default") -> Path:
        """Write a kubeconfig (JSON, which is YAML) whose current context is this cluster, with the bearer token."""
        path = Path(path)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": self.token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}],
            "current-context": "fake",
            "preferences": {},
        }
        path.write_text(json.dumps(config, indent=2))
        return path

    def api_client(self) -> ApiClient:
        """A `kubernetes.client.ApiClient` for this cluster (close it when done)."""
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        configuration.api_key = {"BearerToken": self.token}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        return client.ApiClient(configuration)

    def register(self, group_version: str, plural: str, kind: str, *, status_subresource: bool = False) -> None:
        """Declare a custom resource's kind and whether it has a status subresource (unregistered ones have none)."""
        self.store.register(Resource.of(group_version, plural), ResourceType(kind, status_subresource=status_subresource))

    # Direct access, for setting up and for assertions (not in the request log).

    def get(self, group_version: str, plural: str, namespace: str, name: str) -> Obj | None:
        """The stored object (a copy), or None; `group_version` is "v1", "batch/v1", "argoproj.io/v1alpha1", ..."""
        try:
            return self.store.get(Resource.of(group_version, plural), namespace, name)
        except ApiError:
            return None

    def list(self, group_version: str, plural: str, namespace: str | None = None, label_selector: str = "") -> list[Obj]:
        """The stored objects (copies) in `namespace` (None: all), in name order, that match the label selector."""
        labels = parse_label_selector(label_selector)
        return self.store.select(Resource.of(group_version, plural), namespace, lambda obj: labels(obj["metadata"].get("labels") or {}))[0]

    def create(self, group_version: str, plural: str, namespace: str, body: Obj) -> Obj:
        """Create an object as a client would (same defaults and validation), without a request."""
        return self.store.create(Resource.of(group_version, plural), namespace, body)

    def delete(self, group_version: str, plural: str, namespace: str, name: str, propagation_policy: str | None = "Background") -> None:
        """Delete an object as someone else would (`kubectl delete`, background propagation by default)."""
        self.store.delete(Resource.of(group_version, plural), namespace, name, propagation_policy)

    def wait_for(self, condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
        """Poll `condition()` until it answers something truthy, and answer that; AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"not true after {timeout} s: {condition}")
            time.sleep(interval)

    @property
    def resource_version(self) -> int:
        return self.store.resource_version

    def pod_processes(self) -> dict[str, int]:
        """The pods whose process is running: "namespace/name" -> pid."""
        return self.kubelet.processes()

    # The request log.

    @property
    def requests(self) -> builtins.list[RecordedRequest]:
        """Every request so far, in arrival order (a copy)."""
        return self.api.recorded()

    @property
    def watch_events_sent(self) -> int:
        """Watch events written to clients so far, BOOKMARK and ERROR events included."""
        return self.api.watch_events_sent

    def reset_requests(self) -> None:
        """Forget the requests and watch events counted so far (faults already set stay)."""
        self.api.forget_requests()

    # Faults.

    def cut_watches(self, logs: bool = False) -> int:
        """Drop every open watch stream's connection now, with no closing chunk (the client sees a broken response);
        with `logs`, also every following log stream. Answers how many streams were cut."""
        return self.api.cut_streams(("watch", "log") if logs else ("watch",))

    def compact(self) -> None:
        """Compact history up to now: a watch resuming from any earlier resourceVersion gets an ERROR event with a
        410 Expired Status, as after etcd compaction. Open watches carry on."""
        self.store.compact()

    def fail_requests(self, count: int, status: int = 500, path_contains: str = "", method: str | None = None) -> None:
        """Answer the next `count` requests whose path contains `path_contains` (and of `method`, if given) with
        `status` and a Status body (reason InternalError for 500, the apiserver's reason for other codes)."""
        self.api.add_fault(Fault(status, path_contains, method, remaining=count))

    def fail_for(self, seconds: float, status: int = 500, path_contains: str = "", method: str | None = None) -> None:
        """Answer every matching request with `status` for the next `seconds`."""
        self.api.add_fault(Fault(status, path_contains, method, until=time.monotonic() + seconds))

    def fail_image_pull(self, image: str) -> None:
        """Pods whose first container uses `image` never start: they stay Pending, waiting with ErrImagePull and then
        ImagePullBackOff, as on a node that cannot pull it (a Job stays active until a deadline ends it)."""
        self.kubelet.failing_images.add(image)


_ENGINES = {"argo": "tests.fake_kubernetes.argo:ArgoController", "tekton": "tests.fake_kubernetes.tekton:TektonController"}


def _engine(name: str) -> type:
    """A workflow controller class, `Controller(store, kubelet)` with `start()`, `stop()` and `on_event(event)`."""
    if name not in _ENGINES:
        raise ValueError(f"no workflow engine simulator named {name!r} (known: {', '.join(_ENGINES)})")
    module, _, attribute = _ENGINES[name].partition(":")
    engine: type = getattr(importlib.import_module(module), attribute)
    return engine
