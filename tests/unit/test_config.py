import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core.config import load_config
from pipeline.core.environment import read_environment
from pipeline.core.settings import ConfigError

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


def test_demo_config_is_valid_with_synthetic_cameras_a_video_and_a_drop_in_one():
    config = load_config(ROOT / "configs" / "demo.toml")
    assert config.camera_ids[:2] == ["front-door", "backyard"]
    for camera in config.cameras:
        if camera.id == "walkway":  # OpenCV's pedestrian clip, linked by setup
            assert camera.source.kind == "file"
            assert (camera.width, camera.height, camera.fps) == (768, 576, 10)
            assert [line.name for line in camera.lines] == ["walkway"]
            continue
        assert camera.source.kind == "synthetic"
        assert (camera.width, camera.height) == (640, 480)
    assert config.camera("front-door").fps == 15
    assert config.camera_files["garage"] == ROOT / "configs" / "cameras.d" / "garage.toml"


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
        (VALID.replace('"cam1"', '"../etc"'), "cameras[0].id", "must be 1 to 64 of"),
        (VALID.replace('"cam1"', '"Cam One"'), "cameras[0].id", "must be 1 to 64 of"),
        (VALID.replace('"cam1"', '"yard/back"'), "cameras[0].id", "must be 1 to 64 of"),
        (VALID.replace('"cam1"', '"cam.1"'), "cameras[0].id", "must be 1 to 64 of"),
        (VALID.replace('"cam1"', '"cam#"'), "cameras[0].id", "must be 1 to 64 of"),
        (VALID.replace('"cam1"', '"*"'), "cameras[0].id", "must be 1 to 64 of"),
        (VALID.replace('"cam1"', '""'), "cameras[0].id", "must be 1 to 64 of"),
        (VALID.replace('"cam1"', "7"), "cameras[0].id", "must be 1 to 64 of"),
        (VALID + "fps = -5\n", "cameras[0].fps", "between"),
        (VALID + "max_age_ms = 'soon'\n", "cameras[0].max_age_ms", "must be an integer"),
        (VALID + "[cameras.extra]\nx = 1\n", "cameras[0].extra", "unknown key"),
        ("cameras = 'all'\n", "cameras", "array of tables"),
        ("web = 3\n" + VALID, "web", "must be a table"),
        (VALID.replace("[broker]", "[broker]\nheartbeat_s = 0"), "broker.heartbeat_s", "between"),
        (VALID.replace("[broker]", "[broker]\nnamespace = 'a b'"), "broker.namespace", "must"),
        (
            VALID.replace('url = "amqp://guest', 'url = ["amqp://ok/", "http://guest').replace(
                '5672/"', '5672/"]'
            ),
            "broker.url[1]",
            "amqp://",
        ),
        ("[log]\nlevel = 'LOUD'\n" + VALID, "log.level", "must be one of"),
        ("[log]\nformat = 'xml'\n" + VALID, "log.format", "must be one of"),
        ("cameras_dir = 'nowhere'\n" + VALID, "cameras_dir", "directory not found"),
        ("cameras_dir = 5\n" + VALID, "cameras_dir", "must be a directory path"),
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


def test_the_broken_config_table_is_big_enough():
    # Issue: at least 20 broken configs, each named by file and key.
    cases = test_errors_name_file_and_key.pytestmark[0].args[1]
    assert len(cases) >= 20


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


def test_environment_variables_are_declared_and_checked_like_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    read = read_environment
    assert read({}).capture_nice == 10 and read({}).capture_shed is True
    assert (
        read({"RABBITCAM_CAPTURE_SHED": "0", "RABBITCAM_OPENCV_THREADS": "4"}).capture_shed is False
    )
    assert read({"RABBITCAM_CAPTURE_NICE": " "}).capture_nice == 10, "empty is unset"
    for name, value, said in (
        ("RABBITCAM_CAPTURE_NICE", "ten", "must be an integer"),
        ("RABBITCAM_CAPTURE_NICE", "25", "19"),
        ("RABBITCAM_OPENCV_THREADS", "-1", "0"),
        ("RABBITCAM_NAMESPACE", "two words", "must match"),
    ):
        with pytest.raises(ConfigError, match=f"environment {name}: .*{said}"):
            read({name: value})
    # A bad variable stops the config from loading, before anything starts.
    monkeypatch.setenv("RABBITCAM_OPENCV_THREADS", "many")
    with pytest.raises(ConfigError, match="environment RABBITCAM_OPENCV_THREADS"):
        load_config(write(tmp_path, VALID))


