"""``rabbitcam``: one command, a subcommand per role (also ``python -m pipeline``)."""

from __future__ import annotations

import argparse
import json
import logging
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

    capture = commands.add_parser("capture", help="run one camera's capture worker")
    capture.add_argument("--camera", required=True, help="camera id")
    capture.add_argument("config")

    detect = commands.add_parser("detect", help="run a detector worker")
    detect.add_argument("config")
    detect.add_argument("--cameras", help="comma-separated camera ids (default: all)")
    detect.add_argument("--worker-id", help="name shown in results (default: host:pid)")

    stream = commands.add_parser("stream", help="run the web streamer")
    stream.add_argument("config")
    stream.add_argument("--bind", help="HOST:PORT (overrides [web] bind)")

    check = commands.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("config")

    commands.add_parser("detectors", help="list the available detectors and their parameters")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    if args.command == "detectors":
        return _list_detectors()

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
        from pipeline.detect import DetectorWorker

        cameras = [c for c in config.cameras if camera_ids is None or c.id in camera_ids]
        DetectorWorker(config, cameras, stop_on_signals(), args.worker_id).run()
        return 0

    if args.command == "stream":
        setup_logging("stream", args.log_level)
        from web.server import serve

        serve(config, stop_on_signals(), bind)
        return 0

    if args.command == "run":
        setup_logging("run", args.log_level)
        from pipeline.supervisor import run_all

        return run_all(config, stop_on_signals(), bind, args.log_level)

    raise AssertionError(f"unhandled command {args.command}")


def _list_detectors() -> int:
    from detectors import describe

    for row in describe():
        state = " (stateful)" if row["stateful"] else ""
        print(f"{row['name']}{state}: {row['description']}")
        for param in row["params"]:
            default = json.dumps(param["default"])
            print(f"    {param['name']} = {default}  [{param['type']}] {param['help']}")
    return 0
