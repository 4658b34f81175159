"""The official UniVS modules as the two networks of engine contract v2.

The graphs are traced from the official modules' own forward methods (built by
`univs_source.py`); the wrappers only choose inputs and outputs:

- image encoder: `backbone` -> `sem_seg_head.pixel_decoder.forward_features` ->
  `mask_feat` (1/4), `feat_s32`, `feat_s16` (its multi-scale features) and `feat_s8` =
  [1/8 features ; the decoder's `pe_layer` at that level] (2C channels): the official
  visual sampler reads both at the prompt's cells, so the runtime gathers them from one map.
- mask decoder: the official `predictor.forward` with task "sot" (visual prompts), where
  the official sampler's gather (`VisualPromptSampler.process_per_batch`) returns the
  tokens the runtime gathered: features = input_proj(x) + level_embed (the sampler reads
  `src`), positions as gathered; padding tokens are zero vectors, which is how the
  official code marks a blank token (left out of the initial query's mean, still attended
  by ProCA).
"""
import json
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils._pytree import tree_flatten

OPSET = 17
DET_HEADS = ("masks", "class_emb", "assoc_emb", "quality")
SOT_TARGET = {"task": "sot", "prompt_type": "visual", "dataset_name": "sot_stream"}

# Tensors of the checkpoint that contract v2 has no input for: the text-prompt path
# (category names / referring expressions as prompt queries: Lang2Img cross-attention,
# text projection, task embeddings) and the re-identification temperature used only by the
# training loss. Each is named with the reason; anything else left unused fails the export.
NOT_IN_CONTRACT = {
    "sem_seg_head.predictor.text_norm.": "text prompts (category names / expressions as prompt queries)",
    "sem_seg_head.predictor.text2vis_projection.": "text prompts",
    "sem_seg_head.predictor.lang2vision_cross_attention_layer.": "text prompts (Lang2Img)",
    "sem_seg_head.predictor.prompt_detection.": "text prompts (category-name task embedding)",
    "sem_seg_head.predictor.prompt_grounding.": "text prompts (referring-expression task embedding)",
    "sem_seg_head.predictor.reid_temp.": "training loss only (re-identification temperature)",
}


class Encoder(nn.Module):
    def __init__(self, official):
        super().__init__()
        self.backbone = official.backbone
        self.pixel_decoder = official.pixel_decoder
        self.pe_layer = official.predictor.pe_layer

    def forward(self, image):
        feats = self.backbone(image)
        mask_features, _, _, ms = self.pixel_decoder.forward_features(feats)
        s32, s16, s8 = ms
        t0 = torch.zeros(1, 1, dtype=torch.long)
        pos8 = self.pe_layer(s8.unsqueeze(1), t0)[:, 0]
        return mask_features, torch.cat([s8, pos8], 1), s16, s32


class Decoder(nn.Module):
    def __init__(self, official):
        super().__init__()
        self.predictor = official.predictor
        self.hidden = self.predictor.query_feat.weight.shape[1]
        for proj in self.predictor.input_proj:
            if len(list(proj.parameters())):
                raise ValueError("input_proj is not the identity: feat_s8 would need the projected map too")

    def forward(self, mask_feat, feat_s8, feat_s16, feat_s32, prompt_tokens, prompt_valid):
        c = self.hidden
        p = self.predictor
        valid = prompt_valid.unsqueeze(-1)
        src = p.input_proj[2](prompt_tokens[..., :c]) + p.level_embed.weight[2]
        feats_dense = (src * valid).unsqueeze(2)  # P, T, 1(frame), C
        pe_dense = (prompt_tokens[..., c:] * valid).unsqueeze(2)
        sampler = p.visual_prompt_sampler
        original = sampler.process_per_batch
        sampler.process_per_batch = lambda *a, **k: (pe_dense, feats_dense, None)
        try:
            out = p([feat_s32, feat_s16, feat_s8[:, :c]], mask_feat, mask_feat, targets=[dict(SOT_TARGET)])
        finally:
            sampler.process_per_batch = original
        masks = out["pred_masks"][0, :, 0]  # Q, h4, w4
        embds = out["pred_embds"][0, :, 0]  # decoder_norm(query): the official association embedding
        class_emb = p.vis2text_projection(embds)
        quality = (masks > 1).sum((1, 2)).float() / (masks > -1).sum((1, 2)).float().clamp(min=1.0)
        n = p.num_queries
        heads = (masks, class_emb, embds, quality)
        return tuple(h[:n] for h in heads) + tuple(h[n:] for h in heads)


def official_reference(official, image, cells, valid):
    """The official forward as the official inference calls it (backbone, sem_seg_head),
    with the official sampler's gather at the given 1/8 cells (what `get_dense_features`
    does with its randomly drawn `feat_idx`). cells: [P, T] i64 flat indices into the
    1/8 grid; valid: [P, T] (0 = blank token, a zero vector as in the official code)."""
    p = official.predictor
    sampler = p.visual_prompt_sampler

    def gather(img_emb_list, pos_emb_list, size_list, targets, *a, **k):
        src, pos = img_emb_list[-1][:, 0], pos_emb_list[-1][:, 0]  # HW x C (one frame)
        v = valid.unsqueeze(-1)
        return (pos[cells] * v).unsqueeze(2), (src[cells] * v).unsqueeze(2), None

    original = sampler.process_per_batch
    sampler.process_per_batch = gather
    try:
        feats = official.backbone(image)
        out = official.model.sem_seg_head(feats, targets=[dict(SOT_TARGET)])
    finally:
        sampler.process_per_batch = original
    return out