def test_detector_tables_keep_their_parameters(tmp_path: Path):
    text = VALID + "detectors = ['codes', { name = 'motion', scale = 0.25 }]\n"
    camera = load_config(write(tmp_path, text)).cameras[0]
    # Validated once, here: the detectors are handed their typed parameters.
    assert [(d.name, d.params.model_dump(exclude_unset=True)) for d in camera.detectors] == [
        ("codes", {}),
        ("motion", {"scale": 0.25}),
    ]
    assert camera.detectors[1].params.scale == 0.25 and camera.detectors[1].params.history == 200


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
    from pipeline.core.topology import Topology

    ordered = load_config(write(tmp_path, VALID + "detectors = ['motion']\n")).cameras[0]
    assert Topology.frame_queue_arguments(ordered)["x-single-active-consumer"] is True
    plain = load_config(write(tmp_path, VALID)).cameras[0]
    assert "x-single-active-consumer" not in Topology.frame_queue_arguments(plain)


def test_passthrough_and_qr_switches(tmp_path: Path):
    camera = load_config(write(tmp_path, VALID + "annotate = false\nqr = false\n")).cameras[0]
    assert camera.passthrough and not camera.qr and camera.drawing == "none"
    annotated = load_config(write(tmp_path, VALID + "detectors = ['codes']\nannotate = false\n"))
    assert not annotated.cameras[0].passthrough, "detectors run: there is something to draw"
    assert 'cameras[0].annotate: must be true, false or "page"' in problems(
        tmp_path, VALID + "annotate = 1\n"
    )
    report = problems(tmp_path, VALID.replace('"synthetic"', "0") + "qr = false\n")
    assert "cameras[0].qr: only applies to the synthetic source" in report


def test_annotate_page_leaves_the_picture_alone_and_the_page_draws(tmp_path: Path):
    camera = load_config(
        write(tmp_path, VALID + "detectors = ['motion']\nannotate = 'page'\n")
    ).cameras[0]
    assert camera.drawing == "page" and not camera.passthrough
    drawn = load_config(write(tmp_path, VALID + "detectors = ['motion']\n")).cameras[0]
    assert drawn.drawing == "picture", "drawn into the picture unless told otherwise"
    report = problems(tmp_path, VALID + "annotate = 'pages'\n")
    assert "cameras[0].annotate: must be true, false or \"page\", got 'pages'" in report


# --- drop-in camera files --------------------------------------------------------------

SITE = """
cameras_dir = "cameras.d"

[[cameras]]
id = "main-cam"
source = "synthetic"
"""


def site(tmp_path: Path, **files: str) -> Path:
    (tmp_path / "cameras.d").mkdir(exist_ok=True)
    for name, text in files.items():
        (tmp_path / "cameras.d" / f"{name}.toml").write_text(text)
    return write(tmp_path, SITE)


def test_drop_in_files_add_cameras_named_after_the_file(tmp_path: Path):
    path = site(
        tmp_path, garage='source = "synthetic"\nfps = 5\n', porch='id = "porch"\nsource = 0\n'
    )
    (tmp_path / "cameras.d" / ".hidden.toml").write_text("this is not toml")
    (tmp_path / "cameras.d" / "notes.txt").write_text("ignored")
    config = load_config(path)
    assert config.camera_ids == ["main-cam", "garage", "porch"]
    assert config.camera("garage").fps == 5
    assert config.camera_files["garage"] == tmp_path / "cameras.d" / "garage.toml"
    assert config.camera_files["main-cam"] == path


def test_a_site_may_start_with_no_cameras_when_it_has_a_drop_in_directory(tmp_path: Path):
    (tmp_path / "cameras.d").mkdir()
    assert load_config(write(tmp_path, 'cameras_dir = "cameras.d"\n')).cameras == ()


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("source = 'synthetic'\nfps = 0\n", "fps", "must be between"),
        ("source = 'synthetic'\nzoom = 2\n", "zoom", "unknown key"),
        ("fps = 5\n", "source", "is required"),
        ("id = 'a/b'\nsource = 'synthetic'\n", "id", "must be 1 to 64 of"),
        ("id = 'main-cam'\nsource = 'synthetic'\n", "id", "duplicate camera id"),
    ],
)
def test_drop_in_errors_name_the_drop_in_file_and_key(
    tmp_path: Path, text: str, key: str, message: str
):
    with pytest.raises(ConfigError) as raised:
        load_config(site(tmp_path, broken=text))
    assert f"cameras.d/broken.toml: {key}: {message}" in str(raised.value)


