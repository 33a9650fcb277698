"""``rabbitcam users``: who may log in to the streamer, with which role and cameras.

The users file is the one the site's streamer reads (``[web] users_file``,
default ``users.json`` beside the events); a running streamer sees a change
within a second. Passwords are read from the terminal (twice), or from
standard input with ``--password-stdin`` (for scripts); a new user given
neither gets a generated password, printed once.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from pipeline.core.config import load_config
from pipeline.core.settings import ConfigError
from pipeline.core.users import ROLES, UserError, UserFile, generated_password

CONFIG_HELP = "config file (default: $RABBITCAM_CONFIG or configs/demo.toml)"


def add_users_command(commands: Any) -> None:
    users = commands.add_parser("users", help="who may log in: add, remove, list, passwd, token")
    actions = users.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help: str, *, user: bool = True) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help)
        if user:
            parser.add_argument("name", help="the user's name")
        parser.add_argument("--config", help=CONFIG_HELP)
        return parser

    listing = action("list", "every user, role, cameras and token names", user=False)
    listing.add_argument("--json", action="store_true")
    add = action("add", "a new user (an admin, or a viewer of every camera or of some)")
    add.add_argument("--role", choices=ROLES, default="viewer")
    add.add_argument("--cameras", help="a viewer's cameras, comma-separated (default: every one)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    action("remove", "delete a user (their sessions and tokens end)")
    passwd = action("passwd", "set a user's password (their other sessions end)")
    passwd.add_argument("--password-stdin", action="store_true")
    access = action("access", "change a user's role or cameras (their sessions end)")
    access.add_argument("--role", choices=ROLES, required=True)
    access.add_argument(
        "--cameras", help="a viewer's cameras, comma-separated (default: every one)"
    )
    token = action("token", "make an API token for scripts and Prometheus (printed once)")
    token.add_argument("token_name", help="what the token is for, e.g. prometheus")
    untoken = action("untoken", "revoke a user's API token")
    untoken.add_argument("token_name")
    action("rotate-secret", "a new secret for session cookies: everyone logs in again", user=False)


def run_users(args: argparse.Namespace, default_config: str) -> int:
    try:
        config = load_config(args.config or default_config, tolerant=True)
    except ConfigError as error:
        print(f"rabbitcam: invalid config:\n{error}", file=sys.stderr)
        return 2
    file = UserFile(config.users_path)
    try:
        return _act(args, file, set(config.camera_ids))
    except (UserError, ValueError) as error:
        print(f"rabbitcam: users: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"rabbitcam: users: {error.strerror or error}: {config.users_path}", file=sys.stderr)
        return 1


def _act(args: argparse.Namespace, file: UserFile, camera_ids: set[str]) -> int:
    if args.action == "list":
        return _list(file, args.json)
    if args.action == "rotate-secret":
        file.rotate_secret()
        print("a new session secret: every session has ended")
        return 0
    if args.action == "add":
        cameras = _cameras(args.cameras, camera_ids)
        password = _password(args, confirm=True, generate=True)
        file.add(args.name, args.role, password, cameras)
        print(f"added {args.role} {args.name}" + (f" ({', '.join(cameras)})" if cameras else ""))
        if getattr(args, "generated", False):
            print(f"password (shown once): {password}")
    elif args.action == "remove":
        file.remove(args.name)
        print(f"removed {args.name}")
    elif args.action == "passwd":
        file.set_password(args.name, _password(args, confirm=True, generate=False))
        print(f"password of {args.name} changed; their other sessions have ended")
    elif args.action == "access":
        cameras = _cameras(args.cameras, camera_ids)
        file.set_access(args.name, args.role, cameras)
        print(f"{args.name} is now {args.role}" + (f" of {', '.join(cameras)}" if cameras else ""))
    elif args.action == "token":
        token = file.add_token(args.name, args.token_name)
        print(f"token {args.token_name} of {args.name} (shown once; send it as "
              f"'Authorization: Bearer <token>'):\n{token}")  # fmt: skip
    elif args.action == "untoken":
        file.remove_token(args.name, args.token_name)
        print(f"token {args.token_name} of {args.name} revoked")
    return 0


def _list(file: UserFile, as_json: bool) -> int:
    rows = [
        {"name": user.name, "role": user.role,
         "cameras": "all" if user.cameras is None else ",".join(user.cameras) or "none",
         "tokens": ",".join(name for name, _ in user.tokens) or "-",
         "password": "yes" if user.password else "no"}
        for user in file.read().users.values()
    ]  # fmt: skip
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print(f"{row['name']:<24} {row['role']:<7} cameras {row['cameras']:<20} "
              f"tokens {row['tokens']:<20} password {row['password']}")  # fmt: skip
    if not rows:
        print("no users yet: the streamer makes an admin at its first start")
    return 0


def _cameras(text: str | None, known: set[str]) -> tuple[str, ...] | None:
    if text is None:
        return None
    cameras = tuple(dict.fromkeys(c.strip() for c in text.split(",") if c.strip()))
    unknown = [camera for camera in cameras if camera not in known]
    if unknown:
        raise UserError(f"--cameras: no camera {', '.join(unknown)} in the config")
    return cameras


def _password(args: argparse.Namespace, *, confirm: bool, generate: bool) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        if generate:
            args.generated = True
            return generated_password()
        raise UserError("no terminal to ask for the password: use --password-stdin")
    password = getpass.getpass("password: ")
    if confirm and getpass.getpass("again: ") != password:
        raise UserError("the two passwords differ")
    return password
