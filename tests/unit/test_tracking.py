"""Tracked objects, zones, masks and filters: boxes in, objects and their events out."""

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

import detectors
from detectors import Detection, FrameContext
from detectors.scene_rules import LabelFilter, SceneRules, Zone, inside, polygon_problem
from detectors.track import CENSUS_LABEL
from pipeline.core.config import load_config
from pipeline.core.messages import check_detection
from pipeline.core.settings import ConfigError

FPS = 10.0
IMAGE = np.zeros((480, 640, 3), np.uint8)


NO_RULES = SceneRules()


def run(track, frames, rules=NO_RULES):
    """``frames``: per frame, the (label, box, score) earlier detectors found. Every
    detection the tracker reported, with the frame's index."""
    out = []
    for index, boxes in enumerate(frames):
        found = [Detection(label, score, box) for label, box, score in boxes]
        context = FrameContext("cam1", index, 1000.0 + index / FPS, found=found, rules=rules)
        out += [(index, d) for d in track.detect(IMAGE, context)]
    return out


def walking(frames, start=(50, 200), step=(4, 0), size=(60, 160), score=0.9, label="person"):
    x, y = start
    return [[(label, (x + step[0] * i, y + step[1] * i, *size), score)] for i in range(frames)]


def events(found, label=None):
    """The events of objects (the census, bookkeeping for counters, is not one)."""
    return [d for _, d in found if d.event and d.label != CENSUS_LABEL
            and (label is None or d.label == label)]  # fmt: skip


def test_the_census_says_which_objects_are_in_view_at_the_start_and_every_30_s():
    track = detectors.create("track")
    found = run(track, walking(40 * 10))  # 40 s at 10 frames a second
    census = [(i, d) for i, d in found if d.label == CENSUS_LABEL]
    assert [i for i, _ in census] == [0, 300], "at the first frame, then 30 s later"
    assert census[0][1].extra["objects"] == [], "a new tracker knows nobody: counts go"
    later = census[1][1]
    (person,) = later.extra["objects"]
    assert later.extra["labels"] == ["person"] and isinstance(person, int)
    # It fits the wire (the worker drops a detection that does not).
    check_detection(later.to_dict())


def test_the_census_says_which_zone_each_object_is_in_and_fits_the_wire():
    track = detectors.create("track")
    everywhere = Zone(name="all", points=((0, 0), (640, 0), (640, 480), (0, 480)), inertia=1)
    nowhere = Zone(name="none", points=((0, 0), (5, 0), (5, 5)), inertia=1)
    rules = SceneRules(zones=(everywhere, nowhere))
    found = run(track, walking(31 * 10, step=(1, 0)), rules=rules)  # 31 s, in view
    census = [d for _, d in found if d.label == CENSUS_LABEL][-1]
    (person,) = census.extra["objects"]
    assert census.extra["zones"] == ["all"] and census.extra["inside"] == [[person, 0]]
    check_detection(census.to_dict())


def test_a_person_who_walks_through_is_one_object_one_event_and_one_gone():
    track = detectors.create("track")
    found = run(track, walking(80) + [[]] * 30)  # then out of sight for 3 s
    came = events(found, "person")
    assert len(came) == 1, "one alarm per person who comes, not one per frame or second"
    ids = {d.extra["object"] for _, d in found if d.label == "person"}
    assert len(ids) == 1
    shown = [d for _, d in found if d.label == "person" and d.quiet]
    assert len(shown) >= 75 and not any(d.event for d in shown)
    gone = events(found, "gone")
    assert len(gone) == 1 and gone[0].extra["label"] == "person"
    assert 7.5 <= gone[0].extra["duration_s"] <= 8.0


