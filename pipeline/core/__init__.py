"""The core every role shares: the config, the wire format, the broker and its
topology, logs, signals, and the few helpers (JPEG headers, sample media,
synthetic scenes, live config reloads) the roles and the streamer have in
common. It imports nothing from the roles, the operator's tools or the streamer."""
