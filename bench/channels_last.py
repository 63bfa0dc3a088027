"""How much faster a training step of the default backbone is in channels-last memory layout (what
`pipeline.backbones.BackboneTrainer` trains in) than in PyTorch's default layout, on this machine.

    python bench/channels_last.py [--batch 32] [--imgsz 224] [--steps 5]

Prints seconds per step for both layouts and their ratio (>1: channels-last is faster). The frozen stages match
the recipe's `freeze: 5`; no data or network needed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from pipeline.backbones import BackboneClassifier  # noqa: E402


def seconds_per_step(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, steps: int) -> float:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)

    def step() -> None:
        optimizer.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()

    step()  # warm-up: oneDNN picks its kernels on the first call
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--imgsz", type=int, default=224)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    images = torch.randn(args.batch, 3, args.imgsz, args.imgsz)
    labels = torch.randint(0, 10, (args.batch,))
    timings = {}
    for layout in (torch.contiguous_format, torch.channels_last):
        model = BackboneClassifier("efficientnet-lite0", nc=10, verbose=False).train()
        for layer in list(model.model)[:5]:  # freeze: 5, as in the recipe
            for p in layer.parameters():
                p.requires_grad = False
        model = model.to(memory_format=layout)
        timings[layout] = seconds_per_step(model, images.contiguous(memory_format=layout), labels, args.steps)
    default, last = timings[torch.contiguous_format], timings[torch.channels_last]
    print(f"batch={args.batch} imgsz={args.imgsz} threads={torch.get_num_threads()}")
    print(f"default layout:  {default:.3f} s/step")
    print(f"channels-last:   {last:.3f} s/step")
    print(f"ratio={default / last:.2f}")


if __name__ == "__main__":
    main()
