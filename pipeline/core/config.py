"""The typed configuration tree, loaded from TOML and validated before anything starts.

Every error names the file and the key path (``cameras[1].fps``) so that an
operator can fix a config without reading code. Unknown keys are errors: a
misspelt key that is silently ignored is a camera that silently misbehaves.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CAMERA_ID_PATTERN = re.compile(r"[a-z0-9_-]{1,64}")
DEVICE_PATH_PATTERN = re.compile(r"/dev/video(\d+)")
URL_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
NAMESPACE_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# A detection label is one word of a topic routing key (``<camera>.<label>``).
LABEL_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
ALARM_NAME_PATTERN = re.compile(r"[a-z0-9_-]{1,64}")
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

ENV_AMQP_URL = "RABBITCAM_AMQP_URL"
ENV_NAMESPACE = "RABBITCAM_NAMESPACE"
ENV_DATA = "RABBITCAM_DATA"


class ConfigError(ValueError):
    """A config that cannot be used; ``problems`` holds one ``file: key: message`` each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class SourceSpec:
    """Where a camera's pictures come from."""

    kind: str  # "synthetic" | "device" | "file" | "url"
    location: str | int  # device index, absolute file path or URL; "" for synthetic

    def describe(self) -> str:
        if self.kind == "synthetic":
            return "synthetic"
        if self.kind == "url":
            return redact_url(str(self.location))
        return f"{self.kind}:{self.location}"


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    # Run only when this earlier detector found something in the frame.
    when: str | None = None
    # ... and only on the picture around what it found (crops merged and padded).
    region: str | None = None


@dataclass(frozen=True)
class CameraConfig:
    id: str
    source: SourceSpec
    name: str = ""
    fps: float = 15.0
    width: int = 640
    height: int = 480
    jpeg_quality: int = 80
    detectors: tuple[DetectorSpec, ...] = ()
    max_age_ms: int = 1000
    queue_length: int = 2
    queue_ttl_ms: int = 2000
    # One worker at a time sees every frame, in order (single active consumer).
    # Defaults to on when a detector keeps state across frames.
    ordered: bool = False
    # Whether the worker (or a direct camera's capture) draws the banner and what
    # the detectors found into the picture. Off with no detectors: results carry
    # the camera's JPEG untouched (no decode, no drawing, no re-encode), the
    # cheapest path through a worker.
    annotate: bool = True
    # ``annotate = "page"``: nothing is drawn into the picture; the detections ride
    # beside the camera's own JPEG and the pages draw them over it. Saves the
    # re-encode (and its loss of quality); plain MJPEG clients see no boxes.
    overlay: bool = False
    # Synthetic sources only: draw the QR code of <camera>:<seq> (about 4 ms a frame).
    qr: bool = True
    # Synthetic sources only: what they show (see pipeline.core.scenes).
    scene: str = "shapes"
    # Labels whose events are recorded (snapshot, clip, the events page).
    record: tuple[str, ...] = ()
    # Frames go from capture straight to the viewers (the results exchange), drawn
    # by capture itself: no detector hop. The default for a camera with no detectors.
    direct: bool = False

    @property
    def passthrough(self) -> bool:
        return not self.detectors and not self.annotate

    @property
    def title(self) -> str:
        return self.name or self.id


@dataclass(frozen=True)
class BrokerConfig:
    urls: tuple[str, ...] = ("amqp://guest:guest@127.0.0.1:5672/",)
    namespace: str = "rabbitcam"
    heartbeat_s: int = 10
    reconnect_max_s: float = 3.0
    # Where the URLs came from, for error messages.
    url_key: str = field(default="broker.url", compare=False)


@dataclass(frozen=True)
class WebConfig:
    bind: str = "127.0.0.1:8000"
    threads: int = 128  # each watching viewer holds one
    send_buffer_kb: int = 8  # per viewer: about one frame, so slow viewers skip, not lag
    # Streams open at once; 0: all threads but an eighth (at least 4), which are
    # kept for pages, the API and /healthz whatever the viewers do.
    max_streams: int = 0
    max_streams_per_client: int = 32  # per client address; 0: no limit (e.g. behind a proxy)
    # A viewer that has taken nothing for this long is cut off and its thread freed.
    stall_s: float = 5.0
    # Camera source URLs (even with passwords masked) are not sent to browsers unless this is on.
    show_sources: bool = False
    # The reverse proxy whose X-Forwarded-For/-Proto headers are believed ("" for none).
    trusted_proxy: str = ""
    # The address people open the streamer at (https://cams.example), for links in alarms.
    public_url: str = ""
    # Host names the streamer answers to besides IP addresses, localhost and
    # public_url's host (a page on another site cannot rebind its own name to us).
    allowed_hosts: tuple[str, ...] = ()

    @property
    def stream_limit(self) -> int:
        return self.max_streams or self.threads - max(4, self.threads // 8)

    @property
    def host(self) -> str:
        return self.bind.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.bind.rsplit(":", 1)[1])


# Past this many cameras in one capture process, its threads queue for the one
# interpreter: at twice the machine's capacity, groups of 16 delivered 90 % of the
# peak where groups of 52 delivered 84 % (benchmarks, docs/benchmarks.md).
MAX_AUTO_CAMERAS_PER_PROCESS = 16


