"""The parameter-free visual sampler of the engine contract (engines/CONTRACT.md).

The Rust tracker implements the same formula at inference; training must use exactly this
one, or prompt tokens seen at run time would differ from those the decoder learned.
"""
import math

import torch


def sine_pe(xn: torch.Tensor, yn: torch.Tensor, channels: int) -> torch.Tensor:
    """Positional encoding of normalised positions -> [..., channels].

    pe[4k] = sin(f_k x), pe[4k+1] = cos(f_k x), pe[4k+2] = sin(f_k y), pe[4k+3] = cos(f_k y)
    with f_k = pi * 16^(k / (C/4)).
    """
    quarter = channels // 4
    k = torch.arange(quarter, dtype=torch.float32, device=xn.device)
    freq = math.pi * torch.pow(torch.tensor(16.0, device=xn.device), k / quarter)
    fx = xn.unsqueeze(-1) * freq
    fy = yn.unsqueeze(-1) * freq
    pe = torch.stack([fx.sin(), fx.cos(), fy.sin(), fy.cos()], dim=-1)
    return pe.flatten(-2)


def grid_pe(h: int, w: int, channels: int) -> torch.Tensor:
    """PE of every cell centre of an h x w grid -> [h*w, channels] (row-major)."""
    ys = (torch.arange(h, dtype=torch.float32) + 0.5) / h
    xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return sine_pe(xx.reshape(-1), yy.reshape(-1), channels)


def in_cells(mask: torch.Tensor, h8: int, w8: int) -> torch.Tensor:
    """Flat indices (i*w8 + j) of the 1/8 cells whose centre pixel is on in `mask` [Mh, Mw].

    Falls back to the cell containing the mask centroid when no centre is on; an empty
    mask gives no cells.
    """
    mh, mw = mask.shape
    rows = ((torch.arange(h8, dtype=torch.float64) + 0.5) * mh / h8).floor().long()
    cols = ((torch.arange(w8, dtype=torch.float64) + 0.5) * mw / w8).floor().long()
    on = mask[rows][:, cols] > 0
    idx = on.reshape(-1).nonzero().squeeze(1)
    if idx.numel() > 0:
        return idx
    ys, xs = (mask > 0).nonzero(as_tuple=True)
    if ys.numel() == 0:
        return idx
    # Centroid in mask pixels (pixel centres at +0.5) -> the cell that contains it.
    cy = (ys.double() + 0.5).mean()
    cx = (xs.double() + 0.5).mean()
    i = min(int(cy * h8 / mh), h8 - 1)
    j = min(int(cx * w8 / mw), w8 - 1)
    return torch.tensor([i * w8 + j])


def draw_cells(cells: torch.Tensor, r: int, gen: torch.Generator | None = None) -> torch.Tensor:
    """R cells uniformly at random: with replacement when fewer than R are in."""
    n = cells.numel()
    if n == 0:
        return cells
    if n < r:
        pick = torch.randint(n, (r,), generator=gen)
    else:
        pick = torch.randperm(n, generator=gen)[:r]
    return cells[pick]


def tokens_from_cells(feat_s8: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """token = feat_s8[:, i, j] + pe(i, j) for each flat cell index -> [len(cells), C]."""
    c, h8, w8 = feat_s8.shape
    i = torch.div(cells, w8, rounding_mode="floor")
    j = cells % w8
    pe = sine_pe((j.float() + 0.5) / w8, (i.float() + 0.5) / h8, c).to(feat_s8.dtype)
    return feat_s8[:, i, j].t() + pe


def sample_tokens(mask: torch.Tensor, feat_s8: torch.Tensor, r: int,
                  gen: torch.Generator | None = None) -> torch.Tensor:
    """Visual sampler: binary mask [Mh, Mw] + feat_s8 [C, h8, w8] -> tokens [R or 0, C]."""
    _, h8, w8 = feat_s8.shape
    cells = draw_cells(in_cells(mask, h8, w8), r, gen)
    return tokens_from_cells(feat_s8, cells)


def box_mask(x0: float, y0: float, x1: float, y1: float, h: int, w: int) -> torch.Tensor:
    """A box prompt fills its box (model-input pixels, inclusive-exclusive)."""
    m = torch.zeros(h, w)
    m[max(int(y0), 0):min(int(math.ceil(y1)), h), max(int(x0), 0):min(int(math.ceil(x1)), w)] = 1
    return m


def point_mask(x: float, y: float, h: int, w: int, radius: int = 3) -> torch.Tensor:
    """A point prompt becomes a box of +-3 px around it."""
    return box_mask(x - radius, y - radius, x + radius + 1, y + radius + 1, h, w)
