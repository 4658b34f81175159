"""Convert an official UniVS checkpoint into a segstream bundle (engine contract v2).

    python engines/export_official.py --checkpoint univs_r50_stage3.pth \
        --class-embeddings combined_datasets_cls_emb_rn50x4.pth \
        --univs-src UniVS --detectron2-src detectron2 --out engines/univs-r50

The model is built by the official code (UniVS at the commit in official/univs_source.py,
detectron2 as pure Python) from the official YAML, the checkpoint is loaded into it, and the
two networks are traced from the official forward (official/univs_export.py). Every tensor
of the checkpoint must be read by an exported graph, become a manifest value (`cls_temp` ->
`logit_scale`), or be named in NOT_IN_CONTRACT with its reason; otherwise the export fails
and lists them. ONNX Runtime is then checked against the official PyTorch forward.

Without --checkpoint, --random-seed N builds the model with the official random
initialisation (for the parity test; `weights = "random"`).
"""
import argparse
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def parse_args(argv=None):
    a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = a.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="official .pth (a state dict, or a dict with a 'model' entry)")
    src.add_argument("--random-seed", type=int, help="official random initialisation with this torch seed")
    a.add_argument("--class-embeddings", type=Path,
                   help="official concept embeddings (datasets/concept_emb/combined_datasets_cls_emb_rn50x4.pth); "
                        "random rows with --random-seed when omitted")
    a.add_argument("--vocabulary", default="ytvis21",
                   help="dataset whose class names go into vocabulary.json (a key of the official "
                        "combined_datasets_category_info; default ytvis21, 40 classes)")
    a.add_argument("--univs-src", type=Path, required=True, help="official UniVS source tree")
    a.add_argument("--detectron2-src", type=Path, required=True, help="detectron2 source tree")
    a.add_argument("--config", default="configs/univs/univs_r50_stage3.yaml", help="official YAML (relative to --univs-src)")
    a.add_argument("--input-size", type=int, nargs=2, default=[640, 640], metavar=("H", "W"), help="fixed input, multiples of 32")
    a.add_argument("--max-prompts", type=int, default=32)
    a.add_argument("--tokens-per-frame", type=int, default=128, help="R: the official VIS/VPS configs use 128")
    a.add_argument("--memory-frames", type=int, default=5, help="M: official NUM_PREV_FRAMES_MEMORY")
    a.add_argument("--name", default="univs-r50")
    a.add_argument("--out", type=Path, required=True)
    a.add_argument("--skip-check", action="store_true", help="skip the ONNX Runtime vs PyTorch check")
    return a.parse_args(argv)


def load_state(path):
    import torch

    obj = torch.load(str(path), map_location="cpu", weights_only=False)
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def class_embeddings(args, total_rows, workdir):
    """Path of the concept-embedding file the official decoder loads at construction."""
    import torch

    if args.class_embeddings is not None:
        return args.class_embeddings
    if args.random_seed is None:
        raise SystemExit("--class-embeddings is required with --checkpoint (the checkpoint holds no class embeddings)")
    g = torch.Generator().manual_seed(args.random_seed + 1)
    path = workdir / "random_cls_emb.pth"
    torch.save(torch.randn(total_rows, 640, generator=g), str(path))
    return path


def vocabulary(args, emb_path):
    import torch

    from official.univs_source import category_range

    names = (args.univs_src / "datasets/concept_emb/combined_datasets.txt").read_text().splitlines()
    count, start = category_range(args.vocabulary)
    emb = torch.load(str(emb_path), map_location="cpu")
    rows = emb[start:start + count].float()
    return {"names": [n.strip() for n in names[start:start + count]], "embeddings": rows.tolist()}