def test_a_drop_in_with_bad_toml_names_its_file(tmp_path: Path):
    with pytest.raises(ConfigError) as raised:
        load_config(site(tmp_path, broken="source = \n"))
    assert "cameras.d/broken.toml: invalid TOML" in str(raised.value)


def test_tolerant_loading_keeps_a_broken_files_previous_camera(tmp_path: Path):
    path = site(tmp_path, garage="source = 'synthetic'\nfps = 5\n")
    before = load_config(path)
    (tmp_path / "cameras.d" / "garage.toml").write_text("source = 'synthetic'\nfps = -1\n")
    (tmp_path / "cameras.d" / "new.toml").write_text("source = 'synthetic'\ncolour = 1\n")
    after = load_config(path, tolerant=True, previous=before)
    assert after.camera("garage").fps == 5, "a broken file leaves its camera as it was"
    assert "new" not in after.camera_ids, "a broken new file adds nothing"
    assert any("garage.toml: fps" in p for p in after.skipped)
    assert any("new.toml: colour" in p for p in after.skipped)


def test_watcher_reports_added_changed_and_removed_cameras(tmp_path: Path):
    from pipeline.core.reload import ConfigWatcher

    path = site(tmp_path, garage="source = 'synthetic'\n", porch="source = 'synthetic'\n")
    watcher = ConfigWatcher(load_config(path), "test")
    assert not watcher.poll(force=True), "nothing changed yet"
    drop_in = tmp_path / "cameras.d"
    (drop_in / "shed.toml").write_text("source = 'synthetic'\n")
    (drop_in / "garage.toml").write_text("source = 'synthetic'\nfps = 2\n")
    (drop_in / "porch.toml").unlink()
    changes = watcher.poll(force=True)
    assert [c.id for c in changes.added] == ["shed"]
    assert [(c.id, c.fps) for c in changes.changed] == [("garage", 2)]
    assert [c.id for c in changes.removed] == ["porch"]
    (drop_in / "garage.toml").write_text("source = 'synthetic'\nfps = 'broken'\n")
    assert not watcher.poll(force=True), "a broken file changes nothing"
    assert watcher.config.camera("garage").fps == 2
    path.write_text("this is not [toml")
    assert not watcher.poll(force=True), "a broken main file changes nothing"
    assert watcher.config.camera_ids == ["main-cam", "garage", "shed"]


def test_scene_is_checked(tmp_path: Path):
    base = '[[cameras]]\nid = "cam1"\nsource = "synthetic"\n'
    assert (
        load_config(write(tmp_path, base + 'scene = "portrait"\n')).cameras[0].scene == "portrait"
    )
    message = problems(tmp_path, base + 'scene = "beach"\n')
    assert "cameras[0].scene: must be one of shapes, portrait, fall" in message
    video = '[[cameras]]\nid = "cam1"\nsource = "rtsp://cam.local/1"\nscene = "fall"\n'
    assert "cameras[0].scene: only applies to the synthetic source" in problems(tmp_path, video)


