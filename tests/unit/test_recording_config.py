"""[record], a camera's record labels and [[alarms]]: defaults, every error by file and key."""

from pathlib import Path

import pytest

from pipeline.core.config import load_config
from pipeline.core.settings import ConfigError
from pipeline.core.topology import Topology

VALID = """
[[cameras]]
id = "door"
source = "synthetic"
detectors = ["pose", "fall", { name = "codes", barcodes = false }]
"""


def load(tmp_path: Path, text: str):
    path = tmp_path / "site.toml"
    path.write_text(text)
    return load_config(path)


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text)
    return str(raised.value)


def test_record_defaults_and_the_store_per_namespace(tmp_path, monkeypatch):
    monkeypatch.setenv("RABBITCAM_DATA", str(tmp_path / "data"))
    config = load(tmp_path, VALID + 'record = ["fall", "qr"]\n')
    assert config.camera("door").record == ("fall", "qr")
    assert [c.id for c in config.recording] == ["door"]
    record = config.record
    assert (record.keep_s, record.pre_s, record.post_s, record.max_clip_s) == (60, 5.0, 5.0, 30.0)
    assert config.store_dir == tmp_path / "data" / "rabbitcam"
    assert load(tmp_path, '[record]\ndir = "ev"\n' + VALID).store_dir == tmp_path / "ev"


def test_the_recent_stream_is_bounded_by_age_and_bytes(tmp_path):
    config = load(tmp_path, "[record]\nkeep_s = 90\nkeep_mb = 64\n" + VALID)
    camera = config.camera("door")  # 640x480 at 15 fps: about 0.7 MB a second
    arguments = Topology("ns").recent_queue_arguments(config.record, camera)
    assert arguments == {
        "x-queue-type": "stream",
        "x-max-age": "90s",
        "x-max-length-bytes": 64 * 1024 * 1024,
        "x-stream-max-segment-size-bytes": 7_776_000,  # an eighth of 90 s of frames
    }
    small = load(tmp_path, "[record]\nkeep_mb = 8\n" + VALID)
    segment = Topology("ns").recent_queue_arguments(small.record, small.camera("door"))
    assert segment["x-stream-max-segment-size-bytes"] == 1024 * 1024  # an eighth of 8 MB


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        (VALID + 'record = ["fal"]\n', "cameras[0].record[0]", "no detector of this camera"),
        (VALID + 'record = "fall"\n', "cameras[0].record", "must be an array of strings"),
        (VALID + 'record = ["a.b"]\n', "cameras[0].record[0]", "must match"),
        ("[record]\npre_s = 58\n" + VALID, "record.pre_s", "less than keep_s"),
        ("[record]\nkeep_s = 5\n" + VALID, "record.keep_s", "between"),
        ("[record]\nwhere = 'x'\n" + VALID, "record.where", "unknown key"),
        ("[record]\nmax_mb = 0\n" + VALID, "record.max_mb", "between"),
        ("[[alarms]]\nname = 'x'\n" + VALID, "alarms[0].url", "is required"),
        ("[[alarms]]\nurl = 'ftp://x/'\n" + VALID, "alarms[0].url", "http(s):// or mqtt(s)://"),
        ("[[alarms]]\nurl = 'http://x/'\nname = 'A B'\n" + VALID, "alarms[0].name", "must match"),
        ("[[alarms]]\nurl = 'http://x/'\ntopic = 'a'\n" + VALID, "alarms[0].topic", "does not"),
        ("[[alarms]]\nurl = 'mqtt://x/'\nsecret = 'a'\n" + VALID, "alarms[0].secret", "does not"),
        ("[[alarms]]\nurl = 'mqtt://x/'\ntopic = '/a'\n" + VALID, "alarms[0].topic", "prefix"),
        ("[[alarms]]\nurl = 'mqtt://x/'\ntopic = 'a/#'\n" + VALID, "alarms[0].topic", "prefix"),
        (
            "[[alarms]]\nurl = 'http://x/'\nlabels = ['f.x']\n" + VALID,
            "alarms[0].labels[0]",
            "must",
        ),
        ("[[alarms]]\nurl = 'http://x/'\nattempts = 0\n" + VALID, "alarms[0].attempts", "between"),
        ("[[alarms]]\nurl = 'http://x/'\nheaders = 3\n" + VALID, "alarms[0].headers", "table"),
        ("[[alarms]]\nurl = 'http://x/'\ncolour = 1\n" + VALID, "alarms[0].colour", "unknown key"),
        (
            "[[alarms]]\nurl = 'http://x/'\n[[alarms]]\nurl = 'http://y/'\nname = 'alarm-1'\n"
            + VALID,
            "alarms[1].name",
            "duplicate",
        ),
        ("[web]\npublic_url = 'cams.example'\n" + VALID, "web.public_url", "http:// or https://"),
    ],
)
def test_errors_name_file_and_key(tmp_path, text, key, message):
    found = problems(tmp_path, text)
    assert f"site.toml: {key}: " in found, found
    assert message in found, found


