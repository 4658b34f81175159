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


def load_dataset(root: Path, size: int = 256, max_videos: int | None = None) -> list[Video]:
    root = Path(root)
    ann = json.loads((root / "annotations.json").read_text())
    check_categories(ann["categories"])
    by_video = {}
    for a in ann["annotations"]:
        by_video.setdefault(a["video_id"], []).append(a)
    videos = []
    for v in ann["videos"][:max_videos]:
        frames = torch.stack([load_frame(root / f, size) for f in v["file_names"]])
        anns = by_video.get(v["id"], [])
        n_f = len(v["file_names"])
        masks = torch.zeros(len(anns), n_f, size, size, dtype=torch.bool)
        for ai, a in enumerate(anns):
            for fi, rle in enumerate(a["segmentations"]):
                if rle is not None:
                    masks[ai, fi] = resize_mask(decode_rle(rle), size)
        videos.append(Video(
            vid=v["id"], width=v["width"], height=v["height"], frames=frames, masks=masks,
            classes=torch.tensor([a["category_id"] - 1 for a in anns], dtype=torch.long),
            track_ids=[a["id"] for a in anns], rles=[a["segmentations"] for a in anns],
            file_names=v["file_names"]))
    return videos
