import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]

VALID = """
[broker]
url = "amqp://guest:guest@127.0.0.1:5672/"

[[cameras]]
id = "cam1"
source = "synthetic"
"""


def write(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, text))
    return str(raised.value)


def test_demo_config_is_valid_with_two_synthetic_cameras():
    config = load_config(ROOT / "configs" / "demo.toml")
    assert len(config.cameras) >= 2
    for camera in config.cameras:
        assert camera.source.kind == "synthetic"
        assert (camera.width, camera.height, camera.fps) == (640, 480, 15)


def test_defaults(tmp_path: Path):
    config = load_config(write(tmp_path, VALID))
    camera = config.cameras[0]
    assert config.web.bind == "127.0.0.1:8000"
    assert config.detect.workers == 2
    assert camera.detectors == ()
    assert camera.queue_length == 2 and camera.max_age_ms == 1000


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        (VALID + "colour = 'red'\n", "cameras[0].colour", "unknown key"),
        ("surprise = 1\n" + VALID, "surprise", "unknown key"),
        (VALID.replace("[broker]", "[broker]\nport = 1"), "broker.port", "unknown key"),
        (VALID + "fps = 'fast'\n", "cameras[0].fps", "must be a number"),
        (VALID + "fps = 0\n", "cameras[0].fps", "between"),
        (VALID + "fps = 1000\n", "cameras[0].fps", "between"),
        (VALID + "width = 640.5\n", "cameras[0].width", "must be an integer"),
        (VALID + "jpeg_quality = true\n", "cameras[0].jpeg_quality", "got a boolean"),
        (VALID.replace('"cam1"', '"../etc"'), "cameras[0].id", "must match"),
        (VALID.replace('"cam1"', '"Cam One"'), "cameras[0].id", "must match"),
        (VALID + '[[cameras]]\nid = "cam1"\nsource = 0\n', "cameras[1].id", "duplicate camera id"),
        (VALID + "detectors = ['teleport']\n", "cameras[0].detectors[0]", "unknown detector"),
        (
            VALID + "detectors = [{ name = 'motion', scale = 3.0 }]\n",
            "cameras[0].detectors[0].scale",
            "between",
        ),
        (
            VALID + "detectors = [{ name = 'motion', speed = 1 }]\n",
            "cameras[0].detectors[0].speed",
            "unknown parameter",
        ),
        (VALID + "detectors = 'motion'\n", "cameras[0].detectors", "must be an array"),
        (
            VALID.replace('source = "synthetic"', 'source = "missing.mp4"'),
            "cameras[0].source",
            "not found",
        ),
        (
            VALID.replace('source = "synthetic"', 'source = "ftp://x/y"'),
            "cameras[0].source",
            "scheme",
        ),
        (VALID.replace('source = "synthetic"', ""), "cameras[0].source", "is required"),
        (VALID.replace("amqp://", "http://"), "broker.url", "amqp://"),
        ("[web]\nbind = 'nowhere'\n" + VALID, "web.bind", "HOST:PORT"),
        ("[detect]\nworkers = -1\n" + VALID, "detect.workers", "between"),
        ("[broker]\n", "cameras", "no cameras"),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, text: str, key: str, message: str):
    report = problems(tmp_path, text)
    assert f"site.toml: {key}: " in report, report
    assert message in report, report
    assert str(tmp_path) in report


def test_every_problem_is_reported_at_once(tmp_path: Path):
    report = problems(tmp_path, VALID + "fps = 0\nwidth = 'wide'\n")
    assert "cameras[0].fps" in report and "cameras[0].width" in report


def test_invalid_toml_names_the_file(tmp_path: Path):
    assert "invalid TOML" in problems(tmp_path, "[[cameras]\nid=")


