"""A TensorFlow.js graph model (``model.json`` + its weight files) as an ONNX model,
translated op by op, with no TensorFlow.

Only what the graphs this project fetches use is translated (convolutions,
pooling, activations, padding, concatenation, splitting, reshaping, resizing);
any other op is a clear error. Constant parts of the graph (the arithmetic
TensorFlow's converters leave behind to compute shapes and paddings) are
evaluated here with numpy, so the ONNX graph holds only the network itself.
TensorFlow's NHWC convolutions and pools become ONNX's NCHW ones between
transposes, which onnxruntime's optimiser cancels out where they meet.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import numpy as np

DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
NHWC_TO_NCHW = [0, 3, 1, 2]
NCHW_TO_NHWC = [0, 2, 3, 1]


class ConversionError(ValueError):
    """A graph this translator does not handle (an op it does not know, a bad file)."""


def read_weights(model: dict[str, Any], files: dict[str, bytes]) -> dict[str, np.ndarray]:
    """Every weight of the manifest, as float32/int32 arrays (float16 and uint8
    quantised weights expanded); ``files``: the weight files' bytes by their path."""
    weights: dict[str, np.ndarray] = {}
    for group in model["weightsManifest"]:
        missing = [path for path in group["paths"] if path not in files]
        if missing:
            raise ConversionError(f"weight files missing: {', '.join(missing)}")
        data = b"".join(files[path] for path in group["paths"])
        offset = 0
        for spec in group["weights"]:
            shape = [int(n) for n in spec["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quantized = spec.get("quantization")
            if quantized:
                stored = np.dtype(quantized["dtype"])
                raw = np.frombuffer(data, stored, count, offset)
                offset += count * stored.itemsize
                if quantized["dtype"] == "float16":
                    values = raw.astype(np.float32)
                else:  # uint8/uint16: affine
                    values = raw.astype(np.float32) * quantized["scale"] + quantized["min"]
            else:
                dtype = np.dtype(DTYPES[spec["dtype"]])
                values = np.frombuffer(data, dtype, count, offset)
                offset += count * dtype.itemsize
            weights[spec["name"]] = values.reshape(shape).astype(DTYPES[spec["dtype"]])
        if offset != len(data):
            raise ConversionError(f"weights: {len(data) - offset} bytes left over")
    return weights


def _attr(node: dict, key: str, default: Any = None) -> Any:
    value = node.get("attr", {}).get(key)
    if value is None:
        return default
    if "list" in value:
        return [int(i) for i in value["list"].get("i", [])]
    if "s" in value:
        return base64.b64decode(value["s"]).decode()
    for kind in ("i", "f", "b"):
        if kind in value:
            return int(value[kind]) if kind == "i" else value[kind]
    return default


def _fold(op: str, node: dict, inputs: list[np.ndarray]) -> np.ndarray:
    """A constant node's value, evaluated in numpy (the ops converters leave for shapes)."""
    if op in ("Identity", "Cast"):
        return inputs[0]
    if op in ("Add", "AddV2"):
        return inputs[0] + inputs[1]
    if op == "Sub":
        return inputs[0] - inputs[1]
    if op == "Mul":
        return inputs[0] * inputs[1]
    if op == "SparseToDense":
        indices, shape, values, default = inputs
        dense = np.full(shape.astype(int), default, dtype=values.dtype)
        rows = np.atleast_2d(indices)
        for index, value in zip(rows, np.broadcast_to(values, len(rows)), strict=True):
            dense[tuple(index)] = value
        return dense
    raise ConversionError(f"cannot evaluate constant op {op} ({node['name']})")


def convert(graph: bytes, files: dict[str, bytes], name: str = "model", opset: int = 13) -> bytes:
    """The serialised ONNX model of a TF.js graph model: its ``model.json`` bytes and
    its weight files' bytes by the paths the manifest names."""
    try:
        model = json.loads(graph)
    except ValueError as error:
        raise ConversionError(f"not JSON: {error}") from None
    if not isinstance(model, dict) or model.get("format") != "graph-model":
        raise ConversionError("not a TF.js graph model")
    return _Translator(read_weights(model, files)).translate(model, name, opset)


def _plain(name: str) -> str:
    """A tensor's name as nodes refer to it: control inputs (``^x``) and ``:0`` dropped."""
    name = name.split("^")[-1]
    return name[:-2] if name.endswith(":0") else name


class _Translator:
    """One graph's translation: constants folded, every other node written as ONNX."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.weights = weights
        self.consts: dict[str, np.ndarray] = {}
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.inputs: list[Any] = []
        self.count = 0
        self.ops: dict[str, Callable[[dict, str], None]] = {
            "Conv2D": self.conv, "MaxPool": self.maxpool, "Pad": self.pad, "PadV2": self.pad,
            "Transpose": self.transpose, "ConcatV2": self.concat, "Reshape": self.reshape,
            "SplitV": self.split, "ResizeBilinear": self.resize, "LeakyRelu": self.leaky_relu,
            "Add": self.elementwise("Add"), "AddV2": self.elementwise("Add"),
            "Mul": self.elementwise("Mul"), "Sigmoid": self.elementwise("Sigmoid"),
            "Relu": self.elementwise("Relu"), "Identity": self.elementwise("Identity"),
        }  # fmt: skip

    def translate(self, model: dict, name: str, opset: int) -> bytes:
        import onnx
        from onnx import TensorProto

        for node in model["modelTopology"]["node"]:
            self.node(node)
        outputs = []
        for key, spec in sorted(model["signature"]["outputs"].items()):
            dims = [int(d["size"]) for d in spec["tensorShape"]["dim"]]
            outputs.append(self.helper.make_tensor_value_info(_plain(key), TensorProto.FLOAT, dims))
        graph = self.helper.make_graph(self.nodes, name, self.inputs, outputs, self.initializers)
        onnx_model = self.helper.make_model(
            graph, opset_imports=[self.helper.make_opsetid("", opset)]
        )
        onnx_model.ir_version = 8
        onnx.checker.check_model(onnx_model)
        return onnx_model.SerializeToString()

    def node(self, node: dict) -> None:
        from onnx import TensorProto

        op, name = node["op"], node["name"]
        if op == "Const":
            self.consts[name] = self.weights[name] if name in self.weights else _const_attr(node)
            return
        if op == "Placeholder":
            dims = [int(d.get("size", -1)) for d in node["attr"]["shape"]["shape"]["dim"]]
            self.inputs.append(self.helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
            return
        values = [self.value_of(i) for i in node.get("input", [])]
        if node.get("input") and all(v is not None for v in values):
            self.consts[name] = _fold(op, node, values)  # type: ignore[arg-type]
            return
        handler = self.ops.get(op)
        if handler is None:
            raise ConversionError(f"op {op} ({name}) is not translated")
        handler(node, name)

    # --- names and constants ----------------------------------------------------------

    def fresh(self, base: str) -> str:
        self.count += 1
        return f"{base}__{self.count}"

    def constant(self, value: np.ndarray, base: str) -> str:
        name = self.fresh(base)
        self.initializers.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def value_of(self, name: str) -> np.ndarray | None:
        return self.consts.get(_plain(name))

    def ref(self, name: str) -> str:
        """An input of a node: a computed tensor, or a constant made an initializer."""
        plain = _plain(name)
        if plain in self.consts:
            return self.constant(self.consts[plain], plain.replace("/", "_"))
        return plain

    def add(self, op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [out], **attrs))
        return out

    def nchw(self, name: str) -> str:
        return self.add("Transpose", [name], self.fresh(name), perm=NHWC_TO_NCHW)

    def constant_input(self, node: dict, index: int, what: str) -> np.ndarray:
        value = self.value_of(node["input"][index])
        if value is None:
            raise ConversionError(f"{node['name']}: {what} must be constant")
        return value

    # --- ops ----------------------------------------------------------------------------

    def conv(self, node: dict, out: str) -> None:
        kernel = self.constant_input(node, 1, "the kernel")
        if _attr(node, "padding") != "VALID" or _attr(node, "data_format", "NHWC") != "NHWC":
            raise ConversionError(f"{node['name']}: only NHWC convolutions, VALID padding")
        if _attr(node, "dilations") not in (None, [1, 1, 1, 1]):
            raise ConversionError(f"{node['name']}: no dilation")
        weights = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))  # HWIO -> OIHW
        inputs = [self.nchw(self.ref(node["input"][0])), self.constant(weights, "kernel")]
        y = self.add("Conv", inputs, self.fresh(out), strides=_attr(node, "strides")[1:3])
        self.add("Transpose", [y], out, perm=NCHW_TO_NHWC)

    def maxpool(self, node: dict, out: str) -> None:
        if _attr(node, "padding") != "VALID" or _attr(node, "data_format", "NHWC") != "NHWC":
            raise ConversionError(f"{node['name']}: only NHWC pooling, VALID padding")
        window, strides = _attr(node, "ksize")[1:3], _attr(node, "strides")[1:3]
        x = self.nchw(self.ref(node["input"][0]))
        y = self.add("MaxPool", [x], self.fresh(out), kernel_shape=window, strides=strides)
        self.add("Transpose", [y], out, perm=NCHW_TO_NHWC)

    def pad(self, node: dict, out: str) -> None:
        paddings = self.constant_input(node, 1, "paddings")
        pads = np.concatenate([paddings[:, 0], paddings[:, 1]]).astype(np.int64)
        inputs = [self.ref(node["input"][0]), self.constant(pads, "pads")]
        if len(node["input"]) > 2:
            fill = np.asarray(self.constant_input(node, 2, "the fill"), np.float32).reshape(())
            inputs.append(self.constant(fill, "fill"))
        self.add("Pad", inputs, out, mode="constant")

    def transpose(self, node: dict, out: str) -> None:
        perm = self.constant_input(node, 1, "the permutation")
        self.add("Transpose", [self.ref(node["input"][0])], out, perm=[int(p) for p in perm])

    def concat(self, node: dict, out: str) -> None:
        count = _attr(node, "N")
        axis = int(self.constant_input(node, count, "the axis"))
        self.add("Concat", [self.ref(i) for i in node["input"][:count]], out, axis=axis)

    def reshape(self, node: dict, out: str) -> None:
        shape = self.constant(self.constant_input(node, 1, "the shape").astype(np.int64), "shape")
        self.add("Reshape", [self.ref(node["input"][0]), shape], out)

    def split(self, node: dict, out: str) -> None:
        sizes = self.constant_input(node, 1, "the sizes").astype(np.int64)
        axis = int(self.constant_input(node, 2, "the axis"))
        outs = [out] + [f"{out}:{k}" for k in range(1, len(sizes))]
        inputs = [self.ref(node["input"][0]), self.constant(sizes, "split")]
        self.nodes.append(self.helper.make_node("Split", inputs, outs, axis=axis))

    def resize(self, node: dict, out: str) -> None:
        size = self.constant_input(node, 1, "the size")
        if not _attr(node, "half_pixel_centers") or _attr(node, "align_corners"):
            raise ConversionError(f"{node['name']}: only half-pixel centres")
        x = self.nchw(self.ref(node["input"][0]))
        shape = self.add("Shape", [x], self.fresh("shape"))
        batch_and_channels = self.add("Slice", [shape, self.constant(np.array([0], np.int64), "s"),
                                                self.constant(np.array([2], np.int64), "e")],
                                      self.fresh("nc"))  # fmt: skip
        sizes = self.add("Concat", [batch_and_channels, self.constant(size.astype(np.int64), "hw")],
                         self.fresh("sizes"), axis=0)  # fmt: skip
        y = self.add("Resize", [x, "", "", sizes], self.fresh(out), mode="linear",
                     coordinate_transformation_mode="half_pixel")  # fmt: skip
        self.add("Transpose", [y], out, perm=NCHW_TO_NHWC)

    def leaky_relu(self, node: dict, out: str) -> None:
        alpha = float(_attr(node, "alpha", 0.2))
        self.add("LeakyRelu", [self.ref(node["input"][0])], out, alpha=alpha)

    def elementwise(self, op: str) -> Callable[[dict, str], None]:
        """An op whose inputs map one to one (Add, Mul, Sigmoid, Relu, Identity)."""

        def write(node: dict, out: str) -> None:
            arity = 1 if op in ("Sigmoid", "Relu", "Identity") else 2
            self.add(op, [self.ref(i) for i in node["input"][:arity]], out)

        return write


def _const_attr(node: dict) -> np.ndarray:
    """A Const whose value is in the graph itself (small shapes and axes)."""
    tensor = node["attr"]["value"]["tensor"]
    dtype = tensor.get("dtype", "DT_FLOAT")
    kind = {"DT_FLOAT": np.float32, "DT_INT32": np.int32, "DT_INT64": np.int64}[dtype]
    dims = [int(d.get("size", 1)) for d in tensor.get("tensorShape", {}).get("dim", [])]
    for key in ("intVal", "floatVal", "int64Val"):
        if key in tensor:
            values = np.array(tensor[key], dtype=kind)
            return np.broadcast_to(values, dims).copy() if dims else values.reshape(())
    return np.zeros(dims, kind)