def test_an_object_ends_with_its_path_its_zones_and_its_best_snapshot():
    """The person comes small and far (dim, score 0.75), then nearer and whole (larger,
    brighter, surer): the snapshot sent when it goes is a near one, cropped around it."""
    track = detectors.create("track")
    porch = Zone(name="porch", points=((0, 300), (640, 300), (640, 480), (0, 480)), inertia=2)
    found = []
    for index in range(60):
        x, y, w, h = 40 + 7 * index, 150, 30 + index, 90 + 3 * index
        image = np.zeros((480, 640, 3), np.uint8)
        image[y : y + h, x : x + w] = (20, 20 + 3 * index, 20)
        box, score = (x, y, w, h), 0.75 + index / 300
        context = FrameContext("cam1", index, 1000.0 + index / FPS,
                               found=[Detection("person", score, box)],
                               rules=SceneRules(zones=(porch,)))  # fmt: skip
        found += track.detect(image, context)
    for index in range(60, 90):
        found += track.detect(IMAGE, FrameContext("cam1", index, 1000.0 + index / FPS))
    came = [d for d in found if d.event and d.label == "person"]
    assert len(came) == 1 and came[0].snapshot is not None, "its start carries a picture"
    gone = next(d for d in found if d.label == "gone")
    assert gone.extra["started_at"] == 1000.0
    assert gone.extra["zones"] == ["porch"]
    path = gone.extra["path"]
    assert path[0] == [55, 240] and path[-1] == [498, 417], path  # first feet to last
    assert all(b[0] > a[0] for a, b in itertools.pairwise(path))
    assert len(path) <= 65
    best = cv2.imdecode(np.frombuffer(gone.snapshot, np.uint8), cv2.IMREAD_COLOR)
    assert max(best.shape[:2]) <= 320
    assert best.shape[0] > best.shape[1], "cropped around a standing person"
    green = best[best.shape[0] // 2, best.shape[1] // 2]
    assert green[1] > 140, f"a near sighting, not the first one: {green}"


def test_an_object_starts_only_after_min_frames_and_a_good_median_score():
    track = detectors.create("track", {"min_frames": 3})
    assert events(run(track, walking(2))) == [], "two frames are not an object yet"
    unsure = detectors.create("track")
    # Scores past min_score (0.5) but a median under the threshold (0.7): never real.
    assert events(run(unsure, walking(40, score=0.6))) == []
    sure = detectors.create("track")
    found = run(sure, walking(40, score=0.9))
    assert next(i for i, d in found if d.event and d.label == "person") == 2, (
        "real at its third frame"
    )


def test_filters_and_the_object_mask_keep_boxes_out():
    small = SceneRules(filters={"person": LabelFilter(min_area=20_000)})
    assert events(run(detectors.create("track"), walking(30), small)) == []
    mask = SceneRules(object_mask=(((0, 300), (640, 300), (640, 480), (0, 480)),))
    assert events(run(detectors.create("track"), walking(30), mask)) == [], "feet in the mask"
    cars = detectors.create("track")  # tracks people only, by default
    assert events(run(cars, walking(30, label="car"))) == []


def test_zones_count_an_object_after_inertia_and_raise_loitering_once():
    door = Zone(
        name="door", points=((0, 300), (300, 300), (300, 480), (0, 480)), inertia=3, loitering_s=2
    )
    rules = SceneRules(zones=(door,))
    # Feet at y = 360, x from 80: inside the door zone until x passes 300.
    # Feet at y = 260 walking down 4 px a frame: on the zone's edge at frame 10.
    found = run(detectors.create("track"), walking(60, start=(50, 100), step=(0, 4)), rules)
    zones_by_frame = {i: d.extra["zones"] for i, d in found if d.quiet}
    assert zones_by_frame[11] == [] and zones_by_frame[12] == ["door"], "in after 3 frames"
    assert [(d.extra["zone"], d.extra["label"]) for d in events(found, "entered")] == [
        ("door", "person")
    ]
    assert [d.extra["zone"] for d in events(found, "left")] == ["door"], "out past y = 480"
    loitering = events(found, "loitering")
    assert len(loitering) == 1 and loitering[0].extra["zone"] == "door"
    assert loitering[0].extra["stayed_s"] >= 2.0


def test_a_stationary_object_outlives_misses_a_moving_one_does_not():
    still = detectors.create("track", {"stationary_s": 2.0})
    frames = walking(40, step=(0, 0)) + [[]] * 50 + walking(5, step=(0, 0))  # 5 s unseen
    found = run(still, frames)
    assert events(found, "gone") == [] and len(events(found, "person")) == 1
    assert any(d.extra["stationary"] for _, d in found if d.quiet)
    moving = detectors.create("track", {"stationary_s": 2.0})
    found = run(moving, walking(40) + [[]] * 50 + walking(5, start=(210, 200)))
    assert len(events(found, "gone")) == 1, "a moving object unseen for 5 s has gone"
    assert len(events(found, "person")) == 2, "and the one who comes back is another"


def test_two_people_are_two_objects():
    left = walking(50, start=(20, 200), step=(3, 0))
    right = walking(50, start=(560, 200), step=(-3, 0))
    frames = [a + b for a, b in zip(left, right, strict=True)]
    found = run(detectors.create("track"), frames)
    assert len(events(found, "person")) == 2
    assert len({d.extra["object"] for _, d in found if d.quiet}) == 2


def test_polygons_are_checked_for_what_makes_them_no_polygon():
    assert polygon_problem(((1, 1),), 640, 480)[1].startswith("must have at least 3 points")
    assert "outside" in polygon_problem(((0, 0), (700, 0), (0, 100)), 640, 480)[1]
    bow_tie = ((0, 0), (100, 100), (100, 0), (0, 100))
    assert "crosses itself" in polygon_problem(bow_tie, 640, 480)[1]
    assert "no area" in polygon_problem(((0, 0), (10, 10), (20, 20)), 640, 480)[1]
    assert polygon_problem(((0, 0), (100, 0), (100, 100), (0, 100)), 640, 480) is None
    assert inside((50, 100), ((0, 0), (100, 0), (100, 100), (0, 100))), "the edge counts"


CAMERA = """
[[cameras]]
id = "door"
source = "synthetic"
detectors = ["motion", { name = "people", when = "motion" }, "track"]
"""


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('[[cameras.zones]]\nname = "a"\npoints = [[1, 1]]\n',
         "cameras[0].zones[0].points: must have at least 3 points, got 1"),
        ('[[cameras.zones]]\nname = "a"\npoints = [[0, 0], [700, 0], [0, 10]]\n',
         "cameras[0].zones[0].points[1]: (700.0, 0.0) is outside the 640x480 frame"),
        ('[[cameras.zones]]\nname = "a"\npoints = [[0, 0], [100, 100], [100, 0], [0, 100]]\n',
         "cameras[0].zones[0].points: crosses itself (edges 0 and 2)"),
        ('[[cameras.zones]]\nname = "a"\npoints = [[0, 0], [9, 0], [0, 9]]\nlabels = ["car"]\n',
         "cameras[0].zones[0].labels[0]: no detector of this camera reports 'car' (they report: "
         "crossed, entered, gone, left, line, loitering, motion, person)"),
        ('[[cameras.zones]]\nname = "a"\npoints = "everywhere"\n',
         "cameras[0].zones[0].points: must be an array of [x, y] points, got str"),
        ('[[cameras.zones]]\nname = "A B"\npoints = [[0, 0], [9, 0], [0, 9]]\n',
         "cameras[0].zones[0].name: must match [a-z0-9_-]{1,64}"),
        ('[[cameras.zones]]\nname = "a"\npoints = [[0, 0], [9, 0], [0, 9]]\n'
         '[[cameras.zones]]\nname = "a"\npoints = [[0, 0], [9, 0], [0, 9]]\n',
         "cameras[0].zones[1].name: duplicate zone or line name 'a'"),
        ('[[cameras.zones]]\nname = "a"\npoints = [[0, 0], [nan, 0], [0, 9]]\n',
         "cameras[0].zones[0].points[1]: (nan, 0): coordinates must be finite numbers"),
        ("object_mask = [[[0, 0], [1, 1]]]\n",
         "cameras[0].object_mask[0]: must have at least 3 points, got 2"),
        ("[cameras.filters.person]\nmin_score = 2\n",
         "cameras[0].filters.person.min_score: must be between 0 and 1, got 2"),
        ("[cameras.filters.cat]\nmin_score = 0.2\n",
         "cameras[0].filters.cat: no detector of this camera reports 'cat' (they report: "
         "crossed, entered, gone, left, line, loitering, motion, person)"),
        ("[cameras.filters.person]\nmin_area = 9\nmax_area = 3\n",
         "cameras[0].filters.person.min_area: must not exceed max_area"),
        ('[[cameras.lines]]\nname = "g"\npoints = [[1, 1], [2, 2], [3, 3]]\n',
         "cameras[0].lines[0].points: must be two [x, y] points, got 3"),
        ('[[cameras.lines]]\nname = "g"\npoints = [[1, 1], [1, 1]]\n',
         "cameras[0].lines[0].points: its two ends are the same point"),
        ('[[cameras.lines]]\nname = "g"\npoints = [[1, 1], [1000, 1]]\n',
         "cameras[0].lines[0].points[1]: (1000.0, 1.0) is outside the 640x480 frame"),
        ('[[cameras.zones]]\nname = "g"\npoints = [[0, 0], [9, 0], [0, 9]]\n'
         '[[cameras.lines]]\nname = "g"\npoints = [[1, 1], [5, 5]]\n',
         "cameras[0].lines[0].name: duplicate zone or line name 'g'"),
    ],
)  # fmt: skip
def test_bad_zones_lines_masks_and_filters_name_file_and_key(tmp_path: Path, text: str, line: str):
    site = tmp_path / "site.toml"
    site.write_text(CAMERA + text)
    with pytest.raises(ConfigError) as raised:
        load_config(site)
    assert raised.value.problems == [f"{site}: {line}"]


