"""The pages people open: the dashboard and one camera's page."""

from __future__ import annotations

from flask import Blueprint, render_template

from web import state

pages = Blueprint("pages", __name__)


@pages.get("/")
def index() -> str:
    cameras = [feed.camera for feed in state.visible_feeds()]
    return render_template("index.html", cameras=cameras)


@pages.get("/camera/<camera_id>")
def camera_page(camera_id: str) -> str:
    feed = state.feed_or_404(camera_id)
    return render_template("camera.html", camera=feed.camera, info=state.camera_summary(feed))
