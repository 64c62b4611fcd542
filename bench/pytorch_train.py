#!/usr/bin/python3
"""pytorch_train.py — the PyTorch (Python) side of bench/train_throughput.sh.

Trains the architecture of a cellcam run (its config.json "model" layer table, rebuilt here layer by
layer, so both sides run the same network) on the same files, with the same batch size, input size,
optimizer and thread count, and a DataLoader that decodes the PNGs with PIL in worker processes.
Prints one JSON line: images/s per epoch and the share of step time spent waiting for data.
Debian's python3-torch 1.13.1 shares LibTorch's kernels, so the ratio measures the two pipelines.
"""
import argparse, json, os, time

import numpy as np
import torch
import torch.nn as nn
from PIL import Image


def build(layers, channels, size):
    """nn.Module from cellcam's layer table (see shared/include/cellcam/model_spec.h)."""
    mods, shape = [], [channels, size, size]
    for l in layers:
        t = l["type"]
        if t == "conv":
            mods.append(nn.Conv2d(shape[0], l["out"], l["kernel"], l["stride"], l["padding"], bias=l["bias"]))
            shape = [l["out"], (shape[1] + 2 * l["padding"] - l["kernel"]) // l["stride"] + 1,
                     (shape[2] + 2 * l["padding"] - l["kernel"]) // l["stride"] + 1]
        elif t == "batch_norm":
            mods.append(nn.BatchNorm2d(shape[0]) if len(shape) == 3 else nn.BatchNorm1d(shape[0]))
        elif t == "relu":
            mods.append(nn.ReLU())
        elif t == "leaky_relu":
            mods.append(nn.LeakyReLU(l["slope"]))
        elif t in ("max_pool", "avg_pool"):
            mods.append((nn.MaxPool2d if t == "max_pool" else nn.AvgPool2d)(l["kernel"], l["stride"]))
            shape = [shape[0], (shape[1] - l["kernel"]) // l["stride"] + 1, (shape[2] - l["kernel"]) // l["stride"] + 1]
        elif t == "global_avg_pool":
            mods.append(GlobalAvgPool())
            shape = [shape[0]]
        elif t == "flatten":
            mods.append(nn.Flatten())
            shape = [shape[0] * shape[1] * shape[2]] if len(shape) == 3 else shape
        elif t == "dense":
            mods.append(nn.Linear(shape[0], l["out"], bias=l["bias"]))
            shape = [l["out"]]
        elif t == "dropout":
            mods.append(nn.Dropout(l["p"]))
        elif t == "squeeze_excite":
            mods.append(SqueezeExcite(shape[0], l["ratio"]))
        else:
            raise SystemExit(f"layer type {t} is not in this benchmark's builder")
    return nn.Sequential(*mods), shape[0]


class GlobalAvgPool(nn.Module):
    def forward(self, x):
        return x.mean((2, 3))


class SqueezeExcite(nn.Module):
    def __init__(self, c, ratio):
        super().__init__()
        h = max(1, c // ratio)
        self.reduce, self.expand = nn.Linear(c, h), nn.Linear(h, c)

    def forward(self, x):
        g = torch.sigmoid(self.expand(torch.relu(self.reduce(x.mean((2, 3))))))
        return x * g[:, :, None, None]


class Files(torch.utils.data.Dataset):
    """Decode, letterbox-free resize (bilinear), flips, normalise: the work cellcam's loader does."""

    def __init__(self, items, size):
        self.items, self.size = items, size

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path, label = self.items[i]
        img = Image.open(path).convert("RGB").resize((self.size, self.size), Image.BILINEAR)
        x = np.asarray(img, dtype=np.float32) / 255.0
        if np.random.rand() < 0.5:
            x = x[:, ::-1]
        if np.random.rand() < 0.5:
            x = x[::-1]
        x = (x - 0.5) / 0.25
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))), label


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True, help="a cellcam run folder (config.json + split.csv)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    config = json.load(open(os.path.join(a.run, "config.json")))
    model_spec, settings = config["model"], config["settings"]
    classes, size = model_spec["classes"], model_spec["preprocess"]["width"]
    items = []
    for line in open(os.path.join(a.run, "split.csv")).read().splitlines()[1:]:
        path, label, _group, part = line.rsplit(",", 3)
        if part == "train":
            items.append((path.strip('"'), classes.index(label.strip('"'))))
    features, width = build(model_spec["architecture"]["layers"], 3, size)
    binary = model_spec["head"] == "binary"
    net = nn.Sequential(features, nn.Linear(width, 1 if binary else len(classes)))
    opt = torch.optim.Adam(net.parameters(), lr=settings["lr"])
    loader = torch.utils.data.DataLoader(Files(items, size), batch_size=settings["batch_size"], shuffle=True,
                                         num_workers=a.workers, persistent_workers=a.workers > 0)
    rows = []
    for epoch in range(a.epochs):
        net.train()
        seen, wait, start = 0, 0.0, time.perf_counter()
        it = iter(loader)
        while True:
            t0 = time.perf_counter()
            try:
                x, y = next(it)
            except StopIteration:
                break
            wait += time.perf_counter() - t0
            opt.zero_grad()
            out = net(x)
            loss = (nn.functional.binary_cross_entropy_with_logits(out.squeeze(1), y.float()) if binary
                    else nn.functional.cross_entropy(out, y))
            loss.backward()
            opt.step()
            seen += len(y)
        seconds = time.perf_counter() - start
        rows.append({"epoch": epoch + 1, "images_per_second": seen / seconds, "data_wait_share": wait / seconds})
    print(json.dumps({"torch": torch.__version__, "threads": a.threads, "workers": a.workers, "epochs": rows}))


if __name__ == "__main__":
    main()