def test_a_camera_with_zones_gives_its_detectors_the_rules(tmp_path: Path):
    site = tmp_path / "site.toml"
    site.write_text(CAMERA + "motion_mask = [[[0, 0], [64, 0], [64, 48]]]\n"
                    '[[cameras.zones]]\nname = "porch"\npoints = [[0, 300], [640, 300], '
                    "[640, 480], [0, 480]]\nloitering_s = 30\n"
                    "[cameras.filters.person]\nmin_area = 1500\n")  # fmt: skip
    camera = load_config(site).cameras[0]
    rules = camera.scene_rules()
    assert rules.zones[0].name == "porch" and rules.zones[0].loitering_s == 30
    assert rules.filter_for("person").min_area == 1500 and rules.filter_for("car").min_area == 0
    assert rules.motion_mask == (((0.0, 0.0), (64.0, 0.0), (64.0, 48.0)),)


def test_motion_in_the_motion_mask_does_not_count():
    rules = SceneRules(motion_mask=(((0, 0), (320, 0), (320, 480), (0, 480)),))
    plain, masked = detectors.create("motion"), detectors.create("motion")
    found = {"plain": [], "masked": []}
    for index in range(12):
        image = np.zeros((480, 640, 3), np.uint8)
        x = 40 + 10 * index  # a white square moving in the left half only
        image[200:260, x : x + 60] = 255
        for name, detector, given in (("plain", plain, NO_RULES), ("masked", masked, rules)):
            context = FrameContext("cam1", index, index / FPS, rules=given)
            found[name] += detector.detect(image, context)
    assert found["plain"], "the square moves"
    assert found["masked"] == [], "but where motion does not count"


