"""Declarations: the building blocks a setting, a detector parameter and their
checks are written with, and how their problems are worded. At the bottom of
the import layers: it imports nothing of rabbitcam."""
