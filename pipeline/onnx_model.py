"""The trained classifier as ONNX, run by onnxruntime: the one inference path of evaluate, the pyfunc and predict.

Ultralytics' own ONNX export keeps only the softmax; this one exports the same network with two outputs, the
logits (what a temperature scales) and the penultimate-layer embedding (what nearest-neighbour look-ups use), and
writes the class names and input size into the file's metadata, so an `.onnx` file is a self-describing model.
Inputs are preprocessed by `pipeline.images` exactly as Ultralytics' classify transforms do; `tests/test_onnx_model.py`
shows both paths give the same probabilities.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipeline.images import ImageInput, UnreadableImage, model_inputs
from pipeline.io import DataError, atomic_path
from pipeline.records import TrainRun, train_run_path

OPSET = 17


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _exportable(model):
    """An `nn.Module` over an Ultralytics `ClassificationModel` that returns `(logits, embedding)`."""
    import torch
    from torch import nn

    class LogitsAndEmbedding(nn.Module):
        def __init__(self, classifier):
            super().__init__()
            self.classifier = classifier

        def forward(self, x):
            layers, saved = self.classifier.model, []
            for layer in layers[:-1]:  # Ultralytics' own routing (`f`, `save`), as in `_predict_once`
                if layer.f != -1:
                    x = saved[layer.f] if isinstance(layer.f, int) else [x if j == -1 else saved[j] for j in layer.f]
                x = layer(x)
                saved.append(x if layer.i in self.classifier.save else None)
            head = layers[-1]
            if isinstance(x, list):
                x = torch.cat(x, 1)
            embedding = head.pool(head.conv(x)).flatten(1)
            return head.linear(embedding), embedding

    return LogitsAndEmbedding(model).float().eval()


def _static_same_padding(net, imgsz: int) -> None:
    """Replace timm's TF-"SAME" convolutions (padding computed from the input size at run time) by the same
    convolution after a fixed zero pad, for the one input size the export takes: onnxruntime then fuses each pad into
    its convolution, where a run-time Pad breaks its blocked-layout chain with reorders (~30% of CPU time)."""
    import torch
    import torch.nn.functional as F
    from timm.layers.conv2d_same import Conv2dSame
    from timm.layers.padding import pad_same_arg
    from torch import nn

    class PaddedConv(nn.Module):
        def __init__(self, conv: nn.Conv2d, pads: list[int]):
            super().__init__()
            self.conv, self.pads = conv, tuple(int(p) for p in pads)

        def forward(self, x):
            c = self.conv
            return F.conv2d(F.pad(x, self.pads), c.weight, c.bias, c.stride, 0, c.dilation, c.groups)

    sizes: dict[str, torch.Size] = {}
    hooks = []
    for name, module in net.named_modules():
        if isinstance(module, Conv2dSame):
            hooks.append(
                module.register_forward_pre_hook(lambda m, args, name=name: sizes.__setitem__(name, args[0].shape[-2:]))
            )
    with torch.no_grad():
        net(torch.zeros(1, 3, imgsz, imgsz))
    for hook in hooks:
        hook.remove()
    for name, size in sizes.items():
        parent_name, _, child = name.rpartition(".")
        parent, conv = net.get_submodule(parent_name), net.get_submodule(name)
        pads = pad_same_arg(list(size), list(conv.weight.shape[-2:]), list(conv.stride), list(conv.dilation))
        setattr(parent, child, PaddedConv(conv, pads))


def _fold_pads_into_convs(path: Path) -> None:
    """Constant-fold the graph (onnxruntime's basic, hardware-independent optimizations), then make each constant
    zero Pad that feeds one Conv that Conv's own asymmetric padding: onnxruntime's blocked-layout convolutions pad
    natively, where a separate Pad costs a third of the CPU time of EfficientNet-Lite."""
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(path)
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    proto = onnx.load(str(path))
    graph = proto.graph
    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for pad in [n for n in graph.node if n.op_type == "Pad"]:
        pads = constants.get(pad.input[1])
        mode = next((a.s for a in pad.attribute if a.name == "mode"), b"constant")
        consumers = [n for n in graph.node if pad.output[0] in n.input]
        value = constants.get(pad.input[2]) if len(pad.input) > 2 and pad.input[2] else None
        if (
            pads is None or mode != b"constant" or (value is not None and value.any()) or len(pads) != 8
            or pads[[0, 1, 4, 5]].any() or len(consumers) != 1 or consumers[0].op_type != "Conv"
        ):  # fmt: skip
            continue
        conv = consumers[0]
        top, left, bottom, right = next((list(a.ints) for a in conv.attribute if a.name == "pads"), [0, 0, 0, 0])
        merged = [top + int(pads[2]), left + int(pads[3]), bottom + int(pads[6]), right + int(pads[7])]
        kept = [a for a in conv.attribute if a.name != "pads"]
        del conv.attribute[:]
        conv.attribute.extend([*kept, helper.make_attribute("pads", merged)])
        conv.input[0] = pad.input[0]
        graph.node.remove(pad)
    used = {name for node in graph.node for name in node.input}
    for initializer in [i for i in graph.initializer if i.name not in used]:  # the folded pads' amounts
        graph.initializer.remove(initializer)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def export(weights: Path, target: Path) -> Path:
    """Ultralytics classification weights → `target` (ONNX, dynamic batch; names and imgsz in its metadata)."""
    import onnx
    import torch

    from pipeline import offline

    yolo = offline.ultralytics().YOLO(str(weights), task="classify")
    names = [yolo.names[i] for i in range(len(yolo.names))]
    imgsz = int(yolo.model.args["imgsz"])
    net = _exportable(yolo.model)
    _static_same_padding(net, imgsz)
    dummy = torch.zeros(1, 3, imgsz, imgsz)
    with atomic_path(target) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Constant folding")  # the exporter's notes on Slice steps
        torch.onnx.export(
            net, (dummy,), str(tmp), input_names=["images"], output_names=["logits", "embedding"],
            dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}, "embedding": {0: "batch"}},
            opset_version=OPSET, dynamo=False,
        )  # fmt: skip
        _fold_pads_into_convs(tmp)
        proto = onnx.load(str(tmp))
        for key, value in {"names": json.dumps(names), "imgsz": str(imgsz), "source": Path(weights).name}.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(tmp))
    return Path(target)


def session(path: Path):
    """An onnxruntime session on every core (the GPU first where onnxruntime has one)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    available = ort.get_available_providers()
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
        raise DataError(f"{path}: not a loadable ONNX model ({str(exc).splitlines()[0]})") from None


def trained(task: str) -> tuple[TrainRun, OnnxClassifier]:
    """train@<task>'s record and the ONNX export(s) it lists."""
    run = TrainRun.of(task)
    if not run.onnx:
        raise DataError(f"{train_run_path(task)}: no ONNX export listed (run train@{task} again)")
    return run, OnnxClassifier(run.onnx_files())


class OnnxClassifier:
    """One or more exported classifiers over the same classes (an ensemble answers with their mean probabilities)."""

    def __init__(self, models: Sequence[str | Path]):
        if not models:
            raise ValueError("an ONNX classifier needs at least one model file")
        self.paths = [Path(m) for m in models]
        self.sessions = [session(p) for p in self.paths]
        meta = [s.get_modelmeta().custom_metadata_map for s in self.sessions]
        if any("names" not in m or "imgsz" not in m for m in meta):
            raise DataError(f"{self.paths[0]}: no class names or imgsz in its metadata (not exported by this project)")
        self.names: list[str] = json.loads(meta[0]["names"])
        self.imgsz = int(meta[0]["imgsz"])
        for path, m in zip(self.paths[1:], meta[1:]):
            if json.loads(m["names"]) != self.names or int(m["imgsz"]) != self.imgsz:
                raise DataError(f"{path}: its classes or input size differ from those of {self.paths[0]}")

    def run(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`(probabilities, embedding)` of a `(n, 3, imgsz, imgsz)` batch: the members' mean softmax, member 0's
        embedding."""
        probs: list[np.ndarray] = []
        embedding: np.ndarray | None = None
        for i, member in enumerate(self.sessions):
            logits, features = member.run(None, {"images": inputs})
            probs.append(softmax(logits.astype(np.float64)))
            embedding = features if i == 0 else embedding
        assert embedding is not None  # __init__ refuses an empty list of models
        return np.mean(probs, axis=0), embedding

    def batches(
        self, sources: Sequence[ImageInput], batch: int, progress: str | None = None
    ) -> Iterator[tuple[list[UnreadableImage | None], np.ndarray, np.ndarray]]:
        """Per batch of `sources`, in order: each source's verdict (`None` or the `UnreadableImage` that says why
        it was skipped), then the probabilities and embeddings of its readable ones. A caller that streams them
        holds one batch at a time, whatever the number of sources."""
        threads = min(4, os.cpu_count() or 1)
        with tqdm(total=len(sources), desc=progress, unit="img", disable=progress is None) as bar:
            for items in model_inputs(sources, self.imgsz, batch, threads):
                good = [x for x in items if not isinstance(x, UnreadableImage)]
                verdicts = [x if isinstance(x, UnreadableImage) else None for x in items]
                if good:
                    yield verdicts, *self.run(np.stack(good))
                else:
                    yield verdicts, np.zeros((0, len(self.names))), np.zeros((0, 0), dtype=np.float32)
                bar.update(len(items))

    def readable_batches(
        self, sources: Sequence[ImageInput], batch: int, progress: str | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """`batches` of sources that must all be readable: `(probabilities, embeddings)` per batch; the first
        unreadable one is an error naming it."""
        start = 0
        for verdicts, probs, vectors in self.batches(sources, batch, progress):
            for source, verdict in zip(sources[start : start + len(verdicts)], verdicts):
                if verdict is not None:
                    name = source if isinstance(source, Path) else "an input image"
                    raise DataError(f"{name}: {verdict}")
            start += len(verdicts)
            yield probs, vectors

    def classify(
        self, sources: Sequence[ImageInput], batch: int, progress: str | None = None
    ) -> tuple[np.ndarray, np.ndarray, list[UnreadableImage | None]]:
        """Probabilities and embeddings of every readable source (rows in `sources` order, readable ones only), and
        per source `None` or the `UnreadableImage` that says why it was skipped."""
        probs, embeddings, verdicts = [], [], []
        for batch_verdicts, p, e in self.batches(sources, batch, progress):
            verdicts += batch_verdicts
            if len(p):
                probs.append(p)
                embeddings.append(e)
        empty = np.zeros((0, len(self.names)))
        return (
            np.concatenate(probs) if probs else empty,
            np.concatenate(embeddings) if embeddings else np.zeros((0, 0), dtype=np.float32),
            verdicts,
        )

    def probabilities(self, sources: Sequence[ImageInput], batch: int, progress: str | None = None) -> np.ndarray:
        """`(len(sources), n_classes)` in `self.names` order; every source must be a readable image. Only the
        probabilities are kept, a batch at a time: an embedding is 5 KB a picture."""
        parts = [probs for probs, _ in self.readable_batches(sources, batch, progress)]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.names)))