def players_through(filters: dict) -> list[Detection]:
    """A photograph of two basketball players slid across the frame, 3 px a frame for
    4 s, through a camera's ``objects`` and ``track`` as a worker runs them."""
    from pipeline.core.camera_config import CameraConfig, DetectorSpec, SourceSpec
    from pipeline.roles.chain import DetectorChain
    from testkit.media import basketball

    camera = CameraConfig(id="court", source=SourceSpec("synthetic", ""), filters=filters,
                          detectors=(DetectorSpec("objects"), DetectorSpec("track")))  # fmt: skip
    errors: list = []
    chain = DetectorChain(camera, lambda name, error: errors.append((name, error)))
    picture = cv2.resize(basketball(), (533, 400))
    found = []
    for index in range(40):
        frame = np.full((480, 640, 3), 100, np.uint8)
        x = 3 * index
        frame[40:440, x : x + 533] = picture[:, : 640 - x]
        context = FrameContext("court", index, 1000.0 + index / FPS)
        found += chain.run(frame, context, {}, lambda _name, kept: kept).found
    assert errors == []
    return found


def test_real_players_through_the_real_detector_are_one_object_each():
    """The left player (NanoDet scores him 0.83) is one object and one ``person`` event,
    not one a second; the right one (0.58) stays below the default threshold (0.7) until
    the camera's filter for people lowers it, and then is another object."""
    found = players_through({})
    assert len([d for d in found if d.label == "person" and d.event]) == 1
    assert all("object" in d.extra for d in found if d.label == "person"), "raw boxes replaced"
    lowered = players_through({"person": LabelFilter(threshold=0.5)})
    assert len([d for d in lowered if d.label == "person" and d.event]) == 2
    shown = [d for d in lowered if d.label == "person" and not d.event]
    assert len({d.extra["object"] for d in shown}) == 2, "each player keeps one id"