def test_built_in_detectors_say_what_they_report(tmp_path):
    from detectors.base import REGISTRY

    assert REGISTRY["pose"].labels == ("person",)
    assert REGISTRY["fall"].labels == ("fall", "person_down")
    assert all(cls.labels is not None for cls in REGISTRY.values())


def test_a_plugin_that_does_not_say_its_labels_is_taken_on_trust(tmp_path):
    from detectors.base import REGISTRY, Detector, register

    @register
    class Plates(Detector):
        name = "test_plates"

    try:
        text = VALID.replace('"pose", ', '"test_plates", "pose", ') + 'record = ["plate"]\n'
        assert load(tmp_path, text).camera("door").record == ("plate",)
    finally:
        del REGISTRY["test_plates"]


def test_alarm_kinds_defaults_and_filters(tmp_path):
    config = load(
        tmp_path,
        "[[alarms]]\nname = 'phone'\nurl = 'https://ntfy.example/t'\nlabels = ['fall']\n"
        "[[alarms]]\nname = 'home'\nurl = 'mqtt://hass.local:1883'\ncameras = ['door']\n" + VALID,
    )
    phone, home = config.alarms
    assert (phone.kind, phone.cooldown_s, phone.attempts) == ("webhook", 30.0, 20)
    assert (home.kind, home.cooldown_s, home.topic) == ("mqtt", 0.0, "rabbitcam")
    assert phone.wants("door", "fall") and not phone.wants("door", "person")
    assert home.wants("door", "person") and not home.wants("yard", "person")


def test_secrets_come_from_the_environment_and_a_missing_one_names_its_key(tmp_path):
    config = load(
        tmp_path,
        "[[alarms]]\nurl = 'https://hooks.example/${HOOK_ID}'\nsecret = '${HOOK_SECRET}'\n"
        "headers = { Authorization = 'Bearer ${HOOK_TOKEN}' }\n" + VALID,
    )
    alarm = config.alarms[0]
    assert "${HOOK_TOKEN}" in dict(alarm.headers)["Authorization"]  # kept unresolved in the config
    resolved = alarm.resolved(
        config.path, {"HOOK_ID": "abc", "HOOK_SECRET": "s3", "HOOK_TOKEN": "t0k"}
    )
    assert resolved.url == "https://hooks.example/abc" and resolved.secret == "s3"
    assert dict(resolved.headers)["Authorization"] == "Bearer t0k"
    with pytest.raises(ConfigError) as raised:
        alarm.resolved(config.path, {"HOOK_ID": "abc", "HOOK_SECRET": "s3"})
    key = "alarms[0].headers.Authorization"
    assert str(raised.value) == f"{config.path}: {key}: environment variable HOOK_TOKEN is not set"


def test_run_and_alarm_refuse_missing_secrets_before_anything_starts(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "site.toml"
    path.write_text("[[alarms]]\nurl = 'https://hooks.example/${NOT_SET_ANYWHERE}'\n" + VALID)
    for command in (["run", str(path), "--roles", "alarm"], ["alarm", str(path)]):
        done = subprocess.run(
            [sys.executable, "-m", "pipeline", *command], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2, done.stderr
        assert "alarms[0].url: environment variable NOT_SET_ANYWHERE is not set" in done.stderr
