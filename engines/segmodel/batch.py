"""Training batches: clips of two frames (a, b = a + k, k in 0..3) of one video.

Both frames are detection images. Each frame is also decoded with prompt queries whose
tokens come from the OTHER frame of its clip (GT mask there, through the contract's
visual sampler), so prompts are trained forwards (t -> t+k) and backwards in time, and
through occlusion (the target mask may be empty or partial at the decoded frame).
Only the sampled cell indices are prepared here; tokens are gathered from the live
feat_s8 in the training step so gradients reach the encoder.
"""
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import sampler


@dataclass
class Batch:
    images: torch.Tensor       # [2B, 3, S, S] normalised
    gt_masks: list             # per image: [G, S, S] float (visible instances)
    gt_classes: list           # per image: [G] long
    gt_keys: list              # per image: [G] instance keys (unique per clip+annotation)
    prompt_src: torch.Tensor   # [2B, P] image index the tokens come from
    prompt_cells: torch.Tensor # [2B, P, R] flat 1/8 cell indices
    prompt_valid: torch.Tensor # [2B, P] 1 for a real prompt
    prompt_masks: torch.Tensor # [2B, P, S, S] target masks at the decoded frame
    prompt_classes: torch.Tensor  # [2B, P]
    prompt_keys: torch.Tensor  # [2B, P] instance keys (-1 padding)