@dataclass(frozen=True)
class CaptureConfig:
    # Cameras one capture process serves (a thread and a connection each); 0: the
    # cameras spread over one process per core, at most 16 to a process.
    cameras_per_process: int = 0

    def group_size(self, cameras: int) -> int:
        if self.cameras_per_process:
            return self.cameras_per_process
        spread = -(-cameras // (os.cpu_count() or 1))
        return max(1, min(MAX_AUTO_CAMERAS_PER_PROCESS, spread))


@dataclass(frozen=True)
class DetectConfig:
    workers: int = 2
    event_interval_s: float = 1.0


@dataclass(frozen=True)
class RecordConfig:
    """``[record]``: events kept with a snapshot and a clip, and for how long.

    The broker keeps the last ``keep_s`` of every recording camera's annotated
    frames (a stream queue, at most ``keep_mb``); a clip is read from it, from
    ``pre_s`` before an event to ``post_s`` after the last event that follows
    it closely. Events, snapshots and clips live in ``dir``.
    """

    # None: $RABBITCAM_DATA, else ~/.local/share/rabbitcam; one folder per namespace.
    dir: Path | None = None
    keep_s: int = 60
    keep_mb: int = 256
    pre_s: float = 5.0
    post_s: float = 5.0
    max_clip_s: float = 30.0
    retain_days: float = 30.0
    max_mb: int = 2048

    def store_dir(self, namespace: str) -> Path:
        if self.dir is not None:
            return self.dir
        base = os.environ.get(ENV_DATA) or str(Path.home() / ".local" / "share" / "rabbitcam")
        return Path(base) / namespace


ALARM_KINDS = {"http": "webhook", "https": "webhook", "mqtt": "mqtt", "mqtts": "mqtt"}


@dataclass(frozen=True)
class AlarmConfig:
    """One ``[[alarms]]`` target: a webhook (http, https) or an MQTT broker (mqtt, mqtts).

    ``url``, ``headers`` and ``secret`` may name environment variables as
    ``${NAME}``, so that no secret is written in a config file; the alarm role
    resolves them when it starts (``resolved``).
    """

    name: str
    url: str
    kind: str  # "webhook" | "mqtt"
    labels: tuple[str, ...] = ()  # empty: every label
    cameras: tuple[str, ...] = ()  # empty: every camera
    # At most one alarm per camera and label in this time (webhooks 30 s, MQTT 0).
    cooldown_s: float = 30.0
    attempts: int = 20  # with the backoff doubling from 1 s to 30 s: about 8 minutes
    timeout_s: float = 5.0
    # An alarm that could not be delivered for this long is dropped: it is news no more.
    max_age_s: float = 3600.0
    headers: tuple[tuple[str, str], ...] = ()
    secret: str = ""  # webhooks: HMAC-SHA256 of the body in X-Rabbitcam-Signature
    topic: str = "rabbitcam"  # MQTT topic prefix
    clear_s: float = 30.0  # MQTT: a label's state goes OFF this long after its last event
    key: str = field(default="alarms[0]", compare=False)  # where it was configured

    def wants(self, camera: str, label: str) -> bool:
        return (not self.cameras or camera in self.cameras) and (
            not self.labels or label in self.labels
        )

    def resolved(self, file: Path, environ: dict[str, str] | None = None) -> AlarmConfig:
        """The same target with every ``${NAME}`` taken from the environment;
        ConfigError naming the key when a variable is not set."""
        environ = dict(os.environ) if environ is None else environ
        problems: list[str] = []

        def expand(text: str, where: str) -> str:
            def value(match: re.Match[str]) -> str:
                name = match.group(1)
                if not environ.get(name):
                    problems.append(f"{file}: {self.key}.{where}: environment variable {name} "
                                    "is not set")  # fmt: skip
                    return ""
                return environ[name]

            return ENV_REFERENCE.sub(value, text)

        resolved = dataclasses.replace(
            self,
            url=expand(self.url, "url"),
            headers=tuple((k, expand(v, f"headers.{k}")) for k, v in self.headers),
            secret=expand(self.secret, "secret"),
        )
        if problems:
            raise ConfigError(problems)
        return resolved


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class LogConfig:
    level: str = "INFO"
    format: str = "text"  # "json": one JSON object per line, for log collectors


@dataclass(frozen=True)
class Config:
    path: Path
    broker: BrokerConfig
    web: WebConfig
    detect: DetectConfig
    cameras: tuple[CameraConfig, ...]
    log: LogConfig = LogConfig()
    capture: CaptureConfig = CaptureConfig()
    record: RecordConfig = RecordConfig()
    alarms: tuple[AlarmConfig, ...] = ()
    # Drop-in directory: one TOML file per camera, applied live by `rabbitcam run`.
    cameras_dir: Path | None = None
    # Which file each camera comes from (the config itself or a drop-in file).
    camera_files: dict[str, Path] = field(default_factory=dict, compare=False)
    # Problems of drop-in files that were skipped (tolerant loading only).
    skipped: tuple[str, ...] = field(default=(), compare=False)

    def camera(self, camera_id: str) -> CameraConfig:
        for camera in self.cameras:
            if camera.id == camera_id:
                return camera
        raise KeyError(camera_id)

    @property
    def camera_ids(self) -> list[str]:
        return [camera.id for camera in self.cameras]

    @property
    def recording(self) -> list[CameraConfig]:
        """The cameras whose events are recorded."""
        return [camera for camera in self.cameras if camera.record]

    @property
    def store_dir(self) -> Path:
        """Where the events database, snapshots and clips are kept."""
        return self.record.store_dir(self.broker.namespace)


# Query parameters that carry credentials in camera and broker URLs
# (``snapshot.cgi?user=admin&pwd=secret``, signed stream links).
SECRET_QUERY_KEYS = re.compile(
    r"^(user(name)?|login|pass(word|wd)?|pwd|secret|token|access_token|auth|api_?key|key|"
    r"sig(nature)?|credentials?)$",
    re.IGNORECASE,
)


def redact_url(url: str) -> str:
    """A URL fit for a log line or a page: no password, no credential in its query.

    Parsed, not pattern-matched: a password may hold ``/``, ``@`` or ``:``
    (``rtsp://admin:p@ss/w@cam``), so everything before the *last* ``@`` ahead
    of the query is user information. The user name is kept for operators
    (``user:***@``); a URL with a password but no user shows ``***@``.
    """
    from urllib.parse import parse_qsl, urlencode

    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    address, qmark, query = rest.partition("?")
    query, hash_mark, fragment = query.partition("#") if qmark else ("", "", "")
    if not qmark:
        address, hash_mark, fragment = address.partition("#")
    if "@" in address:
        userinfo, _, address = address.rpartition("@")
        user = userinfo.split(":", 1)[0] if ":" in userinfo else userinfo
        # A "user" holding a slash is a password that did not parse as one.
        user = user if user and "/" not in user else ""
        address = f"{user}:***@{address}" if user else f"***@{address}"
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(SECRET_QUERY_KEYS.match(key) for key, _ in pairs):
            query = urlencode(
                [(k, "***" if SECRET_QUERY_KEYS.match(k) else v) for k, v in pairs], safe="*"
            )
    return f"{scheme}://{address}{qmark}{query}{hash_mark}{fragment}"


# --- validation helpers -----------------------------------------------------------


class _Reader:
    """Reads typed values out of one TOML table, recording problems with their key path."""

    def __init__(self, file: Path, problems: list[str]) -> None:
        self.file = file
        self.problems = problems

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.file}: {key}: {message}")

    def table(self, data: dict[str, Any], key: str, path: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.problem(path, f"must be a table, got {_type_name(value)}")
            return {}
        return value

    def reject_unknown(self, data: dict[str, Any], allowed: set[str], path: str) -> None:
        for key in sorted(set(data) - allowed):
            where = f"{path}.{key}" if path else key
            self.problem(where, f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def number(
        self,
        data: dict[str, Any],
        key: str,
        path: str,
        default: float,
        *,
        integer: bool = False,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> Any:
        if key not in data:
            return default
        value = data[key]
        where = f"{path}.{key}" if path else key
        allowed = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, allowed):
            kind = "an integer" if integer else "a number"
            self.problem(where, f"must be {kind}, got {_type_name(value)} {value!r}")
            return default
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            self.problem(where, f"must be between {minimum} and {maximum}, got {value!r}")
            return default
        return value

    def string(
        self,
        data: dict[str, Any],
        key: str,
        path: str,
        default: str,
        check: Callable[[str], str | None] | None = None,
    ) -> str:
        if key not in data:
            return default
        value = data[key]
        where = f"{path}.{key}" if path else key
        if not isinstance(value, str):
            self.problem(where, f"must be a string, got {_type_name(value)} {value!r}")
            return default
        if check is not None and (message := check(value)):
            self.problem(where, message)
            return default
        return value

    def boolean(self, data: dict[str, Any], key: str, path: str, default: bool) -> bool:
        if key not in data:
            return default
        value = data[key]
        if not isinstance(value, bool):
            self.problem(_key(path, key), f"must be true or false, got {_type_name(value)}")
            return default
        return value


def _key(path: str, key: str) -> str:
    """``cameras[1].fps``; just ``fps`` at a drop-in file's top level."""
    return f"{path}.{key}" if path else key


def _type_name(value: object) -> str:
    return {dict: "a table", list: "an array", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _check_bind(value: str) -> str | None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return f"must be HOST:PORT, got {value!r}"
    return None


def _check_public_url(value: str) -> str | None:
    if not value.startswith(("http://", "https://")):
        return f"must be an http:// or https:// URL, got {value!r}"
    return None


# RabbitMQ's URI spec names for TLS settings (see pipeline.core.broker.tls_options).
TLS_PARAMETERS = ("cacertfile", "certfile", "keyfile", "verify", "server_name_indication")


def _check_url(value: str) -> str | None:
    if not value.startswith(("amqp://", "amqps://")):
        return f"must be an amqp:// or amqps:// URL, got {redact_url(value)!r}"
    from urllib.parse import parse_qsl, urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as error:
        return f"malformed URL {redact_url(value)!r}: {error}"
    for key, setting in parse_qsl(parts.query, keep_blank_values=True):
        if key in ("cacertfile", "certfile", "keyfile") and not Path(setting).is_file():
            return f"{key} not found: {setting}"
        if key == "verify" and setting not in ("verify_peer", "verify_none"):
            return f"verify must be verify_peer or verify_none, got {setting!r}"
    return None


# --- sections ------------------------------------------------------------------------


def broker_from_environment() -> BrokerConfig:
    """Broker settings with no config file: defaults, then the environment."""
    return _read_broker(_Reader(Path("(environment)"), []), {})


def _read_broker(reader: _Reader, raw: dict[str, Any]) -> BrokerConfig:
    data = reader.table(raw, "broker", "broker")
    reader.reject_unknown(data, {"url", "namespace", "heartbeat_s", "reconnect_max_s"}, "broker")
    defaults = BrokerConfig()
    urls: tuple[str, ...] = defaults.urls
    if "url" in data:
        value = data["url"]
        candidates = value if isinstance(value, list) else [value]
        if not candidates or not all(isinstance(url, str) for url in candidates):
            reader.problem("broker.url", "must be a URL string or a non-empty array of them")
        else:
            for index, url in enumerate(candidates):
                if message := _check_url(url):
                    where = "broker.url" if isinstance(value, str) else f"broker.url[{index}]"
                    reader.problem(where, message)
            urls = tuple(candidates)
    url_key = "broker.url"
    env_urls = os.environ.get(ENV_AMQP_URL, "").strip()
    if env_urls:
        url_key = f"environment {ENV_AMQP_URL}"
        candidates = [url.strip() for url in env_urls.split(",") if url.strip()]
        for url in candidates:
            if message := _check_url(url):
                reader.problems.append(f"environment {ENV_AMQP_URL}: {message}")
        urls = tuple(candidates)
    namespace = reader.string(
        data,
        "namespace",
        "broker",
        defaults.namespace,
        lambda v: None if NAMESPACE_PATTERN.fullmatch(v) else "must match [A-Za-z0-9_.-]{1,64}",
    )
    env_namespace = os.environ.get(ENV_NAMESPACE, "").strip()
    if env_namespace:
        if NAMESPACE_PATTERN.fullmatch(env_namespace):
            namespace = env_namespace
        else:
            reader.problems.append(
                f"environment {ENV_NAMESPACE}: must match [A-Za-z0-9_.-]{{1,64}}"
            )
    return BrokerConfig(
        urls=urls,
        url_key=url_key,
        namespace=namespace,
        heartbeat_s=reader.number(
            data,
            "heartbeat_s",
            "broker",
            defaults.heartbeat_s,
            integer=True,
            minimum=1,
            maximum=600,
        ),
        reconnect_max_s=reader.number(
            data, "reconnect_max_s", "broker", defaults.reconnect_max_s, minimum=0.1, maximum=300
        ),
    )


def _read_web(reader: _Reader, raw: dict[str, Any]) -> WebConfig:
    data = reader.table(raw, "web", "web")
    reader.reject_unknown(
        data,
        {
            "bind", "threads", "send_buffer_kb", "max_streams", "max_streams_per_client",
            "stall_s", "show_sources", "trusted_proxy", "public_url", "allowed_hosts",
        },
        "web",
    )  # fmt: skip
    defaults = WebConfig()
    threads = reader.number(
        data, "threads", "web", defaults.threads, integer=True, minimum=4, maximum=1024
    )
    return WebConfig(
        bind=reader.string(data, "bind", "web", defaults.bind, _check_bind),
        threads=threads,
        # Streams may never take every thread: pages, the API and /healthz keep some.
        max_streams=reader.number(
            data,
            "max_streams",
            "web",
            defaults.max_streams,
            integer=True,
            minimum=0,
            maximum=max(1, threads - 2),
        ),
        max_streams_per_client=reader.number(
            data,
            "max_streams_per_client",
            "web",
            defaults.max_streams_per_client,
            integer=True,
            minimum=0,
            maximum=1024,
        ),
        stall_s=reader.number(data, "stall_s", "web", defaults.stall_s, minimum=0.5, maximum=300),
        show_sources=reader.boolean(data, "show_sources", "web", defaults.show_sources),
        trusted_proxy=reader.string(data, "trusted_proxy", "web", defaults.trusted_proxy),
        public_url=reader.string(
            data, "public_url", "web", defaults.public_url, _check_public_url
        ).rstrip("/"),
        allowed_hosts=_read_words(reader, data, "allowed_hosts", "web", HOST_NAME_PATTERN),
        send_buffer_kb=reader.number(
            data,
            "send_buffer_kb",
            "web",
            defaults.send_buffer_kb,
            integer=True,
            minimum=4,
            maximum=16_384,
        ),
    )


def _read_capture(reader: _Reader, raw: dict[str, Any]) -> CaptureConfig:
    data = reader.table(raw, "capture", "capture")
    reader.reject_unknown(data, {"cameras_per_process"}, "capture")
    return CaptureConfig(
        cameras_per_process=reader.number(
            data, "cameras_per_process", "capture", 0, integer=True, minimum=0, maximum=256
        )
    )


def _read_detect(reader: _Reader, raw: dict[str, Any]) -> DetectConfig:
    data = reader.table(raw, "detect", "detect")
    reader.reject_unknown(data, {"workers", "event_interval_s"}, "detect")
    defaults = DetectConfig()
    return DetectConfig(
        workers=reader.number(
            data, "workers", "detect", defaults.workers, integer=True, minimum=0, maximum=64
        ),
        event_interval_s=reader.number(
            data, "event_interval_s", "detect", defaults.event_interval_s, minimum=0, maximum=3600
        ),
    )


RECORD_KEYS = {
    "dir", "keep_s", "keep_mb", "pre_s", "post_s", "max_clip_s", "retain_days", "max_mb",
}  # fmt: skip


def _read_record(reader: _Reader, raw: dict[str, Any], file: Path) -> RecordConfig:
    data = reader.table(raw, "record", "record")
    reader.reject_unknown(data, RECORD_KEYS, "record")
    defaults = RecordConfig()
    directory = None
    if "dir" in data:
        value = reader.string(data, "dir", "record", "")
        if value.strip():
            directory = (file.parent / value).resolve()
        elif "dir" in data and isinstance(data["dir"], str):
            reader.problem("record.dir", "must be a directory path, not empty")
    record = RecordConfig(
        dir=directory,
        keep_s=reader.number(
            data, "keep_s", "record", defaults.keep_s, integer=True, minimum=10, maximum=86_400
        ),
        keep_mb=reader.number(
            data, "keep_mb", "record", defaults.keep_mb, integer=True, minimum=8, maximum=1_000_000
        ),
        pre_s=reader.number(data, "pre_s", "record", defaults.pre_s, minimum=0, maximum=600),
        post_s=reader.number(data, "post_s", "record", defaults.post_s, minimum=0, maximum=600),
        max_clip_s=reader.number(
            data, "max_clip_s", "record", defaults.max_clip_s, minimum=1, maximum=3600
        ),
        retain_days=reader.number(
            data, "retain_days", "record", defaults.retain_days, minimum=0.0001, maximum=36_500
        ),
        max_mb=reader.number(
            data, "max_mb", "record", defaults.max_mb, integer=True, minimum=1, maximum=100_000_000
        ),
    )
    # The clip's pre-roll is read from the broker's stream when the event starts:
    # it must still be there.
    if record.pre_s + 5 > record.keep_s:
        reader.problem("record.pre_s", f"must be at least 5 s less than keep_s ({record.keep_s})")
    return record


ALARM_KEYS = {
    "name", "url", "labels", "cameras", "cooldown_s", "attempts", "timeout_s", "max_age_s",
    "headers", "secret", "topic", "clear_s", "plain_http",
}  # fmt: skip
WEBHOOK_ONLY = ("headers", "secret", "plain_http")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
# A host name in [web] allowed_hosts: a DNS name, or "*" for any (behind a proxy that checks).
HOST_NAME_PATTERN = re.compile(r"\*|[A-Za-z0-9]([A-Za-z0-9-]{0,62}\.?)*")
# Repeats of a camera's label held back: a phone is not told every second, while a
# home-automation system gets every event (its states say what is going on).
DEFAULT_COOLDOWN_S = {"webhook": 30.0, "mqtt": 0.0}
MQTT_TOPIC_PATTERN = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")


def _check_topic(value: str) -> str | None:
    if len(value) > 128 or not MQTT_TOPIC_PATTERN.fullmatch(value):
        return "must be an MQTT topic prefix: words of letters, digits, '_' and '-' between '/'"
    return None


MQTT_ONLY = ("topic", "clear_s")


def _check_plain_http(reader: _Reader, data: dict[str, Any], path: str, url: str) -> None:
    """A webhook secret or header sent over plain http:// to another host can be read
    (and the signature of anything replayed) on the way: refused unless said so."""
    parts = urlsplit(url)
    carries = [key for key in ("secret", "headers") if data.get(key)]
    if parts.scheme.lower() != "http" or not carries or parts.hostname in LOOPBACK_HOSTS:
        return
    if not reader.boolean(data, "plain_http", path, False):
        reader.problem(
            f"{path}.url",
            f"sends {' and '.join(carries)} over plain http:// to {parts.hostname}: use https:// "
            "(or set plain_http = true where the network is trusted)",
        )


def _read_words(
    reader: _Reader, data: dict[str, Any], key: str, path: str, pattern: re.Pattern[str]
) -> tuple[str, ...]:
    """An optional array of short names (labels, camera ids) matching ``pattern``."""
    value = data.get(key, [])
    where = _key(path, key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        reader.problem(where, f"must be an array of strings, got {_type_name(value)}")
        return ()
    for index, word in enumerate(value):
        if not pattern.fullmatch(word):
            reader.problem(f"{where}[{index}]", f"must match {pattern.pattern}, got {word!r}")
            return ()
    return tuple(dict.fromkeys(value))


def _read_alarms(reader: _Reader, raw: dict[str, Any]) -> tuple[AlarmConfig, ...]:
    items = raw.get("alarms", [])
    if not isinstance(items, list):
        reader.problem("alarms", "must be an array of tables ([[alarms]])")
        return ()
    alarms: list[AlarmConfig] = []
    for index, data in enumerate(items):
        path = f"alarms[{index}]"
        if not isinstance(data, dict):
            reader.problem(path, f"must be a table, got {_type_name(data)}")
            continue
        reader.reject_unknown(data, ALARM_KEYS, path)
        name = reader.string(
            data, "name", path, f"alarm-{index + 1}",
            lambda v: None if ALARM_NAME_PATTERN.fullmatch(v) else "must match [a-z0-9_-]{1,64}",
        )  # fmt: skip
        if name in {alarm.name for alarm in alarms}:
            reader.problem(f"{path}.name", f"duplicate alarm name {name!r}")
            continue
        if "url" not in data:
            reader.problem(
                f"{path}.url", "is required (http(s):// for a webhook, mqtt(s):// for MQTT)"
            )
            continue
        url = reader.string(data, "url", path, "")
        kind = ALARM_KINDS.get(url.partition("://")[0].lower()) if "://" in url else None
        if kind is None:
            reader.problem(
                f"{path}.url", f"must be an http(s):// or mqtt(s):// URL, got {redact_url(url)!r}"
            )
            continue
        for key in MQTT_ONLY if kind == "webhook" else WEBHOOK_ONLY:
            if key in data:
                reader.problem(f"{path}.{key}", f"does not apply to {kind} alarms")
        headers = data.get("headers", {})
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            reader.problem(f"{path}.headers", "must be a table of strings")
            headers = {}
        defaults = AlarmConfig(name=name, url=url, kind=kind)
        _check_plain_http(reader, data, path, url)
        alarms.append(
            AlarmConfig(
                name=name,
                url=url,
                kind=kind,
                key=path,
                labels=_read_words(reader, data, "labels", path, LABEL_PATTERN),
                cameras=_read_words(reader, data, "cameras", path, CAMERA_ID_PATTERN),
                cooldown_s=reader.number(
                    data, "cooldown_s", path, DEFAULT_COOLDOWN_S[kind], minimum=0, maximum=86_400
                ),
                attempts=reader.number(
                    data, "attempts", path, defaults.attempts, integer=True, minimum=1, maximum=1000
                ),
                timeout_s=reader.number(
                    data, "timeout_s", path, defaults.timeout_s, minimum=0.1, maximum=120
                ),
                max_age_s=reader.number(
                    data, "max_age_s", path, defaults.max_age_s, minimum=1, maximum=7 * 86_400
                ),
                headers=tuple(headers.items()),
                secret=reader.string(data, "secret", path, ""),
                topic=reader.string(data, "topic", path, defaults.topic, _check_topic),
                clear_s=reader.number(
                    data, "clear_s", path, defaults.clear_s, minimum=1, maximum=86_400
                ),
            )
        )
    return tuple(alarms)


CAMERA_KEYS = {
    "id",
    "name",
    "source",
    "fps",
    "width",
    "height",
    "jpeg_quality",
    "detectors",
    "max_age_ms",
    "queue_length",
    "queue_ttl_ms",
    "ordered",
    "annotate",
    "qr",
    "scene",
    "record",
    "direct",
}


def _read_source(reader: _Reader, value: Any, path: str, base_dir: Path) -> SourceSpec | None:
    if isinstance(value, bool):
        reader.problem(path, "must be a string or a device index, got a boolean")
        return None
    if isinstance(value, int):
        if value < 0:
            reader.problem(path, f"device index must be >= 0, got {value}")
            return None
        return SourceSpec("device", value)
    if not isinstance(value, str) or not value.strip():
        reader.problem(path, f"must be a non-empty string or a device index, got {value!r}")
        return None
    if value == "synthetic":
        return SourceSpec("synthetic", "")
    if match := DEVICE_PATH_PATTERN.fullmatch(value):
        return SourceSpec("device", int(match.group(1)))
    if value.lower().startswith(URL_SCHEMES):
        return SourceSpec("url", value)
    if "://" in value:
        reader.problem(
            path, f"unsupported URL scheme in {redact_url(value)!r} (use rtsp, http, https)"
        )
        return None
    file = (base_dir / value).resolve()
    if not file.is_file():
        reader.problem(path, f"video file not found: {file}")
        return None
    return SourceSpec("file", str(file))


def parse_source(value: str | int, base_dir: Path | None = None) -> SourceSpec:
    """A source given on a command line (``0``, ``/dev/video0``, a file, a URL,
    ``synthetic``); ConfigError if it cannot be one."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    problems: list[str] = []
    spec = _read_source(
        _Reader(Path("(command line)"), problems), value, "source", base_dir or Path.cwd()
    )
    if spec is None:
        raise ConfigError(problems)
    return spec


def _read_detectors(reader: _Reader, value: Any, path: str) -> tuple[DetectorSpec, ...]:
    from detectors import check_order, validate_spec  # they import OpenCV: load only when needed

    if not isinstance(value, list):
        reader.problem(
            path, f"must be an array of detector names or tables, got {_type_name(value)}"
        )
        return ()
    specs = []
    for index, item in enumerate(value):
        where = f"{path}[{index}]"
        gating: dict[str, Any] = {}
        if isinstance(item, str):
            name, params = item, {}
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            params = {k: v for k, v in item.items() if k not in ("name", *GATING_KEYS)}
            name = item["name"]
            gating = {k: item[k] for k in GATING_KEYS if k in item}
        else:
            reader.problem(where, "must be a detector name or a table with a 'name' key")
            continue
        try:
            params = validate_spec(name, params)
        except ValueError as error:
            key = getattr(error, "key", None)
            reader.problem(f"{where}.{key}" if key else where, str(error))
            continue
        gate = _read_gating(reader, gating, where, [spec.name for spec in specs])
        specs.append(DetectorSpec(name, params, **gate))
    names = [spec.name for spec in specs]
    for name in {n for n in names if names.count(n) > 1}:
        reader.problem(path, f"detector {name!r} is listed more than once")
    if len(specs) == len(value):  # indexes line up with the config only when all parsed
        for index, message in check_order(names):
            reader.problem(f"{path}[{index}]", message)
    return tuple(specs)


GATING_KEYS = ("when", "region")


def _read_gating(
    reader: _Reader, gating: dict[str, Any], where: str, earlier: list[str]
) -> dict[str, str]:
    """``when`` and ``region`` of a detector entry: each names a detector listed before it."""
    gate = {}
    for key, value in gating.items():
        if not isinstance(value, str) or value not in earlier:
            listed = ", ".join(earlier) or "none"
            reader.problem(
                f"{where}.{key}", f"must name a detector listed before it (here: {listed}), "
                f"got {value!r}"
            )  # fmt: skip
            continue
        gate[key] = value
    if "region" in gate and gate.get("when", gate["region"]) != gate["region"]:
        reader.problem(f"{where}.region", "must name the same detector as 'when'")
    if "region" in gate:
        gate["when"] = gate["region"]  # a region implies the gate: no region, no run
    return gate


def _read_camera(
    reader: _Reader, data: Any, path: str, base_dir: Path, default_id: str | None = None
) -> CameraConfig | None:
    if not isinstance(data, dict):
        reader.problem(path, f"must be a table, got {_type_name(data)}")
        return None
    reader.reject_unknown(data, CAMERA_KEYS, path)
    if "id" not in data and default_id is None:
        reader.problem(_key(path, "id"), "is required")
        return None
    camera_id = data.get("id", default_id)
    if message := check_camera_id(camera_id):
        reader.problem(_key(path, "id"), message)
        return None
    if "source" not in data:
        reader.problem(_key(path, "source"), "is required")
        return None
    source = _read_source(reader, data["source"], _key(path, "source"), base_dir)
    defaults = CameraConfig(id=camera_id, source=SourceSpec("synthetic", ""))
    detectors = _read_detectors(reader, data.get("detectors", []), _key(path, "detectors"))
    ordered = data.get("ordered")
    if ordered is None:
        from detectors import is_stateful

        ordered = is_stateful([spec.name for spec in detectors])
    elif not isinstance(ordered, bool):
        reader.problem(_key(path, "ordered"), f"must be true or false, got {ordered!r}")
        ordered = False
    flags = {"direct": not detectors}
    annotate = data.get("annotate", True)
    if annotate == "page":
        flags.update(annotate=False, overlay=True)
    elif isinstance(annotate, bool):
        flags["annotate"] = annotate
    else:
        reader.problem(_key(path, "annotate"), f'must be true, false or "page", got {annotate!r}')
    for key in ("qr", "direct"):
        if key in data:
            if isinstance(data[key], bool):
                flags[key] = data[key]
            else:
                reader.problem(_key(path, key), f"must be true or false, got {data[key]!r}")
    for key in ("qr", "scene"):
        if key in data and source is not None and source.kind != "synthetic":
            reader.problem(_key(path, key), "only applies to the synthetic source")
    if flags["direct"] and detectors:
        reader.problem(_key(path, "direct"), "a camera with detectors sends its frames to them")
    if "record" in data:
        flags["record"] = _read_record_labels(reader, data, path, detectors)
    if "scene" in data:
        from pipeline.core.scenes import scene_problem

        if message := scene_problem(data["scene"]):
            reader.problem(_key(path, "scene"), message)
        else:
            flags["scene"] = data["scene"]
    camera = CameraConfig(
        id=camera_id,
        source=source or defaults.source,
        name=reader.string(data, "name", path, ""),
        fps=reader.number(data, "fps", path, defaults.fps, minimum=0.1, maximum=240),
        width=reader.number(
            data, "width", path, defaults.width, integer=True, minimum=16, maximum=7680
        ),
        height=reader.number(
            data, "height", path, defaults.height, integer=True, minimum=16, maximum=4320
        ),
        jpeg_quality=reader.number(
            data, "jpeg_quality", path, defaults.jpeg_quality, integer=True, minimum=10, maximum=100
        ),
        detectors=detectors,
        ordered=ordered,
        **flags,
        max_age_ms=reader.number(
            data, "max_age_ms", path, defaults.max_age_ms, integer=True, minimum=50, maximum=600_000
        ),
        queue_length=reader.number(
            data, "queue_length", path, defaults.queue_length, integer=True, minimum=1, maximum=1000
        ),
        queue_ttl_ms=reader.number(
            data,
            "queue_ttl_ms",
            path,
            defaults.queue_ttl_ms,
            integer=True,
            minimum=50,
            maximum=600_000,
        ),
    )
    return camera if source is not None else None


def _read_record_labels(
    reader: _Reader, data: dict[str, Any], path: str, detectors: tuple[DetectorSpec, ...]
) -> tuple[str, ...]:
    """``record = ["fall", "person"]``: labels that this camera's detectors report."""
    from detectors import labels_of

    labels = _read_words(reader, data, "record", path, LABEL_PATTERN)
    known = labels_of([spec.name for spec in detectors])
    if known is None:  # a plugin that does not say what it reports: take the labels on trust
        return labels
    for index, label in enumerate(labels):
        if label not in known:
            reader.problem(
                f"{_key(path, 'record')}[{index}]",
                f"no detector of this camera reports {label!r} "
                f"(they report: {', '.join(sorted(known)) or 'nothing'})",
            )
    return labels


def check_camera_id(value: Any) -> str | None:
    """Why ``value`` cannot be a camera id, or None. Ids name queues, routing keys,
    URLs and files, so ``/``, ``.``, ``#``, ``*`` and capitals are out."""
    if not isinstance(value, str) or not CAMERA_ID_PATTERN.fullmatch(value):
        return f"must be 1 to 64 of a-z, 0-9, '_' and '-', got {value!r}"
    return None


def _read_log(reader: _Reader, raw: dict[str, Any]) -> LogConfig:
    data = reader.table(raw, "log", "log")
    reader.reject_unknown(data, {"level", "format"}, "log")
    defaults = LogConfig()
    level = reader.string(
        data,
        "level",
        "log",
        defaults.level,
        lambda v: None if v.upper() in LOG_LEVELS else f"must be one of {', '.join(LOG_LEVELS)}",
    )
    log_format = reader.string(
        data,
        "format",
        "log",
        defaults.format,
        lambda v: None if v in LOG_FORMATS else f"must be one of {', '.join(LOG_FORMATS)}",
    )
    return LogConfig(level=level.upper(), format=log_format)


def _read_cameras_dir(reader: _Reader, raw: dict[str, Any], file: Path) -> Path | None:
    if "cameras_dir" not in raw:
        return None
    value = raw["cameras_dir"]
    if not isinstance(value, str) or not value.strip():
        reader.problem("cameras_dir", f"must be a directory path, got {value!r}")
        return None
    directory = (file.parent / value).resolve()
    if not directory.is_dir():
        reader.problem("cameras_dir", f"directory not found: {directory}")
        return None
    return directory


def camera_files_in(directory: Path) -> list[Path]:
    """The drop-in camera files of a directory: ``*.toml``, not hidden, sorted."""
    return sorted(
        path
        for path in directory.glob("*.toml")
        if not path.name.startswith(".") and path.is_file()
    )


def read_camera_file(file: Path) -> CameraConfig:
    """One drop-in camera file (a ``[[cameras]]`` table's keys at the top level).

    The camera id defaults to the file's name without ``.toml``.
    """
    problems: list[str] = []
    reader = _Reader(file, problems)
    try:
        with file.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{file}: invalid TOML: {error}"]) from None
    except OSError as error:
        raise ConfigError([f"{file}: cannot read: {error.strerror}"]) from None
    camera = _read_camera(reader, data, "", file.parent, default_id=file.stem)
    if problems or camera is None:
        raise ConfigError(problems or [f"{file}: not a camera"])
    return camera


TOP_LEVEL_KEYS = {
    "broker", "web", "capture", "detect", "log", "cameras", "cameras_dir", "record", "alarms",
}  # fmt: skip


def parse_config(
    raw: dict[str, Any],
    file: Path,
    *,
    tolerant: bool = False,
    previous: Config | None = None,
) -> Config:
    """Validate an already-parsed TOML document; raise ConfigError listing every problem.

    With ``tolerant``, a broken drop-in camera file does not fail the whole
    config: its camera stays as it was in ``previous`` (or is left out), and
    the problems are kept in ``Config.skipped``. The main file must always be valid.
    """
    problems: list[str] = []
    reader = _Reader(file, problems)
    reader.reject_unknown(raw, TOP_LEVEL_KEYS, "")
    broker = _read_broker(reader, raw)
    web = _read_web(reader, raw)
    detect = _read_detect(reader, raw)
    log = _read_log(reader, raw)
    capture = _read_capture(reader, raw)
    record = _read_record(reader, raw, file)
    alarms = _read_alarms(reader, raw)
    cameras_dir = _read_cameras_dir(reader, raw, file)

    cameras: list[CameraConfig] = []
    camera_files: dict[str, Path] = {}
    raw_cameras = raw.get("cameras", [])
    if not isinstance(raw_cameras, list):
        reader.problem("cameras", "must be an array of tables ([[cameras]])")
        raw_cameras = []
    seen: dict[str, int] = {}
    for index, data in enumerate(raw_cameras):
        camera = _read_camera(reader, data, f"cameras[{index}]", file.parent)
        if camera is None:
            continue
        if camera.id in seen:
            reader.problem(
                f"cameras[{index}].id",
                f"duplicate camera id {camera.id!r} (also cameras[{seen[camera.id]}])",
            )
            continue
        seen[camera.id] = index
        cameras.append(camera)
        camera_files[camera.id] = file
    if not raw_cameras and cameras_dir is None:
        reader.problem(
            "cameras", "no cameras configured (add a [[cameras]] table or a cameras_dir)"
        )
    if problems:
        raise ConfigError(problems)

    skipped: list[str] = []
    if cameras_dir is not None:
        for dropin in camera_files_in(cameras_dir):
            try:
                camera = read_camera_file(dropin)
                if camera.id in camera_files:
                    raise ConfigError(
                        [
                            f"{dropin}: id: duplicate camera id {camera.id!r} "
                            f"(also in {camera_files[camera.id]})"
                        ]
                    )
            except ConfigError as error:
                if not tolerant:
                    problems.extend(error.problems)
                    continue
                skipped.extend(error.problems)
                camera = _camera_from(previous, dropin, taken=camera_files)
                if camera is None:
                    continue
            cameras.append(camera)
            camera_files[camera.id] = dropin
    if problems:
        raise ConfigError(problems)
    return Config(
        path=file,
        broker=broker,
        web=web,
        detect=detect,
        cameras=tuple(cameras),
        log=log,
        capture=capture,
        record=record,
        alarms=alarms,
        cameras_dir=cameras_dir,
        camera_files=camera_files,
        skipped=tuple(skipped),
    )


def _camera_from(
    previous: Config | None, file: Path, taken: dict[str, Path]
) -> CameraConfig | None:
    """The camera that ``file`` held in the previous config, if it is still free to use."""
    if previous is None:
        return None
    for camera in previous.cameras:
        if previous.camera_files.get(camera.id) == file and camera.id not in taken:
            return camera
    return None


def load_config(
    path: str | os.PathLike[str], *, tolerant: bool = False, previous: Config | None = None
) -> Config:
    """Read and validate a config file and its drop-in camera files; raise
    ConfigError naming the file and key. See ``parse_config`` for ``tolerant``."""
    file = Path(path).resolve()
    try:
        with file.open("rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError([f"{file}: file not found"]) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{file}: invalid TOML: {error}"]) from None
    except OSError as error:
        raise ConfigError([f"{file}: cannot read: {error.strerror}"]) from None
    return parse_config(raw, file, tolerant=tolerant, previous=previous)