# The messages of the common mistakes, word for word: they were these before the
# config moved onto pydantic models, and an operator's search for one still finds it.
COMMON_MISTAKES = [
    # (The allowed keys grew since: filters, footage, lines, motion_mask, object_mask, zones.)
    (VALID + "colour = 'red'\n", "cameras[0].colour: unknown key (allowed: annotate, detectors, "
     "direct, filters, footage, fps, height, id, jpeg_quality, lines, max_age_ms, motion_mask, "
     "name, object_mask, ordered, qr, queue_length, queue_ttl_ms, record, scene, source, width, "
     "zones)"),
    ("surprise = 1\n" + VALID, "surprise: unknown key (allowed: alarms, broker, cameras, "
     "cameras_dir, capture, detect, log, record, web)"),
    (VALID.replace("[broker]", "[broker]\nport = 1"),
     "broker.port: unknown key (allowed: heartbeat_s, namespace, reconnect_max_s, url)"),
    (VALID + "fps = 'fast'\n", "cameras[0].fps: must be a number, got str 'fast'"),
    (VALID + "fps = 0\n", "cameras[0].fps: must be between 0.1 and 240, got 0"),
    (VALID + "width = 640.5\n", "cameras[0].width: must be an integer, got float 640.5"),
    (VALID + "jpeg_quality = true\n",
     "cameras[0].jpeg_quality: must be an integer, got a boolean True"),
    (VALID.replace('"cam1"', '"yard/back"'),
     "cameras[0].id: must be 1 to 64 of a-z, 0-9, '_' and '-', got 'yard/back'"),
    (VALID.replace('"cam1"', "7"),
     "cameras[0].id: must be 1 to 64 of a-z, 0-9, '_' and '-', got 7"),
    ("cameras = 'all'\n", "cameras: must be an array of tables ([[cameras]])"),
    ("web = 3\n" + VALID, "web: must be a table, got int"),
    (VALID.replace("[broker]", "[broker]\nheartbeat_s = 0"),
     "broker.heartbeat_s: must be between 1 and 600, got 0"),
    (VALID.replace("[broker]", "[broker]\nnamespace = 'a b'"),
     "broker.namespace: must match [A-Za-z0-9_.-]{1,64}"),
    ("[log]\nlevel = 'LOUD'\n" + VALID, "log.level: must be one of DEBUG, INFO, WARNING, ERROR"),
    (VALID + '[[cameras]]\nid = "cam1"\nsource = 0\n',
     "cameras[1].id: duplicate camera id 'cam1' (also cameras[0])"),
    (VALID + "detectors = [{ name = 'motion', scale = 3.0 }]\n",
     "cameras[0].detectors[0].scale: must be between 0.1 and 1.0, got 3.0"),
    (VALID.replace('source = "synthetic"', 'source = "ftp://x/y"'),
     "cameras[0].source: unsupported URL scheme in 'ftp://x/y' (use rtsp, http, https)"),
    ("[web]\nbind = 'nowhere'\n" + VALID, "web.bind: must be HOST:PORT, got 'nowhere'"),
    ("[broker]\n", "cameras: no cameras configured (add a [[cameras]] table or a cameras_dir)"),
    ("[record]\npre_s = 58\n" + VALID, "record.pre_s: must be at least 5 s less than keep_s (60)"),
    ("[[alarms]]\nname = 'x'\n" + VALID,
     "alarms[0].url: is required (http(s):// for a webhook, mqtt(s):// for MQTT)"),
    ("[[alarms]]\nurl = 'http://x/'\ntopic = 'a'\n" + VALID,
     "alarms[0].topic: does not apply to webhook alarms"),
    ("[[alarms]]\nurl = 'http://x/'\n[[alarms]]\nurl = 'http://y/'\nname = 'alarm-1'\n" + VALID,
     "alarms[1].name: duplicate alarm name 'alarm-1'"),
    ("[web]\npublic_url = 'cams.example'\n" + VALID,
     "web.public_url: must be an http:// or https:// URL, got 'cams.example'"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line"), COMMON_MISTAKES)
def test_common_mistakes_keep_their_messages(tmp_path: Path, text: str, line: str):
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, text))
    assert raised.value.problems == [f"{tmp_path / 'site.toml'}: {line}"]


def test_the_configuration_reference_is_generated_from_the_models():
    from pipeline.operations.config_docs import reference

    assert (ROOT / "docs" / "configuration.md").read_text() == reference(), (
        "docs/configuration.md is stale: rabbitcam config reference > docs/configuration.md"
    )


def test_the_schema_accepts_real_configs_and_refuses_broken_ones():
    import tomllib

    import jsonschema

    from pipeline.operations.config_docs import config_schema

    site, camera_file = config_schema(), config_schema(camera_file=True)
    jsonschema.Draft202012Validator.check_schema(site)
    demo = tomllib.loads((ROOT / "configs" / "demo.toml").read_text())
    jsonschema.validate(demo, site)
    for dropin in sorted((ROOT / "configs" / "cameras.d").glob("*.toml")):
        jsonschema.validate(tomllib.loads(dropin.read_text()), camera_file)
    broken = [
        {**demo, "colour": "red"},
        {**demo, "cameras": [{**demo["cameras"][0], "fps": 1000}]},
        {
            **demo,
            "cameras": [{**demo["cameras"][0], "detectors": [{"name": "motion", "speed": 1}]}],
        },
        {**demo, "cameras": [{**demo["cameras"][0], "detectors": ["teleport"]}]},
        {**demo, "web": {"threads": "many"}},
    ]
    for document in broken:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(document, site)


def test_each_bad_detector_parameter_is_named_at_its_own_key(tmp_path: Path):
    text = VALID + "detectors = [{ name = 'motion', scale = 3.0, speed = 1 }, 'nope']\n"
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, text))
    keys = [line.split(": ")[1] for line in raised.value.problems]
    assert keys == [
        "cameras[0].detectors[0].scale",
        "cameras[0].detectors[0].speed",
        "cameras[0].detectors[1]",
    ], raised.value.problems
