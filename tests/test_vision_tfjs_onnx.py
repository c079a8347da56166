"""The TF.js -> ONNX converter on small hand-built graphs, checked against the same arithmetic in numpy."""

from __future__ import annotations

import base64
import json

import numpy as np
import onnxruntime as ort
import pytest

from engine.vision.tfjs_onnx import TfjsConversionError, convert


def s(text: str) -> dict:
    return {"s": base64.b64encode(text.encode()).decode()}


def ints(values) -> dict:
    return {"list": {"i": [str(v) for v in values]}}


def write_model(folder, nodes, weights, outputs, input_shape):
    """model.json + one shard; ``weights`` maps name -> (array, quantisation dtype or None)."""
    blobs, manifest = [], []
    for name, (value, quant) in weights.items():
        entry = {"name": name, "shape": list(value.shape), "dtype": "int32" if value.dtype == np.int32 else "float32"}
        if quant == "float16":
            blobs.append(value.astype(np.float16).tobytes())
            entry["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
        elif quant == "uint8":
            lo, hi = float(value.min()), float(value.max())
            scale = (hi - lo) / 255
            blobs.append(np.round((value - lo) / scale).astype(np.uint8).tobytes())
            entry["quantization"] = {"dtype": "uint8", "min": lo, "scale": scale, "original_dtype": "float32"}
        else:
            blobs.append(value.tobytes())
        manifest.append(entry)
    (folder / "group1-shard1of1.bin").write_bytes(b"".join(blobs))
    placeholder = {
        "name": "input",
        "op": "Placeholder",
        "attr": {"dtype": {"type": "DT_FLOAT"}, "shape": {"shape": {"dim": [{"size": str(d)} for d in input_shape]}}},
    }
    consts = [{"name": name, "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}}} for name in weights]
    for const, (value, _) in zip(consts, weights.values(), strict=True):
        if value.dtype == np.int32:
            const["attr"]["dtype"] = {"type": "DT_INT32"}
    spec = {
        "format": "graph-model",
        "modelTopology": {"node": [placeholder, *consts, *nodes]},
        "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": manifest}],
        "signature": {"outputs": {o: {"name": o, "dtype": "DT_FLOAT"} for o in outputs}},
    }
    path = folder / "model.json"
    path.write_text(json.dumps(spec))
    return path


def run(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})


def conv_nhwc(x, kernel, stride=1):
    """SAME-padded NHWC convolution with an HWIO kernel, in plain numpy."""
    kh, kw = kernel.shape[:2]
    n, h, w, _ = x.shape
    oh, ow = -(-h // stride), -(-w // stride)
    pad_h = max((oh - 1) * stride + kh - h, 0)
    pad_w = max((ow - 1) * stride + kw - w, 0)
    padded = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    out = np.zeros((n, oh, ow, kernel.shape[3]), np.float64)
    for i in range(oh):
        for j in range(ow):
            patch = padded[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return out


def test_fused_conv_bias_relu_concat_depthwise_pool_matches_numpy(tmp_path):
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
    bias = rng.normal(size=4).astype(np.float32)
    dw = rng.normal(size=(3, 3, 4, 1)).astype(np.float32)
    nodes = [
        {
            "name": "conv",
            "op": "_FusedConv2D",
            "input": ["input", "kernel", "bias"],
            "attr": {
                "strides": ints([1, 2, 2, 1]),
                "padding": s("SAME"),
                "data_format": s("NHWC"),
                "dilations": ints([1, 1, 1, 1]),
                "fused_ops": {"list": {"s": [s("BiasAdd")["s"], s("Relu")["s"]]}},
                "num_args": {"i": "1"},
            },
        },
        {
            "name": "dw",
            "op": "DepthwiseConv2dNative",
            "input": ["conv", "dw_kernel"],
            "attr": {"strides": ints([1, 1, 1, 1]), "padding": s("SAME"), "data_format": s("NHWC")},
        },
        {
            "name": "pool",
            "op": "MaxPool",
            "input": ["dw"],
            "attr": {"ksize": ints([1, 2, 2, 1]), "strides": ints([1, 2, 2, 1]), "padding": s("VALID")},
        },
        {"name": "up", "op": "ResizeNearestNeighbor", "input": ["pool", "size"], "attr": {}},
        {"name": "cat", "op": "ConcatV2", "input": ["conv", "up", "axis"], "attr": {"T": {"type": "DT_FLOAT"}}},
        {"name": "flat", "op": "Reshape", "input": ["cat", "shape"], "attr": {}},
        {"name": "out", "op": "Sigmoid", "input": ["flat"], "attr": {}},
    ]
    weights = {
        "kernel": (kernel, "float16"),
        "bias": (bias, None),
        "dw_kernel": (dw, "uint8"),
        "size": (np.array([4, 4], np.int32), None),
        "axis": (np.array(3, np.int32), None),
        "shape": (np.array([1, -1], np.int32), None),
    }
    path = write_model(tmp_path, nodes, weights, ["out:0"], (1, 8, 8, 3))
    x = rng.normal(size=(1, 8, 8, 3)).astype(np.float32)
    (got,) = run(convert(path), x)

    k16 = kernel.astype(np.float16).astype(np.float64)
    lo, scale = float(dw.min()), (float(dw.max()) - float(dw.min())) / 255
    dw_q = np.round((dw - lo) / scale) * scale + lo
    conv = np.maximum(conv_nhwc(x, k16, stride=2) + bias, 0)  # (1, 4, 4, 4)
    depthwise = np.concatenate([conv_nhwc(conv[..., c : c + 1], dw_q[:, :, c : c + 1, :]) for c in range(4)], axis=3)
    pooled = depthwise.reshape(1, 2, 2, 2, 2, 4).max(axis=(2, 4))
    up = pooled.repeat(2, axis=1).repeat(2, axis=2)  # nearest 2x, asymmetric: each pixel copied right and down
    want = 1 / (1 + np.exp(-np.concatenate([conv, up], axis=3).reshape(1, -1)))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_constant_shape_arithmetic_is_folded(tmp_path):
    nodes = [
        {"name": "shape", "op": "AddV2", "input": ["base", "delta"], "attr": {"T": {"type": "DT_INT32"}}},
        {"name": "out", "op": "Reshape", "input": ["input", "shape"], "attr": {}},
    ]
    weights = {"base": (np.array([1, 2], np.int32), None), "delta": (np.array([0, 4], np.int32), None)}
    path = write_model(tmp_path, nodes, weights, ["out:0"], (1, 2, 3))
    model = convert(path)
    assert [n.op_type for n in model.graph.node] == ["Reshape", "Identity"]
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    np.testing.assert_array_equal(run(model, x)[0], x.reshape(1, 6))


def test_unknown_op_is_named(tmp_path):
    nodes = [{"name": "odd", "op": "Cumprod", "input": ["input"], "attr": {}}]
    path = write_model(tmp_path, nodes, {}, ["odd:0"], (1, 3))
    with pytest.raises(TfjsConversionError, match="Cumprod"):
        convert(path)