@pytest.fixture
def site_with_a_drop_in(tmp_path: Path):
    """A site whose 'porch' camera is a drop-in file, served by a streamer (no broker)."""
    from web import create_app
    from web.auth import Auth
    from web.hub import FrameHub

    (tmp_path / "cameras.d").mkdir()
    porch = tmp_path / "cameras.d" / "porch.toml"
    porch.write_text('# the porch\nsource = "synthetic"\ndetectors = ["motion", "track"]\n'
                     'name = "Porch"\n')  # fmt: skip
    site = tmp_path / "site.toml"
    site.write_text('cameras_dir = "cameras.d"\n[[cameras]]\nid = "hall"\nsource = "synthetic"\n')
    config = load_config(site)
    hub = FrameHub(config)
    client = create_app(config, hub, auth=Auth(token="admin-token")).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer admin-token"  # zones are an admin's
    yield client, porch
    hub.close()


SQUARE = [[100, 300], [300, 300], [300, 460], [100, 460]]


def test_zones_drawn_on_the_page_are_saved_to_the_camera_file(site_with_a_drop_in):
    client, porch = site_with_a_drop_in
    steps = {"name": "steps", "points": SQUARE, "loitering_s": 20}
    answer = client.put("/api/cameras/porch/zones", json={"zones": [steps]})
    assert answer.status_code == 200, answer.json
    camera = load_config(porch.parent.parent / "site.toml").camera("porch")
    assert [(z.name, z.loitering_s) for z in camera.zones] == [("steps", 20.0)]
    assert camera.title == "Porch" and [s.name for s in camera.detectors] == ["motion", "track"]
    removed = client.put("/api/cameras/porch/zones", json={"zones": []})
    assert removed.status_code == 200 and "zones" not in porch.read_text()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"zones": [{"name": "x", "points": [[5, 5]]}]}, "zones[0].points: must have at least 3"),
        ({"zones": [{"name": "x", "points": [[0, 0], [100, 100], [100, 0], [0, 100]]}]},
         "zones[0].points: crosses itself"),
        ({"zones": [{"name": "x", "points": [[0, 0], [9999, 0], [0, 9]]}]},
         "zones[0].points[1]: (9999.0, 0.0) is outside the 640x480 frame"),
        ({"zones": [{"name": "<script>", "points": SQUARE}]}, "zones[0].name: must match"),
        ({"zones": [{"name": "x", "points": SQUARE, "labels": ["unicorn"]}]},
         "zones[0].labels[0]: no detector of this camera reports 'unicorn'"),
        ({"zones": [{"name": "x", "points": [[0, 0], [float("nan"), 0], [0, 9]]}]},
         "zones[0].points[1]: (nan, 0): coordinates must be finite numbers"),
        ({"zones": "all of it"}, "zones: must be an array of zone tables"),
        ({"zones": [], "extra": 1}, 'the body must be {"zones": [...]}'),
    ],
)  # fmt: skip
def test_a_bad_zone_from_the_page_is_a_400_and_changes_nothing(site_with_a_drop_in, body, problem):
    client, porch = site_with_a_drop_in
    before = porch.read_bytes()
    answer = client.put("/api/cameras/porch/zones", json=body)
    assert answer.status_code == 400
    assert any(problem in line for line in answer.json["problems"]), answer.json
    assert porch.read_bytes() == before
    assert not list(porch.parent.glob(".*")), "no scratch file left behind"


