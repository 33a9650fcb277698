"""The configuration: one pydantic model per section, each setting declared once.

A setting's declaration is its type, default, bounds and one line of help; the
JSON Schema (``rabbitcam config schema``) and the configuration reference
(docs/configuration.md) are generated from it. Every error names the file and
the key path (``cameras[1].fps``) so that an operator can fix a config
without reading code (wording: ``declared.problems``). Unknown keys are
errors: a misspelt key that is silently ignored is a camera that silently
misbehaves. A camera's settings are in ``camera_config``, an alarm target's in
``alarm_config``.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from declared.blocks import Section, checked, matching, one_of, setting, tables, words
from declared.problems import problems_of, refuse, refuse_all
from pipeline.core.alarm_config import AlarmConfig
from pipeline.core.camera_config import CameraConfig
from pipeline.core.environment import NAMESPACE_PATTERN, environment
from pipeline.core.settings import DIRECTORY_SCHEMA, ConfigError, path_in_config
from pipeline.core.urls import amqp_url_problem

# A host name in [web] allowed_hosts: a DNS name, or "*" for any (behind a proxy that checks).
HOST_NAME_PATTERN = re.compile(r"\*|[A-Za-z0-9]([A-Za-z0-9-]{0,62}\.?)*")

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
FILE_SCHEMA = WithJsonSchema({"type": "string", "description": "a file"})


def _bind_problem(value: str) -> str | None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return f"must be HOST:PORT, got {value!r}"
    return None


# --- sections --------------------------------------------------------------------------


def _broker_urls(value: Any) -> tuple[str, ...]:
    urls = value if isinstance(value, (list, tuple)) else [value]
    if not urls or not all(isinstance(url, str) for url in urls):
        raise refuse("must be a URL string or a non-empty array of them")
    problems = [
        ("" if isinstance(value, str) else f"[{index}]", message)
        for index, url in enumerate(urls)
        if (message := amqp_url_problem(url))
    ]
    if problems:
        raise refuse_all(problems)
    return tuple(urls)


class BrokerConfig(Section):
    urls: Annotated[
        tuple[str, ...],
        PlainValidator(_broker_urls),
        WithJsonSchema(
            {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
        ),
    ] = Field(
        (DEFAULT_AMQP_URL,),
        alias="url",
        description="amqp:// or amqps:// URL, or several (tried in turn); "
        "$RABBITCAM_AMQP_URL overrides",
    )
    namespace: Annotated[str, matching(NAMESPACE_PATTERN)] = setting(
        "rabbitcam", "prefix of every exchange and queue; $RABBITCAM_NAMESPACE overrides"
    )
    heartbeat_s: int = setting(10, "AMQP heartbeat", 1, 600)
    reconnect_max_s: float = setting(3.0, "longest wait between reconnection attempts", 0.1, 300)
    # Where the URLs came from, for error messages.
    _url_key: str = PrivateAttr("broker.url")

    @property
    def url_key(self) -> str:
        return self._url_key

    def from_environment(self, problems: list[str]) -> BrokerConfig:
        """These settings with ``$RABBITCAM_AMQP_URL`` and ``$RABBITCAM_NAMESPACE`` applied."""
        try:
            environ = environment()
        except ConfigError as error:
            problems.extend(error.problems)
            return self
        update: dict[str, Any] = {}
        if environ.amqp_url.strip():
            update["urls"] = tuple(u.strip() for u in environ.amqp_url.split(",") if u.strip())
            for url in update["urls"]:
                if message := amqp_url_problem(url):
                    problems.append(f"environment RABBITCAM_AMQP_URL: {message}")
        if environ.namespace:
            update["namespace"] = environ.namespace
        broker = self.model_copy(update=update)
        if "urls" in update:
            broker._url_key = "environment RABBITCAM_AMQP_URL"
        return broker


class WebConfig(Section):
    bind: Annotated[str, checked(_bind_problem)] = setting(
        "127.0.0.1:8000", "HOST:PORT the streamer listens on"
    )
    threads: int = setting(128, "web threads; each watching viewer holds one", 4, 1024)
    send_buffer_kb: int = setting(
        8,
        "socket send buffer per viewer: about one frame, so slow viewers skip, not lag",
        4,
        16_384,
    )
    max_streams: int = Field(
        0, ge=0,
        description="streams open at once (at most threads - 2); 0: all threads but an eighth "
        "(at least 4), kept for pages, the API and /healthz",
    )  # fmt: skip
    max_streams_per_client: int = setting(
        32, "streams per client address; 0: no limit (behind a proxy)", 0, 1024
    )
    stall_s: float = setting(5.0, "a viewer that took nothing for this long is cut off", 0.5, 300)
    show_sources: bool = setting(False, "send camera source URLs (passwords masked) to browsers")
    trusted_proxy: str = setting(
        "", "the reverse proxy whose X-Forwarded-For/-Proto headers are believed"
    )
    public_url: Annotated[
        str,
        checked(
            lambda v: (
                None
                if v.startswith(("http://", "https://"))
                else f"must be an http:// or https:// URL, got {v!r}"
            )
        ),
        AfterValidator(lambda v: v.rstrip("/")),
    ] = setting("", "the address people open the streamer at (alarms link to it)")
    allowed_hosts: words(HOST_NAME_PATTERN) = setting(
        (),
        "host names answered besides IP addresses, localhost and public_url's host "
        '("*": any, behind a proxy that checks)',
    )
    users_file: Annotated[Path | None, PlainValidator(path_in_config), FILE_SCHEMA] = setting(
        None, "who may log in (`rabbitcam users`); default: users.json in the events' folder"
    )
    anonymous: one_of("loopback", "never") = setting(
        "loopback",
        '"loopback": anyone on this machine may watch (not change) when the streamer '
        'binds to a loopback address only; "never": everyone logs in',
    )
    session_hours: float = setting(12.0, "a login lasts this long", 0.05, 24 * 90)
    proxy_user_header: str = setting(
        "",
        "a header (e.g. Remote-User) naming the user a reverse proxy authenticated; "
        "believed only from trusted_proxy",
    )

    @model_validator(mode="after")
    def _streams_leave_threads(self) -> WebConfig:
        # Streams may never take every thread: pages, the API and /healthz keep some.
        most = max(1, self.threads - 2)
        if self.max_streams > most:
            raise refuse(f"must be between 0 and {most}, got {self.max_streams!r}", "max_streams")
        return self

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
# interpreter (docs/benchmarks.md, "Several cameras per capture process").
MAX_AUTO_CAMERAS_PER_PROCESS = 16


class CaptureConfig(Section):
    cameras_per_process: int = setting(
        0,
        "cameras one capture process serves; 0: spread over one process per core, "
        f"at most {MAX_AUTO_CAMERAS_PER_PROCESS} to a process",
        0,
        256,
    )

    def group_size(self, cameras: int) -> int:
        if self.cameras_per_process:
            return self.cameras_per_process
        spread = -(-cameras // (os.cpu_count() or 1))
        return max(1, min(MAX_AUTO_CAMERAS_PER_PROCESS, spread))


class DetectConfig(Section):
    workers: int = setting(2, "detector worker processes `rabbitcam run` starts", 0, 64)
    event_interval_s: float = setting(
        1.0, "at most one event per camera and label in this time", 0, 3600
    )


class RecordConfig(Section):
    """``[record]``: events kept with a snapshot and a clip, footage, and for how long.

    The broker keeps the last ``keep_s`` of every recording camera's annotated
    frames (a stream queue, at most ``keep_mb``); a clip is read from it, from
    ``pre_s`` before an event to ``post_s`` after the last event that follows
    it closely. Events, snapshots and clips live in ``dir``, and so does the
    footage of cameras that keep it (``footage``): the broker keeps each such
    camera's packets for ``footage_buffer_s`` and the footage recorder cuts them
    into ``segment_s`` files, kept ``continuous_days`` or ``motion_days``.
    """

    dir: Annotated[Path | None, PlainValidator(path_in_config), DIRECTORY_SCHEMA] = setting(
        None,
        "where events are kept (relative to the config); default $RABBITCAM_DATA, "
        "else ~/.local/share/rabbitcam; one folder per namespace",
    )
    keep_s: int = setting(60, "seconds of frames the broker keeps", 10, 86_400)
    keep_mb: int = setting(256, "at most this much of them", 8, 1_000_000)
    pre_s: float = setting(5.0, "clip seconds before the event", 0, 600)
    post_s: float = setting(5.0, "clip seconds after the last event", 0, 600)
    max_clip_s: float = setting(30.0, "longest clip", 1, 3600)
    retain_days: float = setting(30.0, "events older are deleted", 0.0001, 36_500)
    max_mb: int = setting(
        2048, "oldest footage, then oldest events, go past this size", 1, 100_000_000
    )
    continuous_days: float = setting(7.0, 'footage = "continuous" kept this long', 0.0001, 36_500)
    motion_days: float = setting(14.0, 'footage = "motion" kept this long', 0.0001, 36_500)
    segment_s: float = setting(10.0, "footage is cut into files this long, at key frames", 2, 600)
    footage_buffer_s: int = setting(
        3600, "the broker keeps each camera's footage this long: a recorder away for less "
        "loses nothing", 60, 7 * 86_400,
    )  # fmt: skip
    footage_buffer_mb: int = setting(2048, "... and at most this much of it", 64, 1_000_000)

    @model_validator(mode="after")
    def _pre_roll_still_kept(self) -> RecordConfig:
        # The clip's pre-roll is read from the broker's stream when the event starts:
        # it must still be there.
        if self.pre_s + 5 > self.keep_s:
            raise refuse(f"must be at least 5 s less than keep_s ({self.keep_s})", "pre_s")
        return self

    def store_dir(self, namespace: str) -> Path:
        if self.dir is not None:
            return self.dir
        base = environment().data or Path.home() / ".local" / "share" / "rabbitcam"
        return base / namespace


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class LogConfig(Section):
    level: Annotated[
        one_of(*LOG_LEVELS),
        BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v),
        WithJsonSchema({"type": "string"}),
    ] = setting("INFO", " | ".join(LOG_LEVELS) + " (in any case)")
    format: one_of("text", "json") = setting(
        "text", '"json": one JSON object per line, for log collectors'
    )


# --- the file --------------------------------------------------------------------------


class SiteFile(Section):
    """A site's config file."""

    broker: BrokerConfig = BrokerConfig()
    web: WebConfig = WebConfig()
    capture: CaptureConfig = CaptureConfig()
    detect: DetectConfig = DetectConfig()
    log: LogConfig = LogConfig()
    record: RecordConfig = RecordConfig()
    alarms: tables(AlarmConfig) = setting((), "alarm targets ([[alarms]])")
    cameras: tables(CameraConfig) = setting((), "cameras ([[cameras]])")
    cameras_dir: Annotated[
        Path | None,
        PlainValidator(lambda value, info: path_in_config(value, info, must_exist=True)),
        DIRECTORY_SCHEMA,
    ] = setting(None, "drop-in folder: one camera per *.toml file, applied live")

    @model_validator(mode="before")
    @classmethod
    def _alarm_names(cls, data: Any) -> Any:
        """An unnamed alarm is ``alarm-<n>``, by its place in the file."""
        if isinstance(data, dict) and isinstance(data.get("alarms"), list):
            alarms = [{"name": f"alarm-{index + 1}", **item} if isinstance(item, dict) else item
                      for index, item in enumerate(data["alarms"])]  # fmt: skip
            data = {**data, "alarms": alarms}
        return data

    @model_validator(mode="after")
    def _whole_site(self) -> SiteFile:
        problems = []
        first: dict[str, int] = {}
        for index, camera in enumerate(self.cameras):
            if camera.id in first:
                problems.append((f"cameras[{index}].id", f"duplicate camera id {camera.id!r} "
                                 f"(also cameras[{first[camera.id]}])"))  # fmt: skip
            first.setdefault(camera.id, index)
        names: set[str] = set()
        for index, alarm in enumerate(self.alarms):
            alarm._key = f"alarms[{index}]"
            if alarm.name in names:
                problems.append((f"alarms[{index}].name", f"duplicate alarm name {alarm.name!r}"))
            names.add(alarm.name)
        if not self.cameras and self.cameras_dir is None:
            problems.append(
                ("cameras", "no cameras configured (add a [[cameras]] table or a cameras_dir)")
            )
        if problems:
            raise refuse_all(problems)
        return self


