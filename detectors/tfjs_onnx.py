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
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    try:
        model = json.loads(graph)
    except ValueError as error:
        raise ConversionError(f"not JSON: {error}") from None
    if not isinstance(model, dict) or model.get("format") != "graph-model":
        raise ConversionError("not a TF.js graph model")
    weights = read_weights(model, files)
    consts: dict[str, np.ndarray] = {}
    nodes: list[Any] = []
    initializers: list[Any] = []
    inputs: list[Any] = []
    counter = [0]

    def fresh(base: str) -> str:
        counter[0] += 1
        return f"{base}__{counter[0]}"

    def const_name(value: np.ndarray, base: str) -> str:
        name = fresh(base)
        initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def ref(name: str) -> str:
        """An input of a node: a computed tensor, or a constant turned initializer."""
        name = name.split("^")[-1]
        clean = name[:-2] if name.endswith(":0") else name
        if clean in consts:
            return const_name(consts[clean], clean.replace("/", "_"))
        return clean

    def value_of(name: str) -> np.ndarray | None:
        clean = name[:-2] if name.endswith(":0") else name
        return consts.get(clean)

    def add(op: str, ins: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, ins, [out], **attrs))
        return out

    def transposed(name: str, perm: list[int]) -> str:
        return add("Transpose", [name], fresh(name), perm=perm)

    handlers: dict[str, Callable[[dict, str], None]] = {}

    def conv(node: dict, out: str) -> None:
        x, w = node["input"][0], node["input"][1]
        kernel = value_of(w)
        if kernel is None or _attr(node, "padding") != "VALID":
            raise ConversionError(f"{node['name']}: only constant kernels, VALID padding")
        if _attr(node, "data_format", "NHWC") != "NHWC" or _attr(node, "dilations") not in (
            None, [1, 1, 1, 1]):  # fmt: skip
            raise ConversionError(f"{node['name']}: only NHWC, no dilation")
        strides = _attr(node, "strides")[1:3]
        onnx_kernel = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))  # HWIO -> OIHW
        x_nchw = transposed(ref(x), NHWC_TO_NCHW)
        y = add("Conv", [x_nchw, const_name(onnx_kernel, "kernel")], fresh(out), strides=strides)
        add("Transpose", [y], out, perm=NCHW_TO_NHWC)

    def maxpool(node: dict, out: str) -> None:
        if _attr(node, "padding") != "VALID" or _attr(node, "data_format", "NHWC") != "NHWC":
            raise ConversionError(f"{node['name']}: only NHWC VALID pooling")
        x = transposed(ref(node["input"][0]), NHWC_TO_NCHW)
        y = add("MaxPool", [x], fresh(out), kernel_shape=_attr(node, "ksize")[1:3],
                strides=_attr(node, "strides")[1:3])  # fmt: skip
        add("Transpose", [y], out, perm=NCHW_TO_NHWC)

    def pad(node: dict, out: str) -> None:
        paddings = value_of(node["input"][1])
        if paddings is None:
            raise ConversionError(f"{node['name']}: paddings must be constant")
        pads = np.concatenate([paddings[:, 0], paddings[:, 1]]).astype(np.int64)
        ins = [ref(node["input"][0]), const_name(pads, "pads")]
        if len(node["input"]) > 2:
            ins.append(const_name(np.asarray(value_of(node["input"][2]), np.float32).reshape(()),
                                  "pad_value"))  # fmt: skip
        add("Pad", ins, out, mode="constant")

    def transpose(node: dict, out: str) -> None:
        perm = value_of(node["input"][1])
        add("Transpose", [ref(node["input"][0])], out, perm=[int(p) for p in perm])

    def binary(op: str) -> Callable[[dict, str], None]:
        return lambda node, out: add(op, [ref(i) for i in node["input"][:2]], out)

    def concat(node: dict, out: str) -> None:
        count = _attr(node, "N")
        axis = int(value_of(node["input"][count]))
        add("Concat", [ref(i) for i in node["input"][:count]], out, axis=axis)

    def reshape(node: dict, out: str) -> None:
        shape = value_of(node["input"][1])
        add("Reshape", [ref(node["input"][0]), const_name(shape.astype(np.int64), "shape")], out)

    def split(node: dict, out: str) -> None:
        sizes = value_of(node["input"][1]).astype(np.int64)
        axis = int(value_of(node["input"][2]))
        outs = [out] + [f"{out}:{k}" for k in range(1, len(sizes))]
        ins = [ref(node["input"][0]), const_name(sizes, "split")]
        nodes.append(helper.make_node("Split", ins, outs, axis=axis))

    def resize(node: dict, out: str) -> None:
        size = value_of(node["input"][1])
        if size is None or not _attr(node, "half_pixel_centers") or _attr(node, "align_corners"):
            raise ConversionError(f"{node['name']}: only constant sizes, half-pixel centres")
        x = transposed(ref(node["input"][0]), NHWC_TO_NCHW)
        sizes_name = fresh("sizes")
        shape_name = fresh("shape")
        add("Shape", [x], shape_name)
        head = add("Slice", [shape_name, const_name(np.array([0], np.int64), "s"),
                             const_name(np.array([2], np.int64), "e")], fresh("head"))  # fmt: skip
        add("Concat", [head, const_name(size.astype(np.int64), "hw")], sizes_name, axis=0)
        y = add("Resize", [x, "", "", sizes_name], fresh(out), mode="linear",
                coordinate_transformation_mode="half_pixel")  # fmt: skip
        add("Transpose", [y], out, perm=NCHW_TO_NHWC)

    def unary(op: str, **attrs: Any) -> Callable[[dict, str], None]:
        return lambda node, out: add(op, [ref(node["input"][0])], out, **attrs)

    handlers.update({
        "Conv2D": conv, "MaxPool": maxpool, "Pad": pad, "PadV2": pad, "Transpose": transpose,
        "Add": binary("Add"), "AddV2": binary("Add"), "Mul": binary("Mul"),
        "ConcatV2": concat, "Reshape": reshape, "SplitV": split, "ResizeBilinear": resize,
        "Sigmoid": unary("Sigmoid"), "Relu": unary("Relu"), "Identity": unary("Identity"),
    })  # fmt: skip

    for node in model["modelTopology"]["node"]:
        op, name = node["op"], node["name"]
        if op == "Const":
            consts[name] = weights[name] if name in weights else _const_attr(node)
            continue
        if op == "Placeholder":
            dims = [int(d.get("size", -1)) for d in node["attr"]["shape"]["shape"]["dim"]]
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
            continue
        values = [value_of(i) for i in node.get("input", [])]
        if node.get("input") and all(v is not None for v in values):
            consts[name] = _fold(op, node, values)  # type: ignore[arg-type]
            continue
        if op == "LeakyRelu":
            add("LeakyRelu", [ref(node["input"][0])], name, alpha=float(_attr(node, "alpha", 0.2)))
            continue
        handler = handlers.get(op)
        if handler is None:
            raise ConversionError(f"op {op} ({name}) is not translated")
        handler(node, name)

    outputs_spec = model["signature"]["outputs"]
    outputs = []
    for key in sorted(outputs_spec):
        tensor = key[:-2] if key.endswith(":0") else key
        dims = [int(d["size"]) for d in outputs_spec[key]["tensorShape"]["dim"]]
        outputs.append(helper.make_tensor_value_info(tensor, TensorProto.FLOAT, dims))
    onnx_graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    onnx_model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx_model.ir_version = 8
    onnx.checker.check_model(onnx_model)
    return onnx_model.SerializeToString()


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
