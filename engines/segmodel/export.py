"""Export a SegModel to the engine contract: image_encoder.onnx + mask_decoder.onnx +
bundle.toml (every tensor listed). The text side lives in text.py.
"""
import json
from pathlib import Path

import torch
import torch.nn as nn

from .config import ModelConfig
from .names import DEC_OUT, ENC_OUT, HEADS  # noqa: F401  (re-exported for callers)

OPSET = 17
STRIDES = (4, 8, 16, 32, 4)


def enc_out(cfg: ModelConfig):
    """Encoder output names: the four of contract v1, plus the optional `class_feat`."""
    return ENC_OUT + (["class_feat"] if cfg.class_feat else [])


def dec_in(cfg: ModelConfig):
    return enc_out(cfg) + ["prompt_tokens", "prompt_valid"]


class EncoderOnnx(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.enc = model.encoder

    def forward(self, image):
        return self.enc(image)


class DecoderOnnx(nn.Module):
    """Contract view of the decoder: batch 1 features, [P,T,C] tokens, split outputs."""

    def __init__(self, model):
        super().__init__()
        self.dec = model.decoder
        self.n = model.cfg.num_queries

    def forward(self, *inputs):
        """inputs = the encoder's features (in enc_out order), prompt_tokens, prompt_valid."""
        *feats, prompt_tokens, prompt_valid = inputs
        outs = self.dec(tuple(feats), prompt_tokens.unsqueeze(0), prompt_valid.unsqueeze(0))
        n = self.n
        res = []
        for part in (slice(0, n), slice(n, None)):
            for t in outs[-1]:
                res.append(t[0, part])
        return tuple(res)


def feature_shapes(cfg: ModelConfig):
    c, h, w = cfg.hidden_dim, cfg.height, cfg.width
    return {name: [1, c, h // s, w // s] for name, s in zip(enc_out(cfg), STRIDES)}


def tensor_table(cfg: ModelConfig):
    """(file, io, name, shape) of every ONNX tensor, dims as ints or symbols."""
    n, d, e = cfg.num_queries, cfg.class_dim, cfg.assoc_dim
    h4, w4 = cfg.height // 4, cfg.width // 4
    feats = feature_shapes(cfg)
    rows = [("image_encoder", "input", "image", [1, 3, cfg.height, cfg.width])]
    rows += [("image_encoder", "output", k, v) for k, v in feats.items()]
    rows += [("mask_decoder", "input", k, v) for k, v in feats.items()]
    rows += [("mask_decoder", "input", "prompt_tokens", ["P", "T", cfg.hidden_dim]),
             ("mask_decoder", "input", "prompt_valid", ["P", "T"])]
    for who, q in (("det", n), ("prompt", "P")):
        rows += [("mask_decoder", "output", f"{who}_masks", [q, h4, w4]),
                 ("mask_decoder", "output", f"{who}_class_emb", [q, d]),
                 ("mask_decoder", "output", f"{who}_assoc_emb", [q, e]),
                 ("mask_decoder", "output", f"{who}_quality", [q])]
    return rows


def _onnx_export(module, args, path, in_names, out_names, dyn):
    torch.onnx.export(module, args, str(path), input_names=in_names, output_names=out_names,
                      dynamic_axes=dyn, opset_version=OPSET, dynamo=False,
                      do_constant_folding=True)


def stamp_io_shapes(path: Path, file_key: str, cfg: ModelConfig):
    """Write the manifest's shapes onto the graph inputs/outputs.

    The TorchScript exporter names the first axis of the det_* outputs after the Slice
    that makes them (N + P minus P) instead of the constant N; stamping the declared
    shapes lets ONNX Runtime and TensorRT see exactly the contract's static dims.
    """
    stamp_table_shapes(path, file_key, tensor_table(cfg))


def stamp_table_shapes(path: Path, file_key: str, rows):
    """Write the shapes of `rows` (file, "input"|"output", name, shape) for `file_key` onto
    the ONNX file's graph inputs/outputs (ints fixed, strings symbolic) and check it."""
    import onnx
    model = onnx.load(str(path))
    table = {(io, name): shape for f, io, name, shape in rows if f == file_key}
    for io, values in (("input", model.graph.input), ("output", model.graph.output)):
        for v in values:
            dims = v.type.tensor_type.shape.dim
            shape = table[(io, v.name)]
            assert len(dims) == len(shape), (v.name, shape)
            for d, s in zip(dims, shape):
                if isinstance(s, int):
                    d.ClearField("dim_param")
                    d.dim_value = s
                else:
                    d.ClearField("dim_value")
                    d.dim_param = s
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def export_onnx(model, out_dir: Path):
    """Write image_encoder.onnx and mask_decoder.onnx (eval mode, f32)."""
    cfg = model.cfg
    model = model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    image = torch.randn(1, 3, cfg.height, cfg.width)
    with torch.no_grad():
        feats = model.encoder(image)
    _onnx_export(EncoderOnnx(model), (image,), out_dir / "image_encoder.onnx",
                 ["image"], enc_out(cfg), None)
    tokens = torch.randn(3, 40, cfg.hidden_dim)
    valid = torch.ones(3, 40)
    dyn = {"prompt_tokens": {0: "P", 1: "T"}, "prompt_valid": {0: "P", 1: "T"}}
    dyn.update({f"prompt_{h}": {0: "P"} for h in HEADS})
    _onnx_export(DecoderOnnx(model), (*feats, tokens, valid), out_dir / "mask_decoder.onnx",
                 dec_in(cfg), DEC_OUT, dyn)
    stamp_io_shapes(out_dir / "image_encoder.onnx", "image_encoder", cfg)
    stamp_io_shapes(out_dir / "mask_decoder.onnx", "mask_decoder", cfg)


def _toml_list(v):
    return "[" + ", ".join(json.dumps(x) for x in v) + "]"


def bundle_toml(cfg: ModelConfig, weights: str, description: str, text_encoder: bool) -> str:
    lines = [
        "# Written by engines/segmodel/export.py; do not edit by hand.",
        "[bundle]", 'name = "tiny"', 'family = "unified-query-seg"',
        f'weights = "{weights}"', f"description = {json.dumps(description)}", "",
        "[input]", f"width = {cfg.width}", f"height = {cfg.height}",
        f"mean = {_toml_list(cfg.mean)}", f"std = {_toml_list(cfg.std)}", "",
        "[model]", f"hidden_dim = {cfg.hidden_dim}", f"num_queries = {cfg.num_queries}",
        f"class_dim = {cfg.class_dim}", f"assoc_dim = {cfg.assoc_dim}",
        f"mask_stride = {cfg.mask_stride}", f"max_prompts = {cfg.max_prompts}",
        f"max_prompt_tokens = {cfg.max_prompt_tokens}",
        f"logit_scale = {cfg.logit_scale}", "",
        "[files]", 'image_encoder = "image_encoder.onnx"', 'mask_decoder = "mask_decoder.onnx"',
        'vocabulary = "vocabulary.json"',
    ]
    if text_encoder:
        lines += ['text_encoder = "text_encoder.onnx"', 'tokenizer = "tokenizer.json"']
    rows = tensor_table(cfg)
    if text_encoder:
        rows += [("text_encoder", "input", "input_ids", ["B", "L"]),
                 ("text_encoder", "input", "attention_mask", ["B", "L"]),
                 ("text_encoder", "output", "text_emb", ["B", cfg.class_dim])]
    for f, io, name, shape in rows:
        dtype = "i64" if name in ("input_ids", "attention_mask") else "f32"
        lines += ["", "[[tensors]]", f'file = "{f}"', f'io = "{io}"', f'name = "{name}"',
                  f'dtype = "{dtype}"', f"shape = {_toml_list(shape)}"]
    lines += ["", "[dynamic]   # symbol = [min, opt, max]",
              f"P = [1, 8, {cfg.max_prompts}]",
              f"T = [1, {cfg.max_prompt_tokens}, {cfg.max_prompt_tokens}]"]
    if text_encoder:
        lines += ["B = [1, 8, 64]", "L = [1, 16, 64]"]
    return "\n".join(lines) + "\n"