class Config(SiteFile):
    """A loaded site: its file's sections as ``SiteFile`` declares them (no second
    list of them), the environment applied, the drop-in cameras added, and where
    it all came from. Made only by ``parse_config``, from what it validated."""

    path: Path = Path()
    # Which file each camera comes from (the config itself or a drop-in file).
    camera_files: dict[str, Path] = {}
    # Problems of drop-in files that were skipped (tolerant loading only).
    skipped: tuple[str, ...] = ()

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
    def keeping_footage(self) -> list[CameraConfig]:
        """The cameras whose footage is kept (``footage`` other than "none")."""
        return [camera for camera in self.cameras if camera.footage != "none"]

    @property
    def store_dir(self) -> Path:
        """Where the events database, snapshots and clips are kept."""
        return self.record.store_dir(self.broker.namespace)

    @property
    def users_path(self) -> Path:
        """The users file (``rabbitcam users``)."""
        return self.web.users_file or self.store_dir / "users.json"


def broker_from_environment() -> BrokerConfig:
    """Broker settings with no config file: defaults, then the environment."""
    return BrokerConfig().from_environment([])


def camera_files_in(directory: Path) -> list[Path]:
    """The drop-in camera files of a directory: ``*.toml``, not hidden, sorted."""
    return sorted(
        path
        for path in directory.glob("*.toml")
        if not path.name.startswith(".") and path.is_file()
    )


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError([f"{file}: file not found"]) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{file}: invalid TOML: {error}"]) from None
    except OSError as error:
        raise ConfigError([f"{file}: cannot read: {error.strerror}"]) from None


