"""The streamer: Flask app, frame hub and the WSGI server around them."""

from web.app import create_app

__all__ = ["create_app"]
