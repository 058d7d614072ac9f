"""The configuration file: which metadata database, artifact store and backend Sluiceway uses, and how its server listens.

Found, for every command, in this order: `sluiceway --config FILE`, else the file named by
$SLUICEWAY_CONFIG, else none (the embedded default: SQLite and a local folder under
$SLUICEWAY_HOME). Single settings are overridden from the environment: SECTION.KEY as
SLUICEWAY_SECTION__KEY (`SLUICEWAY_METADATA__URL`), the value read as YAML; a setting inside a setting with one more
`__KEY` (`SLUICEWAY_SERVER__AUTH__ENABLED`).

Every setting is documented in docs/reference/configuration.md; a test keeps the two in step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec

from .core.errors import SluicewayError

CONFIG_ENV = "SLUICEWAY_CONFIG"
OVERRIDE_PREFIX = "SLUICEWAY_"
NESTING = "__"


class ConfigError(SluicewayError):
    """The configuration file, or an override from the environment, is not usable."""


class MetadataSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: str | None = None
    """SQLAlchemy URL of the metadata database: `postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB` (extra `postgres`),
    `mysql+pymysql://USER:PASSWORD@HOST:PORT/DB?charset=utf8mb4` (extra `mysql`), or `sqlite:///PATH`. Default: SQLite
    in `$SLUICEWAY_HOME/metadata.db`, upgraded in place. A server database is never upgraded implicitly: run
    `sluiceway db upgrade`."""


class ArtifactSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: str | None = None
    """Where artifacts are kept: `file:///PATH`, `s3://BUCKET/PREFIX` (extra `s3`) or `oss://BUCKET/PREFIX` (extra `oss`).
    Default: `$SLUICEWAY_HOME/artifacts`."""
    endpoint: str | None = None
    """The object store's address, for S3-compatible servers (MinIO: `http://HOST:9000`, path-style addressing) and
    OSS (`https://oss-cn-hangzhou.aliyuncs.com`). Default: the store's own (AWS S3 of the region)."""
    region: str | None = None
    """The object store's region: S3's (`us-east-1`), or OSS's as its V4 signatures name it (`cn-hangzhou`). Default: for S3
    the SDK's (AWS_REGION, ~/.aws/config); for OSS the one an `oss-REGION.aliyuncs.com` endpoint names."""
    access_key_id: str | None = None
    """Credentials, when they are not to come from the environment or the SDK's default chain (AWS_ACCESS_KEY_ID,
    ~/.aws/credentials, an instance role; OSS_ACCESS_KEY_ID for OSS). Given to tasks through their environment,
    never written to task specs, logs or the metadata database."""
    secret_access_key: str | None = None
    """The secret that goes with access_key_id (same rules)."""
    options: dict[str, Any] = {}
    """Other keyword settings of the store's class, as its how-to lists them (multipart sizes, timeouts, ...)."""

    def store_settings(self) -> dict[str, Any]:
        """What the store's class is created with: endpoint and region when set, and the options (no credentials)."""
        given = {"endpoint": self.endpoint, "region": self.region}
        return {**{key: value for key, value in given.items() if value is not None}, **self.options}

    def credentials(self) -> dict[str, str]:
        given = {"access_key_id": self.access_key_id, "secret_access_key": self.secret_access_key}
        return {key: value for key, value in given.items() if value is not None}


class BackendSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str = "local"
    """Where tasks run: `local` (processes on this machine) or `k8s_job` (a Kubernetes Job per attempt; extra `k8s`), or a
    backend a plugin registers. `sluiceway run --backend NAME` chooses for one run. The settings below are `k8s_job`'s."""
    namespace: str | None = None
    """k8s_job: the namespace the Jobs are created in. Default: `default`."""
    image: str | None = None
    """k8s_job: the runtime image (Python and Sluiceway installed; see docs/how-to/kubernetes.md). Python components
    with the default base image run in it; other components run in their own image, which must have Sluiceway too."""
    kubeconfig: str | None = None
    """k8s_job: the kubeconfig file. Default: in a pod, the pod's own cluster (its service account); elsewhere $KUBECONFIG
    or ~/.kube/config, as kubectl."""
    context: str | None = None
    """k8s_job: the kubeconfig context. Default: the file's current context."""
    service_account: str | None = None
    """k8s_job: the service account of the tasks' pods. Default: the namespace's `default`."""
    image_pull_secrets: list[str] = []
    """k8s_job: names of Secrets for pulling the tasks' images from private registries."""
    node_selector: dict[str, str] = {}
    """k8s_job: node labels every task's pod requires (a task's own node selector adds to them)."""
    tolerations: list[dict[str, Any]] = []
    """k8s_job: tolerations of every task's pod, as Kubernetes writes them (`{key, operator, value, effect}`)."""
    ttl_seconds_after_finished: int | None = None
    """k8s_job: how long a finished Job and its pod stay in the cluster (their outcome and log are kept first). Default:
    3600."""
    credentials_secret: str | None = None
    """k8s_job: a Secret whose keys become the tasks' environment, holding the artifact store's credentials
    (`AWS_ACCESS_KEY_ID`, ...). Default: a Secret made for each run from the credentials the orchestrator has, deleted
    when the run ends; none when it has none (e.g. a pod role)."""
    options: dict[str, Any] = {}
    """Other keyword settings of the backend's launcher class (a plugin backend's own settings)."""

    def launcher_settings(self) -> dict[str, Any]:
        """The settings given, as keyword arguments of the backend's launcher class."""
        given = {field: getattr(self, field) for field in self.__struct_fields__ if field not in ("name", "options")}
        chosen = {key: value for key, value in given.items() if value not in (None, [], {})}
        return {**chosen, **self.options}


class AuthSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    """Whether API requests must authenticate (a bearer token, or an auth plugin's credentials). Only an explicit `false`
    turns it off, and the server then says so loudly at start-up."""


class ServerSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    host: str = "127.0.0.1"
    """The address `sluiceway server` listens on (`sluiceway server --host` overrides it). Default: `127.0.0.1`, this
    machine only; `0.0.0.0` listens on every interface."""
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8888
    """The TCP port `sluiceway server` listens on (`sluiceway server --port` overrides it). Default: 8888."""
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1)] = 16 * 1024 * 1024
    """The largest request body the server reads; a larger one is refused with 413. Default: 16 MiB (16777216)."""
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    """Authentication of API requests, `{enabled: true}` by default: every `/api/v1` request needs an API token
    (`sluiceway tokens create`) or what an auth plugin takes. Only an explicit `{enabled: false}` (or
    `SLUICEWAY_SERVER__AUTH__ENABLED=false`) serves requests unauthenticated, and the server then warns loudly at start-up."""


class ClientSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    host: str | None = None
    """The server the `runs`, `run`, `experiments` and `pipelines` commands and `sluiceway.Client()` talk to
    (`http://HOST:PORT`); `--host` overrides it. Default: none, and those commands work on this machine (`experiments`
    and `pipelines` need a server)."""
    token: str | None = None
    """The API token sent to that server (`Authorization: Bearer TOKEN`). `--token` and $SLUICEWAY_TOKEN win over it;
    keep it out of files others can read. Default: none."""


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    metadata: MetadataSettings = msgspec.field(default_factory=MetadataSettings)
    """The metadata database: runs, tasks, outputs, lineage, cache entries."""
    artifacts: ArtifactSettings = msgspec.field(default_factory=ArtifactSettings)
    """The artifact store: the files tasks write."""
    backend: BackendSettings = msgspec.field(default_factory=BackendSettings)
    """Where tasks run."""
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    """`sluiceway server`: where it listens and what it accepts."""
    client: ClientSettings = msgspec.field(default_factory=ClientSettings)
    """The server the commands and the Python client talk to."""
    source: str | None = None
    """Where this configuration came from (not a setting: filled in by `load`)."""