def test_sources(tmp_path: Path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "door.mp4").write_bytes(b"")
    text = """
[[cameras]]
id = "a"
source = 0
[[cameras]]
id = "b"
source = "/dev/video2"
[[cameras]]
id = "c"
source = "rtsp://user:secret@10.0.0.5/stream"
[[cameras]]
id = "d"
source = "clips/door.mp4"
"""
    cameras = load_config(write(tmp_path, text)).cameras
    assert (cameras[0].source.kind, cameras[0].source.location) == ("device", 0)
    assert (cameras[1].source.kind, cameras[1].source.location) == ("device", 2)
    assert cameras[2].source.kind == "url"
    assert "secret" not in cameras[2].source.describe()
    # Relative paths resolve against the config file, not the working directory.
    assert cameras[3].source.location == str(tmp_path / "clips" / "door.mp4")


def test_environment_overrides_broker_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RABBITCAM_AMQP_URL", "amqp://a:b@host1:5672/, amqp://a:b@host2:5672/")
    config = load_config(write(tmp_path, VALID))
    assert config.broker.urls == ("amqp://a:b@host1:5672/", "amqp://a:b@host2:5672/")


def test_detector_tables_keep_their_parameters(tmp_path: Path):
    text = VALID + "detectors = ['codes', { name = 'motion', scale = 0.25 }]\n"
    camera = load_config(write(tmp_path, text)).cameras[0]
    assert [(d.name, d.params) for d in camera.detectors] == [
        ("codes", {}),
        ("motion", {"scale": 0.25}),
    ]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, timeout=60
    )


def test_check_config_cli_exit_codes(tmp_path: Path):
    good = run_cli("check-config", str(write(tmp_path, VALID)))
    assert good.returncode == 0 and "OK" in good.stdout
    bad = run_cli("check-config", str(write(tmp_path, VALID + "fps = -3\n", "bad.toml")))
    assert bad.returncode == 2
    assert "bad.toml: cameras[0].fps" in bad.stderr


def test_run_refuses_a_bad_config_before_starting_anything(tmp_path: Path):
    bad = run_cli("run", str(write(tmp_path, VALID + "bogus = 1\n", "bad.toml")))
    assert bad.returncode == 2
    assert "bad.toml: cameras[0].bogus: unknown key" in bad.stderr
    assert "starting" not in bad.stderr


def test_detector_order_is_checked_and_names_the_key(tmp_path: Path):
    report = problems(tmp_path, VALID + "detectors = ['eyes', 'faces']\n")
    assert "site.toml: cameras[0].detectors[0]: 'eyes' works on what 'faces' found" in report


def test_stateful_detectors_make_a_camera_ordered_unless_told_otherwise(tmp_path: Path):
    text = VALID + "detectors = ['motion']\n"
    assert load_config(write(tmp_path, text)).cameras[0].ordered is True
    stateless = VALID + "detectors = ['codes', 'faces']\n"
    assert load_config(write(tmp_path, stateless)).cameras[0].ordered is False
    forced = VALID + "detectors = ['motion']\nordered = false\n"
    assert load_config(write(tmp_path, forced)).cameras[0].ordered is False
    assert "cameras[0].ordered" in problems(tmp_path, VALID + "ordered = 'yes'\n")


def test_ordered_cameras_get_a_single_active_consumer_queue(tmp_path: Path):
    from pipeline.topology import Topology

    ordered = load_config(write(tmp_path, VALID + "detectors = ['motion']\n")).cameras[0]
    assert Topology.frame_queue_arguments(ordered)["x-single-active-consumer"] is True
    plain = load_config(write(tmp_path, VALID)).cameras[0]
    assert "x-single-active-consumer" not in Topology.frame_queue_arguments(plain)


def test_passthrough_and_qr_switches(tmp_path: Path):
    camera = load_config(write(tmp_path, VALID + "annotate = false\nqr = false\n")).cameras[0]
    assert camera.passthrough and not camera.qr
    annotated = load_config(write(tmp_path, VALID + "detectors = ['codes']\nannotate = false\n"))
    assert not annotated.cameras[0].passthrough, "detectors run: there is something to draw"
    assert "cameras[0].annotate: must be true or false" in problems(
        tmp_path, VALID + "annotate = 1\n"
    )
    report = problems(tmp_path, VALID.replace('"synthetic"', "0") + "qr = false\n")
    assert "cameras[0].qr: only applies to the synthetic source" in report
