"""QR codes and barcodes (EAN, UPC, Code 128, …) with their decoded text."""

from __future__ import annotations

import cv2
import numpy as np

from declared.blocks import setting
from detectors.base import Detection, Detector, FrameContext, Params, register, scaled


class CodesParams(Params):
    scale: float = setting(
        1.0, "work on a frame scaled by this factor (speed vs. small codes)", 0.2, 1.0
    )
    barcodes: bool = setting(True, "also read 1-D barcodes (EAN, UPC, Code 128, ...)")


@register
class CodesDetector(Detector):
    name = "codes"
    labels = ("qr", "barcode")
    description = (
        "QR codes and barcodes with their text (label 'qr' or 'barcode', text in extra.text)"
    )
    Params = CodesParams

    def __init__(self, params: CodesParams) -> None:
        super().__init__(params)
        # The ArUco-based QR detector finds codes faster and more reliably than
        # the classic one on camera pictures (measured on the synthetic source).
        self.reader = cv2.QRCodeDetectorAruco()
        self.barcode_reader = cv2.barcode.BarcodeDetector() if params.barcodes else None

    def detect(self, image: np.ndarray, context: FrameContext) -> list[Detection]:
        scale = self.params.scale
        gray = scaled(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), scale)
        found, texts, corners, _ = self.reader.detectAndDecodeMulti(gray)
        detections = []
        if found and corners is not None:
            detections += _decoded("qr", texts, corners, scale, [None] * len(texts))
        if self.barcode_reader is not None:
            found, texts, kinds, corners = self.barcode_reader.detectAndDecodeWithType(gray)
            if found and corners is not None:
                detections += _decoded("barcode", texts, corners, scale, kinds)
        return detections


def _decoded(label: str, texts, corners, scale: float, kinds) -> list[Detection]:
    detections = []
    for text, quad, kind in zip(texts, corners, kinds, strict=False):
        if not text:
            continue  # located but unreadable: nothing trustworthy to report
        points = np.asarray(quad, dtype=np.float32) / scale
        x, y, w, h = cv2.boundingRect(points.astype(np.int32))
        extra = {"text": text} if kind is None else {"text": text, "type": kind}
        detections.append(Detection(label, 1.0, (x, y, w, h), extra))
    return detections