SECTIONS: dict[str, type[msgspec.Struct]] = {
    "metadata": MetadataSettings,
    "artifacts": ArtifactSettings,
    "backend": BackendSettings,
    "server": ServerSettings,
    "client": ClientSettings,
}


def load(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """The configuration from `path`, else $SLUICEWAY_CONFIG, else the defaults; overrides from `environ` applied."""
    environ = os.environ if environ is None else environ
    chosen = path if path is not None else environ.get(CONFIG_ENV) or None
    raw: dict[str, Any] = _read(Path(chosen)) if chosen else {}
    where = str(chosen) if chosen else "the default configuration"
    overrides = _overrides(environ)
    for setting, value in overrides.items():
        target = raw
        for depth, name in enumerate(setting[:-1]):
            target = target.setdefault(name, {})
            if not isinstance(target, dict):
                raise ConfigError(f"{where}: '{'.'.join(setting[: depth + 1])}' must be a mapping of settings, got {type(target).__name__}")
        target[setting[-1]] = value
    try:
        config = msgspec.convert(raw, Config)
    except msgspec.ValidationError as error:
        overridden = ", ".join(OVERRIDE_PREFIX + NESTING.join(setting).upper() for setting in overrides)
        also = f" (with overrides from {overridden})" if overridden else ""
        raise ConfigError(f"{where}{also}: {_readable(error)}") from None
    return msgspec.structs.replace(config, source=str(chosen) if chosen else None)


def _read(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read the configuration file {path}: {error.strerror or error}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML: {getattr(error, 'problem', None) or error}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: a configuration file is a mapping of sections ({', '.join(SECTIONS)}), got {type(document).__name__}")
    return document


def _overrides(environ: Mapping[str, str]) -> dict[tuple[str, ...], Any]:
    """SLUICEWAY_SECTION__KEY=VALUE pairs, as (section, key) -> the value read as YAML (so `5` is a number); a setting
    inside a setting is reached the same way, SLUICEWAY_SERVER__AUTH__ENABLED -> (server, auth, enabled)."""
    import yaml

    found: dict[tuple[str, ...], Any] = {}
    for name, text in environ.items():
        if not name.startswith(OVERRIDE_PREFIX) or NESTING not in name:
            continue
        path = tuple(name[len(OVERRIDE_PREFIX) :].lower().split(NESTING))
        section = path[0]
        if section not in SECTIONS:
            raise ConfigError(f"{name}: there is no configuration section '{section}' (sections: {', '.join(SECTIONS)})")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        found[path] = text if isinstance(value, (dict, list)) else value
    return found


def _readable(error: msgspec.ValidationError) -> str:
    """msgspec's `... - at `$.metadata.url`` as `metadata.url: ...`."""
    message = str(error)
    head, separator, path = message.rpartition(" - at `$.")
    if not separator:
        return message[:1].lower() + message[1:]
    return f"{path.rstrip('`')}: {head[:1].lower()}{head[1:]}"


def settings_reference() -> dict[str, str]:
    """Every setting, as SECTION.KEY -> its documentation, for the reference page and its test."""
    reference: dict[str, str] = {}
    for section, settings in SECTIONS.items():
        for field in msgspec.structs.fields(settings):
            reference[f"{section}.{field.name}"] = _docstring(settings, field.name)
    return reference


def _docstring(owner: type, attribute: str) -> str:
    """The string literal under an attribute in its class body (how these settings are documented)."""
    import ast
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(owner)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    for index, node in enumerate(body[:-1]):
        target = getattr(node, "target", None)
        following = body[index + 1]
        if isinstance(target, ast.Name) and target.id == attribute and isinstance(following, ast.Expr):
            value = following.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return " ".join(value.value.split())
    return ""