def build(args, emb_path):
    import torch

    from official import univs_source as us

    us.import_official(str(args.univs_src), str(args.detectron2_src))
    cfg = us.official_cfg(str(args.univs_src), args.config, class_embed_path=str(emb_path))
    if args.random_seed is not None:
        torch.manual_seed(args.random_seed)
    official = us.OfficialUniVS(cfg)
    if args.checkpoint is None:
        return official
    state = load_state(args.checkpoint)
    model_keys = set(official.model.state_dict())
    extra = sorted(set(state) - model_keys)
    missing = sorted(model_keys - set(state))
    if missing:
        raise SystemExit(f"checkpoint lacks {len(missing)} tensors of the official model: {', '.join(missing)}")
    if extra:
        raise SystemExit(f"{len(extra)} checkpoint tensors are used by no exported graph: {', '.join(extra)}")
    official.model.load_state_dict(state, strict=True)
    return official


def main(argv=None):
    args = parse_args(argv)
    import torch

    from official import univs_export as ux
    from segmodel.export import stamp_table_shapes

    args.out.mkdir(parents=True, exist_ok=True)
    h, w = args.input_size
    if h % 32 or w % 32:
        raise SystemExit("--input-size must be multiples of 32")
    names_total = len((args.univs_src / "datasets/concept_emb/combined_datasets.txt").read_text().splitlines())
    import tempfile

    tmp = tempfile.TemporaryDirectory()
    emb_path = class_embeddings(args, names_total, Path(tmp.name))
    official = build(args, emb_path)
    p = official.predictor
    n, c = p.query_feat.weight.shape
    d = p.vis2text_projection.weight.shape[0]
    max_tokens = (args.memory_frames + 1) * args.tokens_per_frame

    enc, dec = ux.Encoder(official).eval(), ux.Decoder(official).eval()
    image = torch.randn(1, 3, h, w)

    def run():
        feats = enc(image)
        dec(*feats, torch.randn(2, 4, 2 * c), torch.ones(2, 4))

    used = ux.used_tensors(official, run)
    skipped = ux.check_consumed(official.model.state_dict().keys(), used | {"sem_seg_head.predictor.cls_temp.weight"})
    ux.export_graphs(official, args.out, (h, w), args.max_prompts, max_tokens)
    table = ux.tensor_table((h, w), c, n, d, args.max_prompts)
    stamp_table_shapes(args.out / "image_encoder.onnx", "image_encoder", table)
    stamp_table_shapes(args.out / "mask_decoder.onnx", "mask_decoder", table)
    vocab = vocabulary(args, emb_path)
    (args.out / "vocabulary.json").write_text(json.dumps(vocab))
    logit_scale = float(math.exp(p.cls_temp.weight.item()))
    weights = "random" if args.checkpoint is None else "trained"
    source = f"seeded random initialisation {args.random_seed}" if args.checkpoint is None else args.checkpoint.name
    desc = (f"Official UniVS ({args.config}, commit {__import__('official.univs_source').univs_source.UNIVS_COMMIT[:12]}) "
            f"converted by engines/export_official.py from {source}; vocabulary {args.vocabulary}")
    toml = ux.bundle_toml(args.name, weights, desc, (h, w), c, n, d, logit_scale, args.max_prompts, max_tokens,
                          args.tokens_per_frame, table)
    (args.out / "bundle.toml").write_text(toml)
    (args.out / "unexported_tensors.json").write_text(json.dumps(
        {k: next(r for pre, r in ux.NOT_IN_CONTRACT.items() if k.startswith(pre)) for k in skipped}, indent=1))
    print(f"exported {len(used)} of {len(official.model.state_dict())} tensors into the graphs; "
          f"not in contract v2: {len(skipped)} (unexported_tensors.json); logit_scale {logit_scale:.4f}")
    if not args.skip_check:
        from official.univs_check import ort_vs_torch

        failures, worst, rounding = ort_vs_torch(official, enc, dec, args.out, (h, w))
        print(f"ONNX Runtime vs the official forward: max abs {worst:.2e} against float32; the official "
              f"float32 forward flips attention bits relative to float64 on {rounding} of 4 inputs")
        if failures:
            raise SystemExit("ONNX Runtime differs from the official forward beyond 1e-3 and beyond the official "
                             "float32 forward's own distance from float64:\n  " + "\n  ".join(failures))

if __name__ == "__main__":
    main()