def test_zones_of_a_camera_in_the_site_file_are_not_written_from_the_page(site_with_a_drop_in):
    client, _ = site_with_a_drop_in
    assert client.put("/api/cameras/hall/zones", json={"zones": []}).status_code == 409
    assert client.put("/api/cameras/nowhere/zones", json={"zones": []}).status_code == 404


def test_the_fall_detector_follows_the_cameras_tracked_objects():
    """pose, track, fall on the demo's falling person: one fall, reported on the tracked
    object's id; the skeleton goes on with the object (drawn, and read by fall)."""
    from pipeline.operations.evaluation.chains import ChainRunner, build_chain
    from testkit.datasets import FPS as SCENE_FPS
    from testkit.datasets import fall_scene

    runner = ChainRunner(build_chain(["pose", "track", "fall"]))
    found = []
    for index, image in enumerate(fall_scene(2.0, 7.0)):
        found += runner.run(image, index, index / SCENE_FPS).detections
    assert runner.errors == []
    people = [d for d in found if d.label == "person" and not d.event]
    assert people and all("keypoints" in d.extra and "object" in d.extra for d in people)
    falls = [d for d in found if d.label == "fall"]
    assert len(falls) == 1
    assert falls[0].extra["track"] in {d.extra["object"] for d in people}


def test_zone_occupancy_reaches_the_api_and_prometheus():
    import time

    from pipeline.core.messages import Result
    from tests.conftest import make_config
    from web import create_app
    from web.auth import Auth
    from web.hub import FrameHub
    from web.metrics import StreamMetrics

    config = make_config([{
        "id": "porch", "source": "synthetic",
        "detectors": ["motion", {"name": "track", "labels": ["motion"]}],
        "zones": [{"name": "steps", "points": SQUARE}],
    }])  # fmt: skip
    metrics = StreamMetrics()
    hub = FrameHub(config, observer=metrics)
    try:
        client = create_app(config, hub, auth=Auth(anonymous=True), metrics=metrics).test_client()
        jpeg = cv2.imencode(".jpg", np.zeros((480, 640, 3), np.uint8))[1].tobytes()
        seen = [
            {"label": "motion", "box": [120, 320, 40, 60],
             "extra": {"object": 1, "zones": ["steps"]}},
            {"label": "motion", "box": [400, 20, 40, 60], "extra": {"object": 2, "zones": []}},
            {"label": "motion", "box": [400, 20, 40, 60], "extra": {"object": 2}, "event": True},
            {"label": "qr", "box": [0, 0, 9, 9]},
        ]  # fmt: skip
        hub.feed("porch").offer(Result("porch", 1, time.time(), 640, 480, jpeg, seen, {}, "w"))
        camera = client.get("/api/cameras/porch").json
        assert camera["objects"] == {"motion": 2}, "the start event is not one more object"
        assert camera["occupancy"] == {"steps": {"motion": 1}}
        assert camera["config"]["zones"][0]["points"] == SQUARE
        scraped = client.get("/metrics").text
        assert 'rabbitcam_zone_objects{camera="porch",label="motion",zone="steps"} 1.0' in scraped
        assert 'rabbitcam_zone_objects{camera="porch",label="all",zone="steps"} 1.0' in scraped
        assert 'rabbitcam_objects{camera="porch",label="motion"} 2.0' in scraped
    finally:
        hub.close()


