"""Make the official-parity case that tests/official_parity.rs checks (`make test-official`).

1. builds UniVS R50 with the official code and its random initialisation, and saves it as
   a checkpoint shaped like the official one ({"model": state_dict}) plus a concept-
   embedding file (random rows, the official file's shape);
2. converts that checkpoint with engines/export_official.py (the path users take);
3. for frames of a real video (resized to the bundle's input with cv2's bilinear, half-pixel
   centres, as the runtime's preprocessing) and random prompts (cells of the 1/8 grid),
   runs the OFFICIAL forward (backbone -> sem_seg_head, the official sampler's gather at
   those cells) and writes its mask logits, association embeddings and class
   probabilities (sigmoid of the official pred_logits over the vocabulary's rows), and
   the same outputs of the official decoder evaluated in float64 on the same features
   (univs_check.Float64Decoder: the reference for rows where float32 rounding flips
   attention bits), and how many attention bits float32 and float64 disagree on.

    python engines/official/parity_case.py --univs-src UniVS --detectron2-src detectron2 \
        --video media/01_dog.mp4 --out /tmp/case
"""
import argparse
import json
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def class_probs(class_emb, vocab, logit_scale):
    """The contract's class scoring (sigmoid of cosine x logit_scale against the
    vocabulary's rows), in the precision of its inputs."""
    e = class_emb / class_emb.norm(dim=1, keepdim=True).clamp(min=1e-6)
    v = vocab / vocab.norm(dim=1, keepdim=True)
    return (logit_scale * e @ v.t()).sigmoid()


def main():
    a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--univs-src", type=Path, required=True)
    a.add_argument("--detectron2-src", type=Path, required=True)
    a.add_argument("--video", type=Path, required=True)
    a.add_argument("--out", type=Path, required=True)
    a.add_argument("--input-size", type=int, nargs=2, default=[320, 320], metavar=("H", "W"))
    a.add_argument("--frames", type=int, default=4, help="frames, spread over the first 40")
    a.add_argument("--seed", type=int, default=0)
    args = a.parse_args()

    import cv2
    import numpy as np
    import torch

    import export_official
    from official import univs_check, univs_export, univs_source

    args.out.mkdir(parents=True, exist_ok=True)
    h, w = args.input_size
    common = ["--univs-src", str(args.univs_src), "--detectron2-src", str(args.detectron2_src)]
    # 1. a random-initialised official model saved as an official-shaped checkpoint
    univs_source.import_official(str(args.univs_src), str(args.detectron2_src))
    rows = len((args.univs_src / "datasets/concept_emb/combined_datasets.txt").read_text().splitlines())
    g = torch.Generator().manual_seed(args.seed + 1)
    emb_path = args.out / "cls_emb_random.pth"
    torch.save(torch.randn(rows, 640, generator=g), str(emb_path))
    cfg = univs_source.official_cfg(str(args.univs_src), class_embed_path=str(emb_path))
    torch.manual_seed(args.seed)
    official = univs_source.OfficialUniVS(cfg)
    ckpt = args.out / "univs_r50_random.pth"
    torch.save({"model": official.model.state_dict()}, str(ckpt))
    # 2. the user's conversion command
    bundle = args.out / "bundle"
    export_official.main(["--checkpoint", str(ckpt), "--class-embeddings", str(emb_path), *common,
                          "--input-size", str(h), str(w), "--out", str(bundle)])
    count, start = univs_source.category_range("ytvis21")
    # 3. official outputs on real frames
    dec = univs_export.Decoder(official).eval()
    enc = univs_export.Encoder(official).eval()
    dec64 = univs_check.Float64Decoder(dec)
    vocab64 = torch.tensor(json.loads((bundle / "vocabulary.json").read_text())["embeddings"], dtype=torch.float64)
    logit_scale = tomllib.loads((bundle / "bundle.toml").read_text())["model"]["logit_scale"]
    cap = cv2.VideoCapture(str(args.video))
    frames = []
    while len(frames) < 40:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr)
    if not frames:
        raise SystemExit(f"no frames decoded from {args.video}")
    picks = sorted(set(np.linspace(0, len(frames) - 1, args.frames).round().astype(int).tolist()))
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    cases = []
    for k, idx in enumerate(picks):
        rgb = cv2.resize(frames[idx][:, :, ::-1], (w, h), interpolation=cv2.INTER_LINEAR)
        (args.out / f"frame{k}.rgb").write_bytes(np.ascontiguousarray(rgb).tobytes())
        image = torch.tensor(((rgb / 255.0 - mean) / std).transpose(2, 0, 1)[None], dtype=torch.float32)
        p, t = (3, 128) if k % 2 == 0 else (1, 768)
        cells = torch.randint(0, (h // 8) * (w // 8), (p, t), generator=g)
        valid = (torch.rand(p, t, generator=g) > 0.1).float()
        with torch.no_grad():
            out = univs_export.official_reference(official, image, cells, valid)
            feats = enc(image)
            s8 = feats[1][0]
            tokens = s8.flatten(1).t()[cells]
            flips, moved = univs_check.perturbed(official, dec, feats, tokens, valid)
            _, bits32 = univs_check.attention_bits(official, dec, feats, tokens, valid)
            out64, bits64 = dec64(feats, tokens, valid)
            rounding = sum(int((a != b).sum()) for a, b in zip(bits32, bits64))
        masks = out["pred_masks"][0, :, 0]
        assoc = out["pred_embds"][0, :, 0]
        probs = out["pred_logits"][0, :, start:start + count].sigmoid()
        masks64 = torch.cat([out64[0], out64[4]])
        assoc64 = torch.cat([out64[2], out64[6]])
        probs64 = class_probs(torch.cat([out64[1], out64[5]]), vocab64, logit_scale)
        # Learnable rows: how far float32 evaluations of the official forward (as it is, and
        # under 1e-6 perturbations of its features) fall from float64 (univs_check.spread).
        n = official.predictor.num_queries
        spreads = {
            "masks": univs_check.spread([masks[:n]] + [m[0] for m in moved], out64[0]),
            "assoc": univs_check.spread([assoc[:n]] + [m[2] for m in moved], out64[2]),
            "probs": univs_check.spread([probs[:n]] + [class_probs(m[1], vocab64.float(), logit_scale) for m in moved],
                                        probs64[:n]),
        }
        for name, tensor in (("masks", masks), ("assoc", assoc), ("probs", probs),
                             ("masks64", masks64), ("assoc64", assoc64), ("probs64", probs64)):
            (args.out / f"frame{k}_{name}.f32").write_bytes(tensor.contiguous().numpy().astype("<f4").tobytes())
        (args.out / f"frame{k}_cells.i64").write_bytes(cells.numpy().astype("<i8").tobytes())
        (args.out / f"frame{k}_valid.f32").write_bytes(valid.numpy().astype("<f4").tobytes())
        cases.append({"frame": k, "video_frame": idx, "prompts": p, "tokens": t, "flips": flips, "rounding_flips": rounding, "spread": spreads,
                      "masks": list(masks.shape), "assoc": list(assoc.shape), "probs": list(probs.shape)})
        print(f"frame {idx}: P={p} T={t}, attention flips under 1e-6 perturbation: {flips}, "
              f"float32 vs float64: {rounding}")
    (args.out / "case.json").write_text(json.dumps({"bundle": "bundle", "width": w, "height": h, "frames": cases}, indent=1))


if __name__ == "__main__":
    main()
