"""``rabbitcam``: one command, a subcommand per role (also ``python -m pipeline``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from pipeline.config import ConfigError, load_config
from pipeline.logs import setup_logging
from pipeline.signals import stop_on_signals

LOGGER = logging.getLogger(__name__)

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rabbitcam", description="Real-time camera pipeline over RabbitMQ."
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run every role for every camera")
    run.add_argument("config")
    run.add_argument("--bind", help="streamer HOST:PORT (overrides [web] bind)")
    run.add_argument(
        "--roles",
        default="capture,detect,stream",
        help="which roles this host runs (comma-separated; default: all three)",
    )

    capture = commands.add_parser("capture", help="run one camera's capture worker")
    capture.add_argument("--camera", required=True, help="camera id")
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

    check = commands.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("config")

    commands.add_parser("detectors", help="list the available detectors and their parameters")

    bench = commands.add_parser(
        "bench", help="benchmarks against the real broker (see: rabbitcam bench -h)", add_help=False
    )
    bench.add_argument("bench_args", nargs=argparse.REMAINDER)

    events = commands.add_parser("events", help="tail detection events as JSON lines")
    events.add_argument("config", nargs="?", help="config file (default: broker from environment)")
    events.add_argument("--camera", help="only this camera")
    events.add_argument("--label", help="only this label (motion, face, blink, fall, ...)")
    events.add_argument("--count", type=int, help="exit after this many events")
    return parser


def _limit_opencv_threads() -> None:
    """One OpenCV thread per worker process by default.

    Several capture and detector processes share the machine's cores; letting
    each one's OpenCV spawn a thread per core oversubscribes them, which costs
    more in contention than it gains (measured: lower latency and CPU per frame
    with one). ``RABBITCAM_OPENCV_THREADS`` overrides it (0: OpenCV's default).
    """
    import cv2

    threads = int(os.environ.get("RABBITCAM_OPENCV_THREADS", "1"))
    if threads > 0:
        cv2.setNumThreads(threads)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    # `rabbitcam bench` hands its own options (--quick, …) to the benchmark harness.
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "bench":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")

    if args.command == "detectors":
        return _list_detectors()

    if args.command == "events":
        return _tail_events(args)

    if args.command == "bench":
        from benchmarks.bench import main as bench_main

        return bench_main([*unknown, *args.bench_args])

    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"rabbitcam: invalid config:\n{error}", file=sys.stderr)
        return EXIT_CONFIG

    if args.command == "check-config":
        cameras = ", ".join(config.camera_ids)
        print(f"{config.path}: OK ({len(config.cameras)} camera(s): {cameras})")
        return 0

    bind = getattr(args, "bind", None)
    if bind is not None and (":" not in bind or not bind.rsplit(":", 1)[1].isdigit()):
        print(f"rabbitcam: --bind must be HOST:PORT, got {bind!r}", file=sys.stderr)
        return EXIT_CONFIG

    if args.command == "capture":
        if args.camera not in config.camera_ids:
            print(f"rabbitcam: {config.path}: no camera {args.camera!r}", file=sys.stderr)
            return EXIT_CONFIG
        setup_logging(f"capture:{args.camera}", args.log_level)
        _limit_opencv_threads()
        from pipeline.capture import run_capture

        run_capture(config, args.camera, stop_on_signals())
        return 0

    if args.command == "detect":
        camera_ids = None
        if args.cameras:
            camera_ids = [c.strip() for c in args.cameras.split(",") if c.strip()]
            unknown = sorted(set(camera_ids) - set(config.camera_ids))
            if unknown or not camera_ids:
                print(f"rabbitcam: {config.path}: no camera(s) {unknown}", file=sys.stderr)
                return EXIT_CONFIG
        setup_logging(f"detect:{args.worker_id or 'worker'}", args.log_level)
        _limit_opencv_threads()
        from pipeline.detect import DetectorWorker

        cameras = [c for c in config.cameras if camera_ids is None or c.id in camera_ids]
        prefer = {c.strip() for c in args.prefer.split(",")} if args.prefer is not None else None
        DetectorWorker(config, cameras, stop_on_signals(), args.worker_id, prefer).run()
        return 0

    if args.command == "stream":
        setup_logging("stream", args.log_level)
        from web.server import serve

        serve(config, stop_on_signals(), bind)
        return 0

    if args.command == "run":
        from pipeline.supervisor import ROLES, run_all

        roles = tuple(r.strip() for r in args.roles.split(",") if r.strip())
        if not roles or set(roles) - set(ROLES):
            print(f"rabbitcam: --roles takes some of {', '.join(ROLES)}", file=sys.stderr)
            return EXIT_CONFIG
        setup_logging("run", args.log_level)
        return run_all(config, stop_on_signals(), bind, args.log_level, roles)

    raise AssertionError(f"unhandled command {args.command}")


def _tail_events(args: argparse.Namespace) -> int:
    from pipeline.config import CAMERA_ID_PATTERN, broker_from_environment
    from pipeline.events import EventTail

    for name, value in (("--camera", args.camera), ("--label", args.label)):
        if value is not None and not CAMERA_ID_PATTERN.fullmatch(value):
            print(f"rabbitcam: {name} must match [a-z0-9_-]{{1,64}}", file=sys.stderr)
            return EXIT_CONFIG
    if args.config:
        try:
            broker_config = load_config(args.config).broker
        except ConfigError as error:
            print(f"rabbitcam: invalid config:\n{error}", file=sys.stderr)
            return EXIT_CONFIG
    else:
        broker_config = broker_from_environment()
    setup_logging("events", args.log_level)
    EventTail(broker_config, stop_on_signals(), args.camera, args.label, count=args.count).run()
    return 0


def _list_detectors() -> int:
    from detectors import FAILED_PLUGINS, describe

    for row in describe():
        notes = ["stateful: ordered frames"] if row["stateful"] else []
        if row["needs_one_of"]:
            notes.append("after " + " or ".join(row["needs_one_of"]))
        suffix = f" ({'; '.join(notes)})" if notes else ""
        print(f"{row['name']}{suffix}: {row['description']}")
        for param in row["params"]:
            default = json.dumps(param["default"])
            print(f"    {param['name']} = {default}  [{param['type']}] {param['help']}")
    for name, error in FAILED_PLUGINS.items():
        print(f"{name}: plugin failed to load: {error}")
    return 0
