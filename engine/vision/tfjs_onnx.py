"""Convert a TensorFlow.js graph model (``model.json`` + weight shards) into an ONNX model.

Only what the shipped detectors use is supported; an unknown op raises ``TfjsConversionError`` naming it. Layout: TF
tensors stay NHWC; convolutions and pooling are wrapped in transposes to ONNX's NCHW (onnxruntime cancels the
back-to-back pairs). Nodes whose inputs are all constants are folded with numpy, so shape arithmetic left in the graph
(``SparseToDense``, ``Cast`` of constants...) never reaches ONNX.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 18
_DTYPES = {
    "DT_FLOAT": np.float32,
    "DT_INT32": np.int32,
    "DT_INT64": np.int64,
    "DT_BOOL": np.bool_,
    "DT_UINT8": np.uint8,
}
_MANIFEST_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_QUANTISED = {"float16": np.float16, "uint8": np.uint8, "uint16": np.uint16}


class TfjsConversionError(ValueError):
    """The TF.js graph uses something this converter does not handle."""


def read_weights(model_dir: Path, manifest: list[dict]) -> dict[str, np.ndarray]:
    """Decode every weight of a TF.js weights manifest, de-quantising float16/uint8/uint16 entries to float32."""
    out: dict[str, np.ndarray] = {}
    for group in manifest:
        buffer = b"".join((model_dir / path).read_bytes() for path in group["paths"])
        offset = 0
        for spec in group["weights"]:
            shape = [int(d) for d in spec["shape"]]
            count = int(np.prod(shape, dtype=np.int64))
            quant = spec.get("quantization")
            if quant:
                stored = _QUANTISED.get(quant["dtype"])
                if stored is None:
                    raise TfjsConversionError(f"weight {spec['name']}: unsupported quantisation {quant['dtype']!r}")
                raw = np.frombuffer(buffer, stored, count, offset)
                offset += count * np.dtype(stored).itemsize
                if stored is np.float16:
                    value = raw.astype(np.float32)
                else:
                    value = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
                if spec["dtype"] == "int32":
                    value = np.round(value).astype(np.int32)
            else:
                dtype = _MANIFEST_DTYPES.get(spec["dtype"])
                if dtype is None:
                    raise TfjsConversionError(f"weight {spec['name']}: unsupported dtype {spec['dtype']!r}")
                value = np.frombuffer(buffer, dtype, count, offset).copy()
                offset += count * np.dtype(dtype).itemsize
            if offset > len(buffer):
                raise TfjsConversionError(f"weight {spec['name']} runs past the end of the weight shards")
            out[spec["name"]] = value.reshape(shape)
    return out


def _attr(node: dict, name: str, default=None):
    value = node.get("attr", {}).get(name)
    if value is None:
        return default
    if "s" in value:
        return base64.b64decode(value["s"]).decode()
    if "i" in value:
        return int(value["i"])
    if "f" in value:
        return float(value["f"])
    if "b" in value:
        return bool(value["b"])
    if "type" in value:
        return value["type"]
    if "list" in value:
        items = value["list"]
        if "i" in items:
            return [int(v) for v in items["i"]]
        if "s" in items:
            return [base64.b64decode(v).decode() for v in items["s"]]
        if "f" in items:
            return [float(v) for v in items["f"]]
        return []
    return default


def _ref(name: str) -> tuple[str, int]:
    node, _, index = name.partition(":")
    return node, int(index or 0)


class _Builder:
    def __init__(self, nodes: list[dict], weights: dict[str, np.ndarray]):
        self.nodes = {node["name"]: node for node in nodes}
        self.weights = weights
        self.values: dict[tuple[str, int], str | np.ndarray] = {}
        self.onnx_nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.nchw: dict[str, str] = {}  # NHWC value -> the NCHW value it was transposed from
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}__{self._count}"

    def emit(self, op: str, inputs: list[str], hint: str, outputs: int = 1, **attrs) -> list[str]:
        names = [self.fresh(hint) for _ in range(outputs)]
        self.onnx_nodes.append(helper.make_node(op, inputs, names, name=names[0], **attrs))
        return names

    def const(self, value: np.ndarray, hint: str = "const") -> str:
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def name_of(self, value: str | np.ndarray, dtype=None) -> str:
        if isinstance(value, np.ndarray):
            return self.const(value.astype(dtype) if dtype is not None else value)
        return value

    def to_nchw(self, value: str) -> str:
        if value in self.nchw:
            return self.nchw[value]
        return self.emit("Transpose", [value], "nchw", perm=[0, 3, 1, 2])[0]

    def to_nhwc(self, value: str) -> str:
        out = self.emit("Transpose", [value], "nhwc", perm=[0, 2, 3, 1])[0]
        self.nchw[out] = value
        return out

    def get(self, ref: str):
        key = _ref(ref)
        if key not in self.values:
            self.visit(key[0])
        if key not in self.values:
            raise TfjsConversionError(f"node {key[0]!r} has no output {key[1]}")
        return self.values[key]

    def visit(self, name: str) -> None:
        # Iterative depth-first walk: these graphs are deeper than Python's recursion limit allows.
        stack = [name]
        while stack:
            current = stack[-1]
            if (current, 0) in self.values:
                stack.pop()
                continue
            node = self.nodes.get(current)
            if node is None:
                raise TfjsConversionError(f"graph refers to a missing node {current!r}")
            pending = [
                _ref(i)[0]
                for i in node.get("input", [])
                if not i.startswith("^") and (_ref(i)[0], 0) not in self.values
            ]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            self.convert(node)

    def convert(self, node: dict) -> None:
        op = node["op"]
        args = [self.values[_ref(i)] for i in node.get("input", []) if not i.startswith("^")]
        name = node["name"]
        if op == "Const":
            if name not in self.weights:
                raise TfjsConversionError(f"constant {name!r} has no weights in the manifest")
            dtype = _DTYPES.get(_attr(node, "dtype"))
            value = self.weights[name]
            self.values[(name, 0)] = value.astype(dtype) if dtype is not None else value
            return
        if op == "Placeholder":
            dims = [int(d["size"]) for d in node["attr"]["shape"]["shape"]["dim"]]
            dtype = _DTYPES[_attr(node, "dtype")]
            elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
            self.inputs.append(helper.make_tensor_value_info(name, elem, [d if d >= 0 else None for d in dims]))
            self.values[(name, 0)] = name
            return
        if all(isinstance(a, np.ndarray) for a in args) and op in _FOLD:
            outputs = _FOLD[op](node, *args)
            for index, value in enumerate(outputs):
                self.values[(name, index)] = np.asarray(value)
            return
        handler = _OPS.get(op)
        if handler is None:
            raise TfjsConversionError(f"unsupported TF.js op {op!r} (node {name!r})")
        outputs = handler(self, node, args)
        for index, value in enumerate(outputs):
            self.values[(name, index)] = value


# ---- numpy folding of constant subgraphs ---------------------------------------------------------------------------


def _tdtype(node: dict, key: str = "T"):
    return _DTYPES.get(_attr(node, key))


def _fold_sparse_to_dense(node, indices, shape, values, default):
    out = np.full(shape.astype(np.int64), default, dtype=_tdtype(node) or values.dtype)
    idx = indices.astype(np.int64)
    idx = idx.reshape(-1, 1) if idx.ndim < 2 else idx
    for position, value in zip(idx, np.broadcast_to(values, (len(idx),)), strict=True):
        out[tuple(position)] = value
    return [out]


def _fold_binary(fn):
    def fold(node, a, b):
        dtype = _tdtype(node)
        result = fn(a.astype(dtype) if dtype else a, b.astype(dtype) if dtype else b)
        return [result.astype(dtype) if dtype else result]

    return fold


def _fold_strided_slice(node, x, begin, end, strides):
    index = []
    shrink = _attr(node, "shrink_axis_mask", 0)
    if _attr(node, "ellipsis_mask", 0) or _attr(node, "new_axis_mask", 0):
        raise TfjsConversionError(f"StridedSlice {node['name']!r}: ellipsis/new-axis masks are not supported")
    for axis, (b, e, s) in enumerate(zip(begin.tolist(), end.tolist(), strides.tolist(), strict=True)):
        if shrink >> axis & 1:
            index.append(b)
            continue
        b = None if _attr(node, "begin_mask", 0) >> axis & 1 else b
        e = None if _attr(node, "end_mask", 0) >> axis & 1 else e
        index.append(slice(b, e, s))
    return [np.asarray(x[tuple(index)])]


_FOLD: dict[str, Callable] = {
    "Identity": lambda node, x: [x],
    "Cast": lambda node, x: [x.astype(_tdtype(node, "DstT"))],
    "Reshape": lambda node, x, shape: [x.reshape(shape.astype(np.int64))],
    "ConcatV2": lambda node, *xs: [np.concatenate(xs[:-1], axis=int(xs[-1]))],
    "Pack": lambda node, *xs: [np.stack(xs, axis=_attr(node, "axis", 0))],
    "ExpandDims": lambda node, x, axis: [np.expand_dims(x, int(axis))],
    "Squeeze": lambda node, x: [np.squeeze(x, axis=tuple(_attr(node, "squeeze_dims", [])) or None)],
    "Transpose": lambda node, x, perm: [np.transpose(x, perm)],
    "StridedSlice": _fold_strided_slice,
    "SparseToDense": _fold_sparse_to_dense,
    "Add": _fold_binary(np.add),
    "AddV2": _fold_binary(np.add),
    "Sub": _fold_binary(np.subtract),
    "Mul": _fold_binary(np.multiply),
    "RealDiv": _fold_binary(np.divide),
    "FloorDiv": _fold_binary(np.floor_divide),
    "Maximum": _fold_binary(np.maximum),
    "Minimum": _fold_binary(np.minimum),
}


# ---- ONNX emitters --------------------------------------------------------------------------------------------------


def _conv(b: _Builder, node: dict, args: list) -> list[str]:
    op = node["op"]
    if _attr(node, "data_format", "NHWC") != "NHWC":
        raise TfjsConversionError(f"{op} {node['name']!r}: only NHWC convolutions are supported")
    x, kernel = args[0], args[1]
    if not isinstance(kernel, np.ndarray):
        raise TfjsConversionError(f"{op} {node['name']!r}: the filter must be a constant")
    kh, kw = kernel.shape[:2]
    depthwise = "Depthwise" in op
    if depthwise:  # H, W, C, multiplier -> C*multiplier, 1, H, W
        channels, multiplier = kernel.shape[2:]
        weight = kernel.reshape(kh, kw, channels * multiplier).transpose(2, 0, 1)[:, None]
        group = channels
    else:  # H, W, I, O -> O, I, H, W
        weight = kernel.transpose(3, 2, 0, 1)
        group = 1
    strides = _attr(node, "strides", [1, 1, 1, 1])[1:3]
    dilations = _attr(node, "dilations", [1, 1, 1, 1])[1:3]
    attrs: dict = {"strides": strides, "dilations": dilations, "group": group, "kernel_shape": [kh, kw]}
    padding = _attr(node, "padding", "VALID")
    if padding == "SAME":
        attrs["auto_pad"] = "SAME_UPPER"
    elif padding == "EXPLICIT":
        pads = _attr(node, "explicit_paddings")
        attrs["pads"] = [pads[2], pads[4], pads[3], pads[5]]
    inputs = [b.to_nchw(b.name_of(x)), b.const(weight.astype(np.float32), "weight")]
    fused = _attr(node, "fused_ops", []) if op.startswith("Fused") or op.startswith("_Fused") else []
    extra = args[2:]
    if fused and fused[0] == "BiasAdd":
        inputs.append(b.const(np.asarray(extra[0], np.float32).reshape(-1), "bias"))
        fused, extra = fused[1:], extra[1:]
    out = b.emit("Conv", inputs, "conv", **attrs)[0]
    for fused_op in fused:
        out = _activation(b, node, fused_op, out, extra, _attr(node, "leakyrelu_alpha", 0.2))
    return [b.to_nhwc(out)]


def _activation(b: _Builder, node: dict, op: str, x: str, extra: list, alpha: float) -> str:
    if op == "Relu":
        return b.emit("Relu", [x], "relu")[0]
    if op == "Relu6":
        return b.emit("Clip", [x, b.const(np.float32(0)), b.const(np.float32(6))], "relu6")[0]
    if op == "LeakyRelu":
        return b.emit("LeakyRelu", [x], "leaky", alpha=alpha)[0]
    if op == "Sigmoid":
        return b.emit("Sigmoid", [x], "sigmoid")[0]
    if op == "Elu":
        return b.emit("Elu", [x], "elu")[0]
    if op == "Prelu":  # alpha per channel, applied on the NCHW conv output
        slope = np.asarray(extra[0], np.float32).reshape(-1, 1, 1)
        return b.emit("PRelu", [x, b.const(slope)], "prelu")[0]
    raise TfjsConversionError(f"node {node['name']!r}: unsupported fused op {op!r}")


def _unary(onnx_op: str, **attrs):
    def handler(b: _Builder, node: dict, args: list) -> list[str]:
        return [b.emit(onnx_op, [b.name_of(args[0])], onnx_op.lower(), **attrs)[0]]

    return handler


def _single_activation(op: str):
    def handler(b: _Builder, node: dict, args: list) -> list[str]:
        return [_activation(b, node, op, b.name_of(args[0]), [], _attr(node, "alpha", 0.2))]

    return handler


def _binary(onnx_op: str):
    def handler(b: _Builder, node: dict, args: list) -> list[str]:
        dtype = _tdtype(node)
        return [b.emit(onnx_op, [b.name_of(a, dtype) for a in args[:2]], onnx_op.lower())[0]]

    return handler


def _floor_div(b: _Builder, node: dict, args: list) -> list[str]:
    dtype = _tdtype(node)
    quotient = b.emit("Div", [b.name_of(a, dtype) for a in args], "div")[0]
    if dtype is not None and np.issubdtype(dtype, np.floating):
        return [b.emit("Floor", [quotient], "floor")[0]]
    return [quotient]  # the graphs only divide non-negative integers, where truncation equals floor


def _squared_difference(b: _Builder, node: dict, args: list) -> list[str]:
    diff = b.emit("Sub", [b.name_of(a, np.float32) for a in args], "diff")[0]
    return [b.emit("Mul", [diff, diff], "square")[0]]


def _const_arg(node: dict, value, what: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise TfjsConversionError(f"{node['op']} {node['name']!r}: {what} must be a constant")
    return value


def _concat(b: _Builder, node: dict, args: list) -> list[str]:
    axis = int(_const_arg(node, args[-1], "the axis"))
    dtype = _tdtype(node)
    return [b.emit("Concat", [b.name_of(a, dtype) for a in args[:-1]], "concat", axis=axis)[0]]


def _reshape(b: _Builder, node: dict, args: list) -> list[str]:
    shape = _const_arg(node, args[1], "the shape").astype(np.int64)
    return [b.emit("Reshape", [b.name_of(args[0]), b.const(shape)], "reshape")[0]]


def _transpose(b: _Builder, node: dict, args: list) -> list[str]:
    perm = [int(p) for p in _const_arg(node, args[1], "the permutation")]
    return [b.emit("Transpose", [b.name_of(args[0])], "transpose", perm=perm)[0]]


def _pad(b: _Builder, node: dict, args: list) -> list[str]:
    pads = _const_arg(node, args[1], "the paddings").astype(np.int64)
    inputs = [b.name_of(args[0]), b.const(np.concatenate([pads[:, 0], pads[:, 1]]))]
    if node["op"] == "PadV2":
        inputs.append(b.name_of(np.asarray(args[2]).reshape(()), _tdtype(node)))
    return [b.emit("Pad", inputs, "pad", mode="constant")[0]]


def _pool(b: _Builder, node: dict, args: list) -> list[str]:
    ksize = _attr(node, "ksize")[1:3]
    attrs: dict = {"kernel_shape": ksize, "strides": _attr(node, "strides")[1:3]}
    if _attr(node, "padding") == "SAME":
        attrs["auto_pad"] = "SAME_UPPER"
    onnx_op = "MaxPool" if node["op"] == "MaxPool" else "AveragePool"
    if onnx_op == "AveragePool":
        attrs["count_include_pad"] = 0
    out = b.emit(onnx_op, [b.to_nchw(b.name_of(args[0]))], "pool", **attrs)[0]
    return [b.to_nhwc(out)]


def _resize(b: _Builder, node: dict, args: list) -> list[str]:
    size = _const_arg(node, args[1], "the output size").astype(np.int64)
    bilinear = node["op"] == "ResizeBilinear"
    if _attr(node, "align_corners", False):
        mode = "align_corners"
    elif _attr(node, "half_pixel_centers", False):
        mode = "half_pixel" if bilinear else "tf_half_pixel_for_nn"
    else:
        mode = "asymmetric"
    attrs: dict = {"mode": "linear" if bilinear else "nearest", "coordinate_transformation_mode": mode}
    if not bilinear:
        attrs["nearest_mode"] = "round_prefer_ceil" if mode == "align_corners" else "floor"
    x = b.to_nchw(b.name_of(args[0]))
    out = b.emit("Resize", [x, "", "", b.const(size)], "resize", axes=[2, 3], **attrs)[0]
    return [b.to_nhwc(out)]


def _split_v(b: _Builder, node: dict, args: list) -> list[str]:
    sizes = _const_arg(node, args[1], "the split sizes").astype(np.int64)
    axis = int(_const_arg(node, args[2], "the axis"))
    return b.emit("Split", [b.name_of(args[0]), b.const(sizes)], "split", outputs=len(sizes), axis=axis)


def _split(b: _Builder, node: dict, args: list) -> list[str]:
    axis = int(_const_arg(node, args[0], "the axis"))
    count = _attr(node, "num_split")
    return b.emit("Split", [b.name_of(args[1])], "split", outputs=count, axis=axis, num_outputs=count)


def _softmax(b: _Builder, node: dict, args: list) -> list[str]:
    return [b.emit("Softmax", [b.name_of(args[0])], "softmax", axis=-1)[0]]


def _reduce(onnx_op: str):
    def handler(b: _Builder, node: dict, args: list) -> list[str]:
        axes = np.atleast_1d(_const_arg(node, args[1], "the axes")).astype(np.int64)
        keep = int(bool(_attr(node, "keep_dims", False)))
        return [b.emit(onnx_op, [b.name_of(args[0]), b.const(axes)], onnx_op.lower(), keepdims=keep)[0]]

    return handler


def _cast(b: _Builder, node: dict, args: list) -> list[str]:
    to = helper.np_dtype_to_tensor_dtype(np.dtype(_tdtype(node, "DstT")))
    return [b.emit("Cast", [b.name_of(args[0])], "cast", to=to)[0]]


def _expand_dims(b: _Builder, node: dict, args: list) -> list[str]:
    axis = np.atleast_1d(_const_arg(node, args[1], "the axis")).astype(np.int64)
    return [b.emit("Unsqueeze", [b.name_of(args[0]), b.const(axis)], "unsqueeze")[0]]


def _squeeze(b: _Builder, node: dict, args: list) -> list[str]:
    dims = _attr(node, "squeeze_dims", [])
    inputs = [b.name_of(args[0])] + ([b.const(np.asarray(dims, np.int64))] if dims else [])
    return [b.emit("Squeeze", inputs, "squeeze")[0]]


def _pack(b: _Builder, node: dict, args: list) -> list[str]:
    axis = _attr(node, "axis", 0)
    dtype = _tdtype(node)
    parts = [
        b.emit("Unsqueeze", [b.name_of(a, dtype), b.const(np.asarray([axis], np.int64))], "unsqueeze")[0] for a in args
    ]
    return [b.emit("Concat", parts, "pack", axis=axis)[0]]


def _unpack(b: _Builder, node: dict, args: list) -> list[str]:
    axis, count = _attr(node, "axis", 0), _attr(node, "num")
    parts = b.emit("Split", [b.name_of(args[0])], "unpack", outputs=count, axis=axis, num_outputs=count)
    squeeze_axis = b.const(np.asarray([axis], np.int64))
    return [b.emit("Squeeze", [part, squeeze_axis], "unpacked")[0] for part in parts]


def _argmax(b: _Builder, node: dict, args: list) -> list[str]:
    axis = int(_const_arg(node, args[1], "the dimension"))
    out = b.emit("ArgMax", [b.name_of(args[0])], "argmax", axis=axis, keepdims=0)[0]
    if _attr(node, "output_type", "DT_INT64") == "DT_INT32":
        out = b.emit("Cast", [out], "cast", to=TensorProto.INT32)[0]
    return [out]


def _gather_nd(b: _Builder, node: dict, args: list) -> list[str]:
    indices = b.name_of(args[1], np.int64)
    if not isinstance(args[1], np.ndarray):
        indices = b.emit("Cast", [indices], "cast", to=TensorProto.INT64)[0]
    return [b.emit("GatherND", [b.name_of(args[0]), indices], "gathernd")[0]]


def _gather(b: _Builder, node: dict, args: list) -> list[str]:
    axis = int(_const_arg(node, args[2], "the axis"))
    return [b.emit("Gather", [b.name_of(args[0]), b.name_of(args[1])], "gather", axis=axis)[0]]


def _strided_slice(b: _Builder, node: dict, args: list) -> list[str]:
    begin, end, strides = (_const_arg(node, a, "slice bounds").astype(np.int64) for a in args[1:4])
    if _attr(node, "ellipsis_mask", 0) or _attr(node, "new_axis_mask", 0):
        raise TfjsConversionError(f"StridedSlice {node['name']!r}: ellipsis/new-axis masks are not supported")
    big = np.iinfo(np.int64).max
    starts, ends, shrink = [], [], []
    for axis in range(len(begin)):
        step = strides[axis]
        start = begin[axis] if not _attr(node, "begin_mask", 0) >> axis & 1 else (0 if step > 0 else -1)
        if _attr(node, "shrink_axis_mask", 0) >> axis & 1:
            stop = start + 1 if start != -1 else big
            shrink.append(axis)
        elif _attr(node, "end_mask", 0) >> axis & 1:
            stop = big if step > 0 else -big
        else:
            stop = end[axis]
        starts.append(start)
        ends.append(stop)
    inputs = [b.name_of(args[0])] + [b.const(np.asarray(v, np.int64)) for v in (starts, ends)]
    inputs += [b.const(np.arange(len(begin), dtype=np.int64)), b.const(strides)]
    out = b.emit("Slice", inputs, "slice")[0]
    if shrink:
        out = b.emit("Squeeze", [out, b.const(np.asarray(shrink, np.int64))], "shrink")[0]
    return [out]


def _identity(b: _Builder, node: dict, args: list) -> list:
    return [args[0]]


_OPS: dict[str, Callable] = {
    "Identity": _identity,
    "Conv2D": _conv,
    "_FusedConv2D": _conv,
    "DepthwiseConv2dNative": _conv,
    "FusedDepthwiseConv2dNative": _conv,
    "BiasAdd": _binary("Add"),
    "Add": _binary("Add"),
    "AddV2": _binary("Add"),
    "Sub": _binary("Sub"),
    "Mul": _binary("Mul"),
    "RealDiv": _binary("Div"),
    "Maximum": _binary("Max"),
    "Minimum": _binary("Min"),
    "FloorDiv": _floor_div,
    "SquaredDifference": _squared_difference,
    "Relu": _single_activation("Relu"),
    "Relu6": _single_activation("Relu6"),
    "LeakyRelu": _single_activation("LeakyRelu"),
    "Sigmoid": _single_activation("Sigmoid"),
    "Elu": _single_activation("Elu"),
    "Sqrt": _unary("Sqrt"),
    "Exp": _unary("Exp"),
    "Tanh": _unary("Tanh"),
    "ConcatV2": _concat,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Pad": _pad,
    "PadV2": _pad,
    "MaxPool": _pool,
    "AvgPool": _pool,
    "ResizeBilinear": _resize,
    "ResizeNearestNeighbor": _resize,
    "SplitV": _split_v,
    "Split": _split,
    "Softmax": _softmax,
    "Mean": _reduce("ReduceMean"),
    "Sum": _reduce("ReduceSum"),
    "Max": _reduce("ReduceMax"),
    "Cast": _cast,
    "ExpandDims": _expand_dims,
    "Squeeze": _squeeze,
    "Pack": _pack,
    "Unpack": _unpack,
    "ArgMax": _argmax,
    "GatherNd": _gather_nd,
    "GatherV2": _gather,
    "StridedSlice": _strided_slice,
}


def signature_outputs(spec: dict) -> list[dict]:
    """The output entries (name, dtype, tensorShape) of a parsed TF.js ``model.json``."""
    signature = spec.get("signature") or spec.get("userDefinedMetadata", {}).get("signature", {})
    return list(signature.get("outputs", {}).values())


def convert(model_json: Path, outputs: list[str] | None = None) -> onnx.ModelProto:
    """The ONNX form of a TF.js graph model; ``outputs`` are TF tensor names (default: the model's signature)."""
    model_json = Path(model_json)
    spec = json.loads(model_json.read_text())
    if spec.get("format") != "graph-model":
        raise TfjsConversionError(f"{model_json} is not a TF.js graph model (format {spec.get('format')!r})")
    weights = read_weights(model_json.parent, spec["weightsManifest"])
    builder = _Builder(spec["modelTopology"]["node"], weights)
    if outputs is None:
        outputs = sorted(entry["name"] for entry in signature_outputs(spec))
    if not outputs:
        raise TfjsConversionError(f"{model_json} names no outputs")
    graph_outputs = []
    declared = {entry["name"]: entry for entry in signature_outputs(spec)}
    for ref in outputs:
        value = builder.get(ref)
        name = ref.replace(":", "_")
        if isinstance(value, np.ndarray):
            value = builder.const(value)
        builder.onnx_nodes.append(helper.make_node("Identity", [value], [name], name=f"out_{name}"))
        entry = declared.get(ref, {})
        elem = helper.np_dtype_to_tensor_dtype(np.dtype(_DTYPES[entry.get("dtype", "DT_FLOAT")]))
        dims = [int(d["size"]) for d in entry.get("tensorShape", {}).get("dim", [])]
        shape = [d if d >= 0 else None for d in dims] if dims else None
        graph_outputs.append(helper.make_tensor_value_info(name, elem, shape))
    graph = helper.make_graph(builder.onnx_nodes, model_json.stem, builder.inputs, graph_outputs, builder.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="omnistream")
    model.ir_version = 9
    _fill_output_shapes(model)
    onnx.checker.check_model(model)
    return model


def _fill_output_shapes(model: onnx.ModelProto) -> None:
    """Give outputs the signature did not describe the shapes ONNX shape inference finds for them."""
    inferred = {v.name: v.type for v in onnx.shape_inference.infer_shapes(model).graph.value_info}
    sources = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Identity"}
    for output in model.graph.output:
        if not output.type.tensor_type.HasField("shape"):
            found = inferred.get(sources.get(output.name, ""))
            if found is None:
                raise TfjsConversionError(f"cannot infer the shape of output {output.name!r}")
            output.type.CopyFrom(found)