def read_camera_file(file: Path) -> CameraConfig:
    """One drop-in camera file (a ``[[cameras]]`` table's keys at the top level).

    The camera id defaults to the file's name without ``.toml``.
    """
    return camera_from(_read_toml(file), file)


def camera_from(data: dict[str, Any], file: Path) -> CameraConfig:
    """The camera that drop-in ``file`` would hold with ``data`` in it."""
    try:
        return CameraConfig.model_validate(
            {"id": file.stem, **data}, context={"base_dir": file.parent}
        )
    except ValidationError as error:
        raise ConfigError(problems_of(error, CameraConfig, file)) from None


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
    try:
        site = SiteFile.model_validate(raw, context={"base_dir": file.parent})
    except ValidationError as error:
        problems = problems_of(error, SiteFile, file)
        site = None
    broker = (site.broker if site else BrokerConfig()).from_environment(problems)
    if site is None or problems:
        raise ConfigError(problems)
    camera_files = {camera.id: file for camera in site.cameras}
    cameras = list(site.cameras)
    skipped: list[str] = []
    for dropin in camera_files_in(site.cameras_dir) if site.cameras_dir else []:
        try:
            camera = read_camera_file(dropin)
            if camera.id in camera_files:
                raise ConfigError([f"{dropin}: id: duplicate camera id {camera.id!r} "
                                   f"(also in {camera_files[camera.id]})"])  # fmt: skip
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
    # Everything in it was validated above (the drop-ins each on their own): the
    # site's checks are not run again on a whole that includes them.
    return Config.model_construct(
        **{**dict(site), "broker": broker, "cameras": tuple(cameras)},
        path=file,
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
    return parse_config(_read_toml(file), file, tolerant=tolerant, previous=previous)