def perturb(mask: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Imitate a predicted (imperfect) mask or a box/point prompt."""
    u = rng.random()
    if u < 0.12:                                     # box prompt
        ys, xs = mask.nonzero(as_tuple=True)
        return sampler.box_mask(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, *mask.shape)
    if u < 0.17:                                     # point prompt inside the object
        ys, xs = mask.nonzero(as_tuple=True)
        i = rng.integers(len(ys))
        return sampler.point_mask(float(xs[i]), float(ys[i]), *mask.shape)
    if u < 0.45:                                     # dilated or eroded by 1-2 px
        k = int(rng.choice([3, 5]))
        m = mask[None, None].float()
        if rng.random() < 0.5:
            m = F.max_pool2d(m, k, 1, k // 2)
        else:
            m = -F.max_pool2d(-m, k, 1, k // 2)
        out = m[0, 0] > 0.5
        return out if out.any() else mask
    return mask


def normalise(frames_u8: torch.Tensor, mean, std) -> torch.Tensor:
    x = frames_u8.float() / 255.0
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    return (x - m) / s


def at_size(img: torch.Tensor, masks: torch.Tensor, size: int):
    """A frame [3, H, W] uint8 and its masks [A, H, W] bool at `size` x `size`, resized
    bilinearly as the runtime's preprocessing resizes a frame to the input size (masks
    thresholded at 0.5). Used by the final phase of training (train.py --final-size),
    which runs at the exported input size from the frames loaded at the base size."""
    if img.shape[-1] == size and img.shape[-2] == size:
        return img, masks
    x = F.interpolate(img[None].float(), size=(size, size), mode="bilinear", align_corners=False)
    img = x[0].round().clamp(0, 255).to(torch.uint8)
    if masks.shape[0] == 0:
        return img, torch.zeros(0, size, size, dtype=torch.bool)
    m = F.interpolate(masks[None].float(), size=(size, size), mode="bilinear", align_corners=False)
    return img, m[0] >= 0.5


def partial_frames(videos, fraction: float = 0.5) -> np.ndarray:
    """(video index, frame) of every frame showing some object at less than `fraction` of
    the largest area it has in its video's window: an object cut by the frame edge or
    mostly hidden. Why: on validation most wrong classes of the streaming output (82 %) are
    on objects under half visible (engines/tools/class_errors.py), and such frames are only
    about a quarter of the training frames."""
    out = []
    for vi, v in enumerate(videos):
        if v.masks.shape[0] == 0:
            continue
        area = v.masks.flatten(2).sum(-1).float()                 # [A, F]
        top = area.max(1, keepdim=True).values
        part = ((area > 0) & (area < fraction * top)).any(0)      # [F]
        out += [(vi, int(f)) for f in torch.nonzero(part).squeeze(1)]
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def draw_clip(videos, rng: np.random.Generator, focus=None, focus_p: float = 0.0):
    """(video, a, b) of one clip: a uniform video and a gap k in 0..3 drawn first, then a
    start that fits it (clamping b at the last frame instead would over-draw k = 0 in short
    windowed videos). With probability `focus_p` the clip is instead built around a frame
    drawn from `focus` ((video, frame) rows, `partial_frames`): that frame is a or b."""
    f = None
    if focus_p > 0 and len(focus) and rng.random() < focus_p:
        vi, f = (int(x) for x in focus[rng.integers(len(focus))])
        v = videos[vi]
    else:
        v = videos[rng.integers(len(videos))]
    n_f = v.frames.shape[0]
    k = int(min(n_f - 1, rng.integers(0, 4)))
    if f is None:
        a = int(rng.integers(n_f - k))
    else:
        a = f if f + k < n_f else f - k
    return v, a, a + k


def make_batch(videos, clips: int, cfg, rng: np.random.Generator, gen: torch.Generator,
               max_prompts: int = 12, focus=None, focus_p: float = 0.0) -> Batch:
    size = cfg.width
    h8 = size // 8
    r = cfg.tokens_per_frame
    frames, gms, gcs, gks = [], [], [], []
    prompts = []   # per image: list of (src_image, cells, target_mask, class, key)
    for c in range(clips):
        v, a, b = draw_clip(videos, rng, focus, focus_p)
        flip = rng.random() < 0.5
        pair = []
        for f in (a, b):
            img, ms = at_size(v.frames[f], v.masks[:, f], size)
            if flip:
                img, ms = img.flip(-1), ms.flip(-1)
            pair.append((img, ms))
        for side, (img, ms) in enumerate(pair):
            frames.append(img)
            vis = ms.flatten(1).any(1)
            gms.append(ms[vis].float())
            gcs.append(v.classes[vis])
            gks.append(torch.nonzero(vis).squeeze(1) + 1000 * c)
        for side in (0, 1):
            src_img, src_ms = pair[1 - side]
            _, dst_ms = pair[side]
            cand = [i for i in range(src_ms.shape[0]) if src_ms[i].any()]
            rng.shuffle(cand)
            row = []
            for ai in cand[:max_prompts]:
                m = perturb(src_ms[ai], rng)
                cells = sampler.draw_cells(sampler.in_cells(m, h8, h8), r, gen)
                row.append((2 * c + 1 - side, cells, dst_ms[ai].float(),
                            int(v.classes[ai]), 1000 * c + ai))
            prompts.append(row)
    return _assemble(frames, gms, gcs, gks, prompts, cfg, r, size)


def _assemble(frames, gms, gcs, gks, prompts, cfg, r, size):
    n_img = len(frames)
    p = max(1, max(len(row) for row in prompts))
    src = torch.zeros(n_img, p, dtype=torch.long)
    cells = torch.zeros(n_img, p, r, dtype=torch.long)
    valid = torch.zeros(n_img, p)
    tmask = torch.zeros(n_img, p, size, size)
    tcls = torch.zeros(n_img, p, dtype=torch.long)
    tkey = torch.full((n_img, p), -1, dtype=torch.long)
    for i, row in enumerate(prompts):
        for j, (s, cl, m, k, key) in enumerate(row):
            src[i, j], cells[i, j], valid[i, j] = s, cl, 1.0
            tmask[i, j], tcls[i, j], tkey[i, j] = m, k, key
    images = normalise(torch.stack(frames), cfg.mean, cfg.std)
    return Batch(images, gms, gcs, gks, src, cells, valid, tmask, tcls, tkey)


def gather_tokens(feat_s8: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """tokens [2B, P, R, C] = feat_s8 of the source image at the cells + cell PE."""
    n, c, h8, w8 = feat_s8.shape
    flat = feat_s8.flatten(2).transpose(1, 2)                 # [n, HW, C]
    pe = sampler.grid_pe(h8, w8, c).to(feat_s8.dtype)         # [HW, C]
    src = batch.prompt_src.unsqueeze(-1).expand_as(batch.prompt_cells)
    tokens = flat[src, batch.prompt_cells] + pe[batch.prompt_cells]
    valid = batch.prompt_valid.unsqueeze(-1).expand(-1, -1, batch.prompt_cells.shape[-1])
    return tokens * valid.unsqueeze(-1), valid.contiguous()
