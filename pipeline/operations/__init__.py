"""The operator's tools: the ``rabbitcam`` command and what it reports (status,
probe, cameras add/list/remove). The top layer: it may import the roles, the
core, the detectors and the streamer; nothing imports it."""
