"""A container's command line and environment, as the kubelet builds them from the pod and the stored Secrets and ConfigMaps.

The environment is a small base (PATH, HOME, LANG and the host's PYTHONPATH/VIRTUAL_ENV, HOSTNAME = the pod's name),
then `envFrom` (secretRef, configMapRef, with prefix), then `env` (value with `$(VAR)` expansion, secretKeyRef,
configMapKeyRef, fieldRef, resourceFieldRef as written in the spec). A missing Secret, ConfigMap or key that is
not `optional` holds the container back (CreateContainerConfigError) until it appears. Files cannot be put at
container paths, so the container's terminationMessagePath is a file of the pod's on the host, substituted
wherever the path appears in the command, args and env values; the kubelet reads it after exit. Likewise every path
under one of the kubelet's `mapped_prefixes` (say `/tekton/`) is a path under the pod's folder on the host, so that a
workflow controller's step can write files there (results, output parameters) for the controller to read after exit.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .logs import LogBuffer
from .objects import Obj, ObjectStore
from .resources import CONFIGMAPS, SECRETS

_VARIABLE = re.compile(r"\$\$|\$\(([A-Za-z_][-._A-Za-z0-9]*)\)")
_FIELD = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")
_MESSAGE_LIMIT = 4096  # bytes of a termination message, per container
POD_IP = "127.0.0.1"


class ConfigError(Exception):
    """The container cannot be configured yet (a Secret or ConfigMap is missing): it waits, as on a real node."""


@dataclass(frozen=True)
class Launch:
    argv: list[str]  # empty: the container has no command (its image's entrypoint would run)
    env: dict[str, str]
    cwd: str
    message_path: str  # the host file that stands for the container's terminationMessagePath


def expand(text: str, variables: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined variables are replaced, `$$` is a literal `$`, the rest stays as written."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return variables.get(match.group(1), match.group(0))

    return _VARIABLE.sub(replace, text)


def host_path(workdir: str, path: str) -> str:
    """Where a container path under a mapped prefix lives on the host: under the pod's folder."""
    return os.path.join(workdir, "fs", path.lstrip("/"))


def configure(
    store: ObjectStore,
    pod: Obj,
    container: dict[str, Any],
    workdir: str,
    command_map: Mapping[str, str | Sequence[str]],
    mapped_prefixes: Sequence[str] = (),
) -> Launch:
    """How to start the container: the command and args after `$(VAR)` expansion and `command_map`, and the environment.
    Raises ConfigError while a Secret or ConfigMap it needs is missing."""
    namespace = pod["metadata"].get("namespace", "")
    variables: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        data = _source(store, namespace, source.get("secretRef") or source.get("configMapRef") or {}, "secretRef" in source, key=None)
        for key, text in (data or {}).items():
            variables[source.get("prefix", "") + key] = text
    for item in container.get("env") or []:
        if "valueFrom" in item:
            value = _value_from(store, pod, container, item["valueFrom"])
            if value is not None:
                variables[item["name"]] = value
        else:
            variables[item["name"]] = expand(str(item.get("value", "")), variables)
    # The termination message file cannot be at its path in the container: it is a file of the pod's, wherever the
    # path appears in the command, args or env.
    message_path = str(container.get("terminationMessagePath") or "/dev/termination-log")
    host_message_path = os.path.join(workdir, "termination-log")

    def to_host(text: str) -> str:
        text = text.replace(message_path, host_message_path)
        for prefix in mapped_prefixes:
            text = text.replace(prefix, host_path(workdir, prefix))
        return text

    variables = {key: to_host(value) for key, value in variables.items()}
    words = [to_host(expand(str(word), variables)) for word in container.get("command") or []]
    words += [to_host(expand(str(word), variables)) for word in container.get("args") or []]
    if not container.get("command"):  # the image's entrypoint would run: unknown here
        words = []
    mapped = command_map.get(words[0], words[0]) if words else []
    argv = ([mapped] if isinstance(mapped, str) else list(mapped)) + words[1:]
    env = {key: os.environ[key] for key in ("PATH", "HOME", "PYTHONPATH", "VIRTUAL_ENV") if key in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["LANG"] = os.environ.get("LANG", "C.UTF-8")
    env["HOSTNAME"] = pod["metadata"]["name"]
    env.update(variables)
    working_dir = container.get("workingDir")
    cwd = working_dir if working_dir and os.path.isdir(working_dir) else workdir
    return Launch(argv, env, cwd, host_message_path)


def _source(store: ObjectStore, namespace: str, ref: dict[str, Any], secret: bool, key: str | None) -> dict[str, str] | None:
    """The data of a Secret (decoded) or ConfigMap, or one key of it; None if optional and missing."""
    resource, kind = (SECRETS, "Secret") if secret else (CONFIGMAPS, "ConfigMap")
    name = ref.get("name", "")
    obj = store.find(resource, namespace, name)
    if obj is None:
        if ref.get("optional"):
            return None
        raise ConfigError(f'{kind.lower()} "{name}" not found')
    if secret:
        data = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (obj.get("data") or {}).items()}
    else:
        data = {
            **{k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (obj.get("binaryData") or {}).items()},
            **(obj.get("data") or {}),
        }
    if key is not None and key not in data:
        if ref.get("optional"):
            return None
        raise ConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
    return data


def _value_from(store: ObjectStore, pod: Obj, container: dict[str, Any], source: dict[str, Any]) -> str | None:
    namespace = pod["metadata"].get("namespace", "")
    for ref_name, secret in (("secretKeyRef", True), ("configMapKeyRef", False)):
        if ref_name in source:
            ref = source[ref_name]
            data = _source(store, namespace, ref, secret, key=ref.get("key", ""))
            return None if data is None else data[ref.get("key", "")]
    if "fieldRef" in source:
        path = source["fieldRef"].get("fieldPath", "")
        match = _FIELD.match(path)
        if match:
            return str((pod["metadata"].get(match.group(1)) or {}).get(match.group(2), ""))
        values: dict[str, str] = {
            "metadata.name": pod["metadata"]["name"],
            "metadata.namespace": namespace,
            "metadata.uid": pod["metadata"]["uid"],
            "spec.nodeName": "fake-node",
            "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
            "status.podIP": POD_IP,
            "status.podIPs": POD_IP,
            "status.hostIP": POD_IP,
            "status.hostIPs": POD_IP,
        }
        return values.get(path, "")
    if "resourceFieldRef" in source:  # what the container asks for, as written; no node capacity here
        resource = source["resourceFieldRef"].get("resource", "")
        section, _, name = resource.partition(".")
        return str(((container.get("resources") or {}).get(section) or {}).get(name, "0"))
    return ""


def termination_message(path: str, container: dict[str, Any], code: int, buffer: LogBuffer) -> str:
    try:
        with open(path, "rb") as file:
            message = file.read(_MESSAGE_LIMIT).decode("utf-8", "replace")
    except OSError:
        message = ""
    if not message and code != 0 and container.get("terminationMessagePolicy") == "FallbackToLogsOnError":
        lines = buffer.text().splitlines(keepends=True)[-80:]
        message = b"".join(lines)[-2048:].decode("utf-8", "replace")
    return message