class _Seen(torch.Tensor):
    """A state-dict tensor that records its name when any torch function reads it."""

    used = set()

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        for a in tree_flatten((args, kwargs or {}))[0]:
            if isinstance(a, _Seen):
                cls.used.add(a._seen_name)
        with torch._C.DisableTorchFunctionSubclass():
            return func(*args, **(kwargs or {}))


def used_tensors(official, run):
    """Names of the state-dict tensors that `run()` reads: each tensor is swapped for a
    recording view of itself while `run` executes (every torch op on it is seen)."""
    from torch.nn.utils.stateless import _reparametrize_module

    state = {}
    for name, t in official.model.state_dict(keep_vars=True).items():
        s = t.detach().as_subclass(_Seen)
        s._seen_name = name
        state[name] = s
    _Seen.used = set()
    with torch.no_grad(), _reparametrize_module(official.model, state):
        run()
    return set(_Seen.used)


def check_consumed(state_keys, used):
    """Every checkpoint tensor is in a graph or named in NOT_IN_CONTRACT; else an error."""
    unused = sorted(k for k in state_keys if k not in used and not any(k.startswith(p) for p in NOT_IN_CONTRACT))
    if unused:
        raise ValueError(f"{len(unused)} checkpoint tensors are used by no exported graph: " + ", ".join(unused))
    return sorted(k for k in state_keys if k not in used)


def export_graphs(official, out_dir: Path, size, max_prompts, max_tokens):
    h, w = size
    c = official.predictor.query_feat.weight.shape[1]
    enc, dec = Encoder(official).eval(), Decoder(official).eval()
    image = torch.randn(1, 3, h, w)
    with torch.no_grad():
        feats = enc(image)
        torch.onnx.export(enc, (image,), str(out_dir / "image_encoder.onnx"), input_names=["image"],
                          output_names=["mask_feat", "feat_s8", "feat_s16", "feat_s32"], opset_version=OPSET,
                          dynamo=False, do_constant_folding=True)
        tokens = torch.randn(3, 40, 2 * c)
        valid = torch.ones(3, 40)
        names_in = ["mask_feat", "feat_s8", "feat_s16", "feat_s32", "prompt_tokens", "prompt_valid"]
        names_out = [f"det_{x}" for x in DET_HEADS] + [f"prompt_{x}" for x in DET_HEADS]
        dyn = {"prompt_tokens": {0: "P", 1: "T"}, "prompt_valid": {0: "P", 1: "T"}}
        dyn.update({f"prompt_{x}": {0: "P"} for x in DET_HEADS})
        torch.onnx.export(dec, (*feats, tokens, valid), str(out_dir / "mask_decoder.onnx"), input_names=names_in,
                          output_names=names_out, dynamic_axes=dyn, opset_version=OPSET, dynamo=False,
                          do_constant_folding=True)
    return enc, dec


def tensor_table(size, c, n, d, max_prompts):
    h, w = size
    f = lambda s, ch=c: [1, ch, h // s, w // s]  # noqa: E731
    feats = [("mask_feat", f(4)), ("feat_s8", f(8, 2 * c)), ("feat_s16", f(16)), ("feat_s32", f(32))]
    rows = [("image_encoder", "input", "image", [1, 3, h, w])]
    rows += [("image_encoder", "output", k, s) for k, s in feats]
    rows += [("mask_decoder", "input", k, s) for k, s in feats]
    rows += [("mask_decoder", "input", "prompt_tokens", ["P", "T", 2 * c]), ("mask_decoder", "input", "prompt_valid", ["P", "T"])]
    for grp, q in (("det", n), ("prompt", "P")):
        rows += [("mask_decoder", "output", f"{grp}_masks", [q, h // 4, w // 4]), ("mask_decoder", "output", f"{grp}_class_emb", [q, d]),
                 ("mask_decoder", "output", f"{grp}_assoc_emb", [q, c]), ("mask_decoder", "output", f"{grp}_quality", [q])]
    return rows



def toml_value(v):
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return repr(v)


def bundle_toml(name, weights, description, size, c, n, d, logit_scale, max_prompts, max_tokens, t_opt, table):
    h, w = size
    lines = ["# Written by engines/export_official.py; do not edit by hand.", "[bundle]", f"name = {toml_value(name)}",
             'family = "unified-query-seg"', f"weights = {toml_value(weights)}", f"description = {toml_value(description)}", "",
             "[input]", f"width = {w}", f"height = {h}", "mean = [0.485, 0.456, 0.406]", "std = [0.229, 0.224, 0.225]", "",
             "[model]", "contract = 2", f"hidden_dim = {c}", f"num_queries = {n}", f"class_dim = {d}", f"assoc_dim = {c}",
             "mask_stride = 4", f"max_prompts = {max_prompts}", f"max_prompt_tokens = {max_tokens}",
             f"logit_scale = {logit_scale!r}", 'prompt_encoding = "gather"', f"token_dim = {2 * c}", "",
             "[files]", 'image_encoder = "image_encoder.onnx"', 'mask_decoder = "mask_decoder.onnx"',
             'vocabulary = "vocabulary.json"', ""]
    for f, io, nm, shape in table:
        lines += ["[[tensors]]", f"file = {toml_value(f)}", f"io = {toml_value(io)}", f"name = {toml_value(nm)}",
                  'dtype = "f32"', f"shape = {toml_value(shape)}", ""]
    lines += ["[dynamic]", f"P = [1, {min(8, max_prompts)}, {max_prompts}]", f"T = [1, {t_opt}, {max_tokens}]", ""]
    return "\n".join(lines)