def test_a_counting_line_counts_each_crossing_by_direction():
    from detectors.scene_rules import Line

    # A vertical line at x = 300 drawn downwards: looking along it, its left is x > 300,
    # so walking to the right is "out", and back "in".
    gate = Line(name="gate", points=((300, 0), (300, 480)))
    rules = SceneRules(lines=(gate,))
    right = walking(60, start=(150, 200), step=(5, 0))  # feet from x = 180 to 475
    back = walking(60, start=(445, 200), step=(-5, 0))
    found = run(detectors.create("track"), right + [[]] * 30 + back, rules)
    crossed = events(found, "crossed")
    assert [d.extra["direction"] for d in crossed] == ["out", "in"]
    assert len({d.extra["object"] for d in crossed}) == 2, "the one who comes back is another"
    counts = [d.extra for _, d in found if d.label == "line"]
    assert counts[-1] == {"line": "gate", "in": 1, "out": 1}
    beam = Line(name="beam", points=((0, 100), (100, 100)))
    # Drawn left to right: from above it to below it is "in".
    assert beam.crossed((50, 0), (50, 200)) == "in" and beam.crossed((50, 200), (50, 0)) == "out"
    assert beam.crossed((150, 200), (150, 0)) is None, "past the line's end is no crossing"
    steps = [beam.crossed(a, b) for a, b in (((50, 90), (50, 100)), ((50, 100), (50, 110)))]
    assert steps.count(None) == 1, "feet stopping on the line are counted once"


def test_a_box_cut_short_for_a_frame_crosses_no_line():
    """A person half hidden for a frame gets a shorter box: its feet jump up by a
    fifth of their height, across a line and back. Lines are crossed by the middle
    of the last few feet, so that is no traffic; walking over the line still is."""
    from detectors.scene_rules import Line

    rules = SceneRules(lines=(Line(name="kerb", points=((0, 360), (640, 360))),))  # default margin
    standing = [[("person", (200, 380 - 160, 60, 160), 0.9)]] * 20  # feet 20 px below
    cut_short = [[("person", (200, 380 - 160, 60, 110), 0.9)]]  # feet 30 px above
    found = run(detectors.create("track"), standing + cut_short + standing, rules)
    assert events(found, "crossed") == []
    walking_up = [[("person", (200, y - 160, 60, 160), 0.9)] for y in range(380, 300, -4)]
    found = run(detectors.create("track"), standing + walking_up, rules)
    assert [d.extra["direction"] for d in events(found, "crossed")] == ["out"]


def test_feet_that_wobble_on_a_line_or_walk_along_it_are_not_traffic():
    """Before, every wobble of the feet across a counting line was a crossing (four
    times the truth on a pedestrian clip). Now feet count as across once they are
    ``margin`` of the person's height past it, and again only from the other side."""
    from detectors.scene_rules import Line

    beam = Line(name="beam", points=((0, 360), (640, 360)), margin=0.1)  # 16 px for a 160 px person
    rules = SceneRules(lines=(beam,))

    def feet_at(points: list[tuple[float, float]]) -> list:
        return [[("person", (x - 30, y - 160, 60, 160), 0.9)] for x, y in points]

    wobble = feet_at([(100 + 4 * i, 360 + (6 if i % 2 else -6)) for i in range(80)])
    assert events(run(detectors.create("track"), wobble, rules), "crossed") == []
    along = feet_at([(100 + 4 * i, 360 + 10 * ((i // 5) % 2 * 2 - 1)) for i in range(80)])
    assert events(run(detectors.create("track"), along, rules), "crossed") == []
    # Down across it, a step back over the line (12 px: not past the margin), down
    # again, then back up past it: one crossing each way.
    ys = [*range(300, 420, 4), *range(420, 348, -4), *range(348, 440, 4), *range(440, 280, -4)]
    found = run(detectors.create("track"), feet_at([(200, y) for y in ys]), rules)
    assert [d.extra["direction"] for d in events(found, "crossed")] == ["in", "out"]
    legacy = Line(name="beam", points=((0, 360), (640, 360)), margin=0)  # the step back counts too
    again = run(detectors.create("track"), feet_at([(200, y) for y in ys]),
                SceneRules(lines=(legacy,)))  # fmt: skip
    assert [d.extra["direction"] for d in events(again, "crossed")] == ["in", "out", "in", "out"]
