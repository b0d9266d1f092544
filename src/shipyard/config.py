"""Typed settings, read when asked for: environment > shipyard.toml > defaults.

Each resolved value remembers where it came from, so `shipyard config` can say why a
setting has the value it has. ``shipyard.toml`` is looked up from the working directory
upwards; relative paths in it are relative to the file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidArgument

TOML_NAME = "shipyard.toml"
NONFINITE_POLICIES = ("allow", "skip", "error")


@dataclass(frozen=True)
class Setting:
    name: str
    help: str
    parse: Callable[[str], Any]
    default: Callable[[Mapping[str, Any]], Any]

    @property
    def env_var(self) -> str:
        return f"SHIPYARD_{self.name.upper()}"


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a positive number")
    return value


def _policy(raw: str) -> str:
    if raw not in NONFINITE_POLICIES:
        raise ValueError(f"must be one of {', '.join(NONFINITE_POLICIES)}")
    return raw


def _urls(raw: str) -> tuple[str, ...]:
    return tuple(u.strip() for u in raw.split(",") if u.strip())


def _attempts(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 10:
        raise ValueError("must be a whole number from 1 to 10")
    return value


def _auth_mode(raw: str) -> str:
    mode = raw.strip().lower()
    if mode not in ("auto", "on", "off"):
        raise InvalidArgument(f"auth must be auto, on or off, not {raw!r}")
    return mode


def _flag(raw: str) -> bool:
    value = str(raw).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise InvalidArgument(f"expected true or false, not {raw!r}")


def _path(raw: str) -> Path:
    return Path(raw).expanduser()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "home",
        "folder of the embedded store (SQLite file and blobs)",
        _path,
        lambda _: Path("~/.shipyard").expanduser(),
    ),
    Setting(
        "uri",
        "metadata store: sqlite:///path, postgresql://..., later http(s)://...",
        str,
        lambda s: f"sqlite:///{Path(s['home']) / 'shipyard.db'}",
    ),
    Setting(
        "token",
        "API token a client sends to a `shipyard server` with auth on (`shipyard tokens "
        "create`); secret: shown redacted",
        str,
        lambda _: "",
    ),
    Setting(
        "auth",
        "`shipyard server` authentication: auto (on unless listening on loopback), on, off",
        _auth_mode,
        lambda _: "auto",
    ),
    Setting(
        "anonymous_read",
        "`shipyard server` with auth on: let requests without a token read (never write)",
        _flag,
        lambda _: False,
    ),
    Setting(
        "server_data_roots",
        "folders or URL prefixes (comma-separated) a `shipyard server` may read feature "
        "sources from when a request names them; empty: none",
        _urls,
        lambda _: (),
    ),
    Setting(
        "server_sql_sources",
        "let a `shipyard server` run the SQL of feature sources (DuckDB can read any file "
        "the server can); off by default",
        _flag,
        lambda _: False,
    ),
    Setting(
        "server_trusts_code",
        "let a `shipyard server` unpickle Python code clients stored (feature "
        "transformations, on-demand functions); off by default",
        _flag,
        lambda _: False,
    ),
    Setting(
        "server_webhooks",
        "URL prefixes (comma-separated) a `shipyard server` may send monitors' alerts to, "
        "besides alert_webhooks; empty: only alert_webhooks",
        _urls,
        lambda _: (),
    ),
    Setting(
        "artifact_uri",
        "blob store root: a folder or any fsspec URL (s3://bucket/prefix)",
        str,
        lambda s: str(Path(s["home"]) / "blobs"),
    ),
    Setting(
        "executor",
        "where flow tasks run: local (reused worker processes on this machine) or ray; "
        "also where `shipyard predict` scores its chunks and `shipyard monitor run` computes "
        "drift; `--executor` wins",
        str,
        lambda _: "local",
    ),
    Setting(
        "ray_address",
        "the Ray cluster the ray executor connects to (host:6379 or ray://host:10001); "
        "empty: a local Ray, started if none is running; `--ray-address` wins",
        str,
        lambda _: "",
    ),
    Setting(
        "gpus",
        "GPU device ids the local executor hands to @resources(gpu=N) tasks, "
        "comma-separated; empty: the runner's CUDA_VISIBLE_DEVICES, else `nvidia-smi -L`",
        _urls,
        lambda _: (),
    ),
    Setting(
        "online_uri",
        "online feature store: sqlite:///path or redis://host:port/db",
        str,
        lambda s: f"sqlite:///{Path(s['home']) / 'online.db'}",
    ),
    Setting(
        "duckdb_memory_limit",
        "memory DuckDB may use for feature joins before spilling to disk (e.g. 2GB); "
        "empty: DuckDB's default, 80% of RAM",
        str,
        lambda _: "",
    ),
    Setting(
        "project",
        "project (experiment) that new runs go to when none is given",
        str,
        lambda _: "default",
    ),
    Setting(
        "heartbeat_interval",
        "seconds between heartbeats of an active run",
        _positive_float,
        lambda _: 10.0,
    ),
    Setting(
        "heartbeat_timeout",
        "seconds without a heartbeat before a run counts as dead",
        _positive_float,
        lambda _: 120.0,
    ),
    Setting(
        "metric_flush_interval",
        "seconds between background writes of buffered metrics",
        _positive_float,
        lambda _: 0.5,
    ),
    Setting(
        "model_stale_after",
        "days without a new version and without a logged prediction before a model "
        "counts as stale in `shipyard models ls`",
        _positive_float,
        lambda _: 30.0,
    ),
    Setting(
        "prediction_flush_interval",
        "seconds a server buffers logged predictions before writing them",
        _positive_float,
        lambda _: 0.5,
    ),
    Setting(
        "nonfinite_metrics",
        "what log_metric does with NaN/inf: allow, skip or error",
        _policy,
        lambda _: "allow",
    ),
    Setting(
        "alert_webhooks",
        "webhooks every monitor alert goes to, comma-separated: URL, json:URL or slack:URL",
        _urls,
        lambda _: (),
    ),
    Setting(
        "alert_webhook_attempts",
        "attempts to deliver an alert to a webhook (backoff 0.5 s, 1 s, ...)",
        _attempts,
        lambda _: 3,
    ),
    Setting(
        "alert_webhook_timeout",
        "seconds to wait for a webhook to answer one delivery attempt",
        _positive_float,
        lambda _: 5.0,
    ),
)
SETTING_NAMES = tuple(s.name for s in SETTINGS)


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def source(self, name: str) -> str:
        return self.sources[name]


def find_toml(start: Path | None = None) -> Path | None:
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        path = candidate / TOML_NAME
        if path.is_file():
            return path
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidArgument(f"cannot read {path}: {exc}") from exc
    section = data.get("shipyard", data)
    unknown = sorted(set(section) - set(SETTING_NAMES))
    if unknown:
        raise InvalidArgument(
            f"{path}: unknown setting(s) {', '.join(unknown)}; "
            f"known settings are: {', '.join(SETTING_NAMES)}"
        )
    resolved: dict[str, Any] = {}
    for key, value in section.items():
        if key in ("home", "artifact_uri") and isinstance(value, str) and "://" not in value:
            value = str((path.parent / Path(value).expanduser()).resolve())
        resolved[key] = str(value)
    return resolved


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve every setting; ``overrides`` (explicit arguments) win over everything."""
    env = os.environ if env is None else env
    toml_path = find_toml(cwd)
    from_toml = _read_toml(toml_path) if toml_path else {}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        explicit = (overrides or {}).get(setting.name)
        if explicit is not None:
            raw, source = str(explicit), "argument"
        elif env.get(setting.env_var):
            raw, source = env[setting.env_var], f"env {setting.env_var}"
        elif setting.name in from_toml:
            raw, source = from_toml[setting.name], str(toml_path)
        else:
            values[setting.name] = setting.default(values)
            sources[setting.name] = "default"
            continue
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as exc:
            raise InvalidArgument(
                f"setting '{setting.name}' from {source} is invalid ({raw!r}): {exc}"
            ) from exc
        sources[setting.name] = source
    return Settings(values, sources)


def redact_uri(uri: str) -> str:
    """The URI with any password replaced by ``***``, for messages and ``shipyard config``."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(uri)
        password = parts.password
    except ValueError:
        return uri
    if password is None:
        return uri
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


SECRET_SETTINGS = frozenset({"token"})


def redact_setting(name: str, value: Any) -> str:
    """A setting as ``shipyard config`` shows it: secrets by their first characters only,
    URIs without their password."""
    text = str(value)
    if name in SECRET_SETTINGS:
        return f"{text[:8]}***" if text else ""
    return redact_uri(text)
