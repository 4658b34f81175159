"""Sizes of the default bundle (engines/tiny), shared by model, sampler, export and training.

They mirror `[input]` / `[model]` of bundle.toml (see notes in engines/CONTRACT.md); the
exporter writes them from this one place so the manifest can never drift from the graph.
"""
from dataclasses import dataclass, field, replace

CLASS_NAMES = ["disc", "square", "triangle", "star", "ring", "cross", "hexagon", "crescent"]


@dataclass(frozen=True)
class ModelConfig:
    # 256 px input: the world is rendered at 256x256 for training/eval. At 128 px even a
    # perfect 1/4-res mask (32x32) caps mean IoU at 0.80 on this world's small objects
    # (only 26 % of them above IoU 0.9); at 256 the same 1/4 stride reaches 0.92 / 87 %.
    width: int = 256
    height: int = 256
    mean: tuple = (0.485, 0.456, 0.406)
    std: tuple = (0.229, 0.224, 0.225)
    hidden_dim: int = 64          # C
    num_queries: int = 24         # N learnable (detection) queries
    class_dim: int = 384          # D, all-MiniLM-L6-v2 text space
    assoc_dim: int = 64           # E
    mask_stride: int = 4
    num_layers: int = 4           # decoder layers
    # Which feature level each decoder layer cross-attends (0 = s32, 1 = s16, 2 = s8).
    # s32, s16, s8, then s8 again rather than wrapping round to s32: at 256 px an s32
    # cell is 32x32 px, larger than most of the world's objects, so the final
    # (class-emitting) layer reads 8x8 px cells. Older checkpoints were trained with
    # ROUND_ROBIN (train.py --last-level s32).
    layer_levels: tuple = (0, 1, 2, 2)
    num_heads: int = 4
    ffn_dim: int = 256
    backbone_channels: tuple = (48, 64, 96, 128)   # strides 4, 8, 16, 32
    max_prompts: int = 32
    tokens_per_frame: int = 32    # R
    memory_frames: int = 5        # M (FIFO) ; +1 pinned first frame
    logit_scale: float = 20.0
    # Class features of their own (image -> 1/4 res, `class_feat`), pooled under each
    # query's mask for its class embedding; an optional encoder output / decoder input of
    # the contract. Off: the default bundle's architecture (a run with it lost mask
    # quality and tracking on validation); train.py --class-branch on turns it on.
    class_feat: bool = False
    class_branch_channels: int = 32
    # Positional mask features: mask_feat += 1x1 projection of the sine encoding of each
    # 1/4-res cell (the sampler's formula), zero-initialised. A mask logit is MLP(q) .
    # mask_feat, so without position a query that knows its target by appearance lights up
    # every look-alike (without it, 42 % of the streaming output's misses on validation
    # were a prompt mask spread over a same-coloured neighbour); SOLO / CondInst add
    # coordinates for the same reason. On in the default bundle; train.py --mask-pos off
    # leaves it out.
    mask_pos: bool = True

    @property
    def max_prompt_tokens(self) -> int:
        return (self.memory_frames + 1) * self.tokens_per_frame


DEFAULT = ModelConfig()
ROUND_ROBIN = (0, 1, 2, 0)   # the decoder levels of older checkpoints (--last-level s32)


def config_for(state_dict) -> ModelConfig:
    """The config a checkpoint was trained with (class branch, mask positions, per-layer levels). A
    checkpoint from before `decoder.layer_levels` was recorded gets the round-robin entry
    added (what every such checkpoint was trained with), so it loads as it was trained."""
    has = any(k.startswith("encoder.class_branch.") for k in state_dict)
    pos = any(k.startswith("encoder.pixel_decoder.pos_proj.") for k in state_dict)
    levels = state_dict.setdefault("decoder.layer_levels", _levels_tensor(ROUND_ROBIN))
    return replace(DEFAULT, class_feat=has, mask_pos=pos,
                   layer_levels=tuple(int(v) for v in levels.tolist()))


def _levels_tensor(levels):
    import torch  # config.py is imported by tooling that may not need torch otherwise
    return torch.tensor(levels, dtype=torch.int64)
