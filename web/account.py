"""Logging in and out: the login page, its form, and the end of a session."""

from __future__ import annotations

import math

from flask import Blueprint, Response, current_app, g, redirect, render_template, request

from web.auth import SESSION_COOKIE, Auth

account = Blueprint("account", __name__)

# What the form may hold: longer is no user name or password of ours.
LONGEST_NAME = 64
LONGEST_PASSWORD = 1024


def _auth() -> Auth:
    return current_app.extensions["rabbitcam.auth"]


def local_target(target: str | None) -> str:
    """Where to go after logging in: a path of this site, never another site
    (``//evil.example`` and ``/\\evil.example`` are other sites to a browser)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target if len(target) <= 2048 and not any(c in target for c in "\r\n") else "/"


@account.get("/login")
def login_page() -> str:
    target = local_target(request.args.get("next"))
    return render_template("login.html", next=target, problem=None, visitor=g.get("visitor"))


@account.post("/login")
def login() -> Response | tuple[str, int]:
    form = request.form
    name, password = form.get("username", ""), form.get("password", "")
    target = local_target(form.get("next"))
    if not name or not password or len(name) > LONGEST_NAME or len(password) > LONGEST_PASSWORD:
        return _refused(target, "Enter a user name and a password.", 400)
    auth = _auth()
    user, wait_s = auth.log_in(name, password, request.remote_addr or "")
    if wait_s > 0:
        page, _ = _refused(
            target, f"Too many failed logins: try again in {math.ceil(wait_s)} s.", 429
        )
        return Response(page, 429, {"Retry-After": str(math.ceil(wait_s))}, mimetype="text/html")
    if user is None:
        return _refused(target, "That user name and password do not match.", 401)
    response = redirect(target)
    response.set_cookie(
        SESSION_COOKIE, auth.session_cookie(user), max_age=int(auth.session_s), httponly=True,
        samesite="Lax", secure=request.is_secure, path="/",
    )  # fmt: skip
    return response


def _refused(target: str, problem: str, code: int) -> tuple[str, int]:
    page = render_template("login.html", next=target, problem=problem, visitor=None)
    return page, code


@account.post("/logout")
def logout() -> Response:
    _auth().end_session(request)
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
