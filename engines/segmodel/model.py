"""Small unified query-based segmenter (OMG-Seg / UniVS family) for CPU.

Image encoder: conv backbone (strides 4/8/16/32) + FPN-like pixel decoder.
Unified mask decoder: N learnable queries and P prompt queries share every weight; per
layer ProCA -> masked cross-attention (s32, s16, s8, then s8 or s32: cfg.layer_levels) ->
separated self-attention -> FFN; heads for mask logits, class embedding, association
embedding and quality. Shapes carry a batch axis B everywhere for training; the ONNX wrappers in
export.py fix B = 1 as the contract requires.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ModelConfig
from .sampler import grid_pe

NEG = -1.0e4  # large-negative attention bias: finite where -inf would give NaN rows


def conv_bn(cin, cout, stride=1, act=True):
    layers = [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(conv_bn(c, c), conv_bn(c, c, act=False))

    def forward(self, x):
        return F.relu(x + self.body(x))


class Backbone(nn.Module):
    """Plain residual conv net: returns features at strides 4, 8, 16, 32."""

    def __init__(self, chans):
        super().__init__()
        c4, c8, c16, c32 = chans
        # One stride-2 conv: a second full conv at 1/2 of a 256 px input cost ~25 % of a
        # training step for no measured gain.
        self.stem = conv_bn(3, 32, 2)
        self.s4 = nn.Sequential(conv_bn(32, c4, 2), ResBlock(c4))
        self.s8 = nn.Sequential(conv_bn(c4, c8, 2), ResBlock(c8))
        self.s16 = nn.Sequential(conv_bn(c8, c16, 2), ResBlock(c16), ResBlock(c16))
        self.s32 = nn.Sequential(conv_bn(c16, c32, 2), ResBlock(c32))

    def forward(self, x):
        f4 = self.s4(self.stem(x))
        f8 = self.s8(f4)
        f16 = self.s16(f8)
        f32 = self.s32(f16)
        return f4, f8, f16, f32


class PixelDecoder(nn.Module):
    """FPN: top-down fusion, one 3x3 output conv per level; mask_feat is linear (1x1),
    plus a projection of each cell's position with `mask_pos` (ModelConfig)."""

    def __init__(self, chans, c, mask_pos=False):
        super().__init__()
        self.lateral = nn.ModuleList([nn.Conv2d(ci, c, 1) for ci in chans])
        self.out = nn.ModuleList([conv_bn(c, c) for _ in chans])
        self.mask_proj = nn.Conv2d(c, c, 1)
        self.pos_proj = None
        if mask_pos:
            # Zero-initialised: training starts from the position-free model.
            self.pos_proj = nn.Conv2d(c, c, 1)
            nn.init.zeros_(self.pos_proj.weight)
            nn.init.zeros_(self.pos_proj.bias)

    def positions(self, like):
        """pos_proj of the sine encoding of every cell of `like` [B, C, h, w]: [1, C, h, w]
        (a constant of the traced graph: the input size is fixed per bundle)."""
        c, h, w = like.shape[1:]
        pe = grid_pe(h, w, c).t().reshape(1, c, h, w).to(like.dtype)
        return self.pos_proj(pe)

    def forward(self, feats):
        outs = [None] * 4
        top = None
        for lvl in (3, 2, 1, 0):
            lat = self.lateral[lvl](feats[lvl])
            if top is not None:
                lat = lat + F.interpolate(top, size=lat.shape[-2:], mode="nearest")
            top = lat
            outs[lvl] = self.out[lvl](lat)
        mask_feat = self.mask_proj(outs[0])
        if self.pos_proj is not None:
            mask_feat = mask_feat + self.positions(mask_feat)
        return mask_feat, outs[1], outs[2], outs[3]


class ClassBranch(nn.Module):
    """Class features of their own at 1/4 resolution, read from the image.

    Why a separate branch: the class errors sit on small objects (< 300 px^2, i.e. a few
    1/4-res cells), and when the class loss reached `mask_feat` through mask pooling,
    validation class accuracy rose but masks and tracking fell, while pooling a frozen
    `mask_feat` bought nothing. Reading the image directly keeps the class loss off the
    mask path entirely. A 4x4 stride-4 patch embedding keeps every pixel of a cell (the
    sub-cell shape detail a small object's class depends on) at a fraction of the cost of
    full-resolution convolutions; then one residual block (receptive field 20 px: about
    one small object).
    """

    def __init__(self, mid, c):
        super().__init__()
        patch = nn.Sequential(nn.Conv2d(3, mid, 4, 4, bias=False), nn.BatchNorm2d(mid),
                              nn.ReLU(inplace=True))
        self.body = nn.Sequential(patch, ResBlock(mid), nn.Conv2d(mid, c, 1))

    def forward(self, image):
        return self.body(image)


class ImageEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.backbone = Backbone(cfg.backbone_channels)
        self.pixel_decoder = PixelDecoder(cfg.backbone_channels, cfg.hidden_dim, cfg.mask_pos)
        self.class_branch = ClassBranch(cfg.class_branch_channels, cfg.hidden_dim) \
            if cfg.class_feat else None

    def forward(self, image):
        """image [B,3,H,W] normalised -> mask_feat, feat_s8, feat_s16, feat_s32 (and
        class_feat when the config has the class branch)."""
        feats = self.pixel_decoder(self.backbone(image))
        if self.class_branch is None:
            return feats
        return (*feats, self.class_branch(image))


class Attention(nn.Module):
    """Multi-head attention with an additive bias (broadcast to [B, heads, Lq, Lk])."""

    def __init__(self, c, heads):
        super().__init__()
        self.h = heads
        self.q = nn.Linear(c, c)
        self.k = nn.Linear(c, c)
        self.v = nn.Linear(c, c)
        self.o = nn.Linear(c, c)

    def split(self, x):  # [..., L, C] -> [..., h, L, d]
        shp = x.shape
        x = x.reshape(shp[:-1] + (self.h, shp[-1] // self.h))
        return x.transpose(-2, -3)

    def forward(self, q, k, v, bias):
        qh, kh, vh = self.split(self.q(q)), self.split(self.k(k)), self.split(self.v(v))
        scale = qh.shape[-1] ** -0.5
        att = torch.matmul(qh * scale, kh.transpose(-1, -2)) + bias
        out = torch.matmul(att.softmax(-1), vh)          # [..., h, Lq, d]
        out = out.transpose(-2, -3)
        out = out.reshape(out.shape[:-2] + (out.shape[-2] * out.shape[-1],))
        return self.o(out)


class DecoderLayer(nn.Module):
    def __init__(self, c, heads, ffn):
        super().__init__()
        self.proca = Attention(c, heads)
        self.cross = Attention(c, heads)
        self.self_attn = Attention(c, heads)
        self.norms = nn.ModuleList([nn.LayerNorm(c) for _ in range(4)])
        self.ffn = nn.Sequential(nn.Linear(c, ffn), nn.ReLU(inplace=True), nn.Linear(ffn, c))

    def forward(self, q, pos, n, tokens, tok_bias, mem, mem_pos, cross_bias, self_bias):
        # ProCA: each prompt query attends to its own row of tokens; learnable ones skip it.
        qd, qp = q[:, :n], q[:, n:]
        pp = pos[:, n:]
        upd = self.proca((qp + pp).unsqueeze(2), tokens, tokens, tok_bias).squeeze(2)
        qp = self.norms[0](qp + upd)
        q = torch.cat([qd, qp], dim=1)
        # Masked cross-attention to one feature level.
        upd = self.cross(q + pos, mem + mem_pos, mem, cross_bias)
        q = self.norms[1](q + upd)
        # Separated self-attention: the bias forbids attention across the two groups.
        upd = self.self_attn(q + pos, q + pos, q, self_bias)
        q = self.norms[2](q + upd)
        return self.norms[3](q + self.ffn(q))


def mlp(cin, hidden, cout, layers):
    mods = []
    for i in range(layers):
        a = cin if i == 0 else hidden
        b = cout if i == layers - 1 else hidden
        mods.append(nn.Linear(a, b))
        if i < layers - 1:
            mods.append(nn.ReLU(inplace=True))
    return nn.Sequential(*mods)


class Heads(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c = cfg.hidden_dim
        self.norm = nn.LayerNorm(c)
        self.mask = mlp(c, c, c, 3)
        self.cls = mlp(c, 2 * c, cfg.class_dim, 2)
        self.assoc = mlp(c, c, cfg.assoc_dim, 2)
        self.quality = mlp(c, c, 1, 2)
        if cfg.class_feat:
            self.pool_norm = nn.LayerNorm(c)
            self.pool_proj = nn.Linear(c, c)

    def masks(self, q, mask_feat):
        qn = self.norm(q)
        return torch.einsum("bqc,bchw->bqhw", self.mask(qn), mask_feat)

    def forward(self, q, mask_feat, class_feat=None):
        qn = self.norm(q)
        masks = torch.einsum("bqc,bchw->bqhw", self.mask(qn), mask_feat)
        quality = torch.sigmoid(self.quality(qn)).squeeze(-1)
        cls_in = qn
        if class_feat is not None:
            cls_in = qn + self.pool_proj(self.pool_norm(mask_pool(class_feat, masks)))
        return masks, self.cls(cls_in), self.assoc(qn), quality


def mask_pool(feat, mask_logits):
    """Mean of feat [B,C,h,w] under each query's soft mask [B,Q,h,w] -> [B,Q,C] (OMG-Seg's
    mask pooling). The weights are detached: the class loss must not move the masks."""
    w = torch.sigmoid(mask_logits.detach())
    total = torch.einsum("bqhw,bchw->bqc", w, feat)
    return total / (w.sum((-1, -2)).unsqueeze(-1) + 1e-4)


class MaskDecoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c = cfg.hidden_dim
        self.cfg = cfg
        self.query_feat = nn.Parameter(torch.randn(cfg.num_queries, c) * 0.1)
        self.query_pos = nn.Parameter(torch.randn(cfg.num_queries, c) * 0.1)
        self.prompt_embed = nn.Parameter(torch.zeros(c))     # added to the token mean
        self.prompt_pos = nn.Parameter(torch.randn(c) * 0.1)
        self.level_embed = nn.Parameter(torch.randn(3, c) * 0.1)
        self.layers = nn.ModuleList(
            [DecoderLayer(c, cfg.num_heads, cfg.ffn_dim) for _ in range(cfg.num_layers)])
        self.heads = Heads(cfg)
        assert len(cfg.layer_levels) == cfg.num_layers, "one feature level per layer"
        # Recorded in the state dict so export and evaluation rebuild the same decoder
        # (config_for); forward reads the config's tuple, a constant for ONNX tracing.
        self.register_buffer("layer_levels", torch.tensor(cfg.layer_levels, dtype=torch.int64))

    def prompt_init(self, tokens, valid):
        """Initial prompt query = mean of its valid tokens (guarded) + learned embedding."""
        cnt = valid.sum(-1, keepdim=True).clamp(min=1.0)
        mean = (tokens * valid.unsqueeze(-1)).sum(-2) / cnt
        return mean + self.prompt_embed

    def self_bias(self, n, valid):
        """[B, 1, Q, Q] bias: same group only; empty prompts are no key (except to self)."""
        b, p = valid.shape[0], valid.shape[1]
        nonempty = (valid.sum(-1) > 0).float()                         # [B, P]
        grp = torch.cat([torch.zeros(b, n), torch.ones(b, p)], dim=1)  # [B, Q]
        key_ok = torch.cat([torch.ones(b, n), nonempty], dim=1)        # [B, Q]
        same = (grp.unsqueeze(2) == grp.unsqueeze(1)).float()
        eye = torch.eye(n + p).unsqueeze(0)
        allowed = torch.clamp(same * key_ok.unsqueeze(1) + eye, max=1.0)
        return ((1.0 - allowed) * NEG).unsqueeze(1)

    @staticmethod
    def cross_bias(masks, size):
        """Masked attention: attend where the previous prediction is on; if nothing is on
        for a query, attend everywhere (Mask2Former)."""
        m = F.interpolate(masks, size=size, mode="bilinear", align_corners=False)
        off = (m.flatten(2) < 0).float()                                 # [B, Q, HW]
        all_off = (off.sum(-1, keepdim=True) >= off.shape[-1]).float()
        off = off * (1.0 - all_off)
        return (off * NEG).unsqueeze(1)

    def forward(self, feats, tokens, valid, aux=False):
        """feats = the encoder's outputs (mask_feat, s8, s16, s32[, class_feat]),
        tokens [B,P,T,C], valid [B,P,T] -> per layer (masks, cls, assoc, quality) over
        the N + P queries; the last entry is the final prediction."""
        mask_feat, s8, s16, s32 = feats[:4]
        class_feat = feats[4] if len(feats) > 4 else None
        b, n = mask_feat.shape[0], self.cfg.num_queries
        p = tokens.shape[1]
        qd = self.query_feat.unsqueeze(0).expand(b, -1, -1)
        qp = self.prompt_init(tokens, valid)
        q = torch.cat([qd, qp], dim=1)
        pos = torch.cat([self.query_pos.unsqueeze(0).expand(b, -1, -1),
                         self.prompt_pos.view(1, 1, -1).expand(b, p, -1)], dim=1)
        # An empty prompt row gets no bias at all: -1e4 on every token would swamp the
        # scores' float precision (ORT and torch then disagree on rows the caller ignores).
        nonempty = (valid.sum(-1, keepdim=True) > 0).float()
        tok_bias = ((1.0 - valid) * nonempty * NEG).unsqueeze(2).unsqueeze(3)  # [B,P,1,1,T]
        self_bias = self.self_bias(n, valid)
        levels = []
        for i, f in enumerate((s32, s16, s8)):
            hw = f.shape[-2:]
            pe = grid_pe(hw[0], hw[1], f.shape[1]).to(f.dtype) + self.level_embed[i]
            levels.append((f.flatten(2).transpose(1, 2), pe.unsqueeze(0), hw))
        outs = []
        masks = self.heads.masks(q, mask_feat)
        if aux:
            outs.append(self.heads(q, mask_feat, class_feat))
        for li, layer in enumerate(self.layers):
            mem, mem_pos, hw = levels[self.cfg.layer_levels[li]]
            cb = self.cross_bias(masks, hw)
            q = layer(q, pos, n, tokens, tok_bias, mem, mem_pos, cb, self_bias)
            if aux or li == len(self.layers) - 1:
                out = self.heads(q, mask_feat, class_feat)
                masks = out[0]
                outs.append(out)
            else:
                masks = self.heads.masks(q, mask_feat)
        return outs


class SegModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = ImageEncoder(cfg)
        self.decoder = MaskDecoder(cfg)
