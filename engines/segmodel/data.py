"""Loader for `segstream synth --out DIR` datasets (YouTube-VIS JSON + PNG frames + RLE).

Everything is loaded into memory at the model's input size (256x256 for the default bundle): frames as uint8,
instance masks as bool. Original RLEs stay available for evaluation at frame size.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pycocotools import mask as mask_utils

from .config import CLASS_NAMES


@dataclass
class Video:
    vid: int
    width: int
    height: int
    frames: torch.Tensor            # [F, 3, S, S] uint8 at model input size
    masks: torch.Tensor             # [A, F, S, S] bool, visible masks (False when absent)
    classes: torch.Tensor           # [A] 0-based class index
    track_ids: list = field(default_factory=list)    # annotation ids
    rles: list = field(default_factory=list)         # [A][F] COCO RLE dict or None
    file_names: list = field(default_factory=list)


def load_frame(path: Path, size: int) -> torch.Tensor:
    img = Image.open(path).convert("RGB")
    if img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)


def resize_mask(m: np.ndarray, size: int) -> torch.Tensor:
    """Area-resize a binary mask and threshold at 0.5 (keeps thin parts better than nearest)."""
    t = torch.from_numpy(m.astype(np.float32))
    if t.shape != (size, size):
        t = F.interpolate(t[None, None], size=(size, size), mode="area")[0, 0]
    return t >= 0.5


def decode_rle(rle) -> np.ndarray:
    if isinstance(rle["counts"], str):
        rle = {"size": rle["size"], "counts": rle["counts"].encode()}
    return mask_utils.decode(rle)


def check_categories(cats):
    names = [c["name"] for c in sorted(cats, key=lambda c: c["id"])]
    if names != CLASS_NAMES:
        raise ValueError(f"dataset classes {names} differ from the model's {CLASS_NAMES}")


def frame_window(vid: int, n_f: int, window: int | None, seed: int) -> range:
    """The frames of a video to keep: all, or `window` consecutive ones at an offset drawn
    from (seed, video id). Why: many short windows of many worlds give more distinct
    objects per GiB of memory than whole videos of few worlds, while offsets spread over
    the video keep its later states (entries, exits, drifted light) in the training set."""
    if not window or window >= n_f:
        return range(n_f)
    start = int(np.random.default_rng([seed, vid]).integers(0, n_f - window + 1))
    return range(start, start + window)


def load_dataset(root: Path, size: int = 256, max_videos: int | None = None,
                 window: int | None = None, seed: int = 0) -> list[Video]:
    root = Path(root)
    ann = json.loads((root / "annotations.json").read_text())
    check_categories(ann["categories"])
    by_video = {}
    for a in ann["annotations"]:
        by_video.setdefault(a["video_id"], []).append(a)
    videos = []
    for v in ann["videos"][:max_videos]:
        keep = frame_window(v["id"], len(v["file_names"]), window, seed)
        frames = torch.stack([load_frame(root / v["file_names"][f], size) for f in keep])
        anns = [a for a in by_video.get(v["id"], [])
                if any(a["segmentations"][f] is not None for f in keep)]
        masks = torch.zeros(len(anns), len(keep), size, size, dtype=torch.bool)
        for ai, a in enumerate(anns):
            for fi, f in enumerate(keep):
                rle = a["segmentations"][f]
                if rle is not None:
                    masks[ai, fi] = resize_mask(decode_rle(rle), size)
        videos.append(Video(
            vid=v["id"], width=v["width"], height=v["height"], frames=frames, masks=masks,
            classes=torch.tensor([a["category_id"] - 1 for a in anns], dtype=torch.long),
            track_ids=[a["id"] for a in anns],
            rles=[[a["segmentations"][f] for f in keep] for a in anns],
            file_names=[v["file_names"][f] for f in keep]))
    return videos
