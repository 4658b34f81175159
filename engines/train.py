#!/usr/bin/env python3
"""Train the tiny unified segmenter on the synthetic world, on the CPU, from a seed.

    python engines/train.py            # generate data (segstream synth), train, save checkpoint
    python engines/export_bundle.py --checkpoint engines/checkpoints/tiny.pt --out engines/tiny

Data: `segstream synth` datasets (training seeds only, see src/world/mod.rs TRAIN_SEEDS).
Everything random (data order, sampler draws, init) derives from --seed; one process,
torch threads fixed, so a rerun gives the same checkpoint up to float nondeterminism of
multithreaded CPU kernels.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # 2 threads on a shared 2-core box: no spinning

import argparse
import json
import math
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ENGINES = Path(__file__).resolve().parent
sys.path.insert(0, str(ENGINES))
from segmodel.batch import make_batch, partial_frames  # noqa: E402
from segmodel.config import DEFAULT, ROUND_ROBIN  # noqa: E402
from segmodel.data import load_dataset  # noqa: E402
from segmodel.model import SegModel  # noqa: E402
from segmodel.step import compute_loss  # noqa: E402

REPO = ENGINES.parent


def synth(bin_path: Path, out: Path, seed: int, videos: int, frames: int, extra=(),
          size: int = DEFAULT.width):
    """Render a dataset at the model's input size (the world scales with the frame); an
    existing one is reused only when it holds the requested videos and frames per video."""
    ann = out / "annotations.json"
    if ann.exists():
        have = json.loads(ann.read_text())["videos"]
        if len(have) == videos and all(len(v["file_names"]) == frames for v in have):
            return
    if out.exists():
        shutil.rmtree(out)
    cmd = [str(bin_path), "synth", "--seed", str(seed), "--videos", str(videos),
           "--frames", str(frames), "--width", str(size), "--height", str(size),
           "--out", str(out), *extra]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def default_synth_bin() -> Path:
    """The release CLI when built, else the debug one (synth is fast enough in debug)."""
    for kind in ("release", "debug"):
        p = REPO / "target" / kind / "segstream"
        if p.exists():
            return p
    return REPO / "target" / "release" / "segstream"


def text_embeddings(bundle: Path) -> torch.Tensor:
    voc = json.loads((bundle / "vocabulary.json").read_text())
    return torch.tensor(voc["embeddings"], dtype=torch.float32)


def lr_at(it, progress, base, warmup=200):
    """Linear warm-up over the first iterations, then cosine decay over `progress` in [0, 1]."""
    if it < warmup:
        return base * (it + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def progress_at(it, total, elapsed_min, limit_min, warmup=200):
    """How far the schedule is: by iterations, or by the clock when a time limit is set and
    the clock is further along. Why: a run cut by the limit on a slower or shared machine
    still ends with a fully decayed learning rate (most of the last gains come from the
    decay) instead of stopping at a high one. With --time-limit 0 the schedule depends on
    the iteration alone, so a seed gives the same checkpoint on any machine."""
    by_iter = (it - warmup) / max(1, total - warmup)
    if not limit_min:
        return by_iter
    return max(by_iter, elapsed_min / limit_min)


def default_precision(cpuinfo=Path("/proc/cpuinfo")) -> str:
    """bf16 autocast only where the CPU has AMX tiles. Measured: with AMX the encoder's
    step went 1.29 -> 1.09 s in bf16; on a Xeon with AVX512-BF16 but no AMX the same
    step (with the class branch) took 1.64 s in bf16 against 1.41 s in fp32."""
    try:
        return "bf16" if "amx_bf16" in cpuinfo.read_text() else "fp32"
    except OSError:
        return "fp32"


def parse():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=ENGINES / "data" / f"train-{DEFAULT.width}")
    ap.add_argument("--synth-bin", type=Path, default=default_synth_bin())
    ap.add_argument("--synth-seed", type=int, default=0, help="first training world seed")
    # 1440 worlds rather than 360: held-out class accuracy trailed the training one (0.89
    # vs 0.97 on 100 held-out videos), a sign of too few distinct worlds. Each is rendered
    # for 16 frames and 8 consecutive ones are kept (--window), to bound memory (~7 GB).
    ap.add_argument("--videos", type=int, default=1200)
    ap.add_argument("--hard-videos", type=int, default=240,
                    help="extra videos with --difficulty hard (seeds from synth-seed + 50000)")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--window", type=int, default=8,
                    help="consecutive frames kept per video, at a seeded offset (0 = all)")
    # 6400 rather than 5200: higher online AP50 of the streaming output on two sets of 400
    # validation videos (paired differences +0.006 and +0.008, both 95 % intervals above
    # zero; engines/tools/paired_bootstrap.py); ~82 min on an AMX host.
    ap.add_argument("--iters", type=int, default=6400,
                    help="6400 x ~0.77 s (bf16, channels-last encoder) on an idle 2-core AMX "
                         "host (1.47 s in fp32 on an AVX2 one); the time limit shortens the "
                         "schedule when slower")
    ap.add_argument("--clips", type=int, default=8, help="clips per batch (2 frames each)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    # auto: on an AVX2-only host (AMD EPYC) bf16 autocast is emulated, 9.4 s per step
    # against 1.47 s in fp32 (20 smoke steps each), which would leave ~560 iterations inside
    # the time limit. On an AMX host auto picks bf16, as the default bundle was trained.
    ap.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                    help="encoder autocast precision while training: auto = bf16 on a CPU "
                         "with AMX (the default bundle's recipe), else fp32 (faster there, see "
                         "default_precision); bf16 / fp32 force one")
    ap.add_argument("--class-branch", choices=["on", "off"],
                    default="on" if DEFAULT.class_feat else "off",
                    help="the image -> class_feat branch pooled into the class head "
                         "(segmodel/model.py ClassBranch); off = none (the default bundle)")
    ap.add_argument("--mask-pos", choices=["on", "off"],
                    default="on" if DEFAULT.mask_pos else "off",
                    help="positional mask features (ModelConfig.mask_pos): on = the "
                         "default bundle; off = mask_feat without the position term")
    ap.add_argument("--last-level", choices=["s32", "s8"], default="s8",
                    help="feature level of the last decoder layer: s8 = (s32, s16, s8, s8), "
                         "the default bundle; s32 = round-robin (s32, s16, "
                         "s8, s32), the bundles before it")
    ap.add_argument("--final-size", type=int, default=0,
                    help="input size of the last --final-fraction of the schedule (0 = the "
                         "base size throughout): progressive resizing, the final phase at "
                         "the size the bundle is exported at, from the same renders "
                         "upsampled as the runtime upsamples a frame")
    ap.add_argument("--final-fraction", type=float, default=0.25,
                    help="share of the schedule (by progress, so the clock counts when it "
                         "leads) run at --final-size")
    ap.add_argument("--focus-partial", type=float, default=0.0,
                    help="fraction of clips built around a frame where some object shows "
                         "less than half its largest area in the window (cut by the edge "
                         "or mostly hidden); 0 = uniform clips, the default recipe")
    ap.add_argument("--out", type=Path, default=ENGINES / "checkpoints" / "tiny.pt")
    ap.add_argument("--log", type=Path, default=None)
    ap.add_argument("--resume", type=Path, default=None,
                    help="continue a checkpoint (model, optimizer if saved) at its iteration")
    ap.add_argument("--time-limit", type=float, default=89,
                    help="minutes for the whole command (data included); the learning-rate "
                         "schedule follows the clock when it is ahead of the iterations and "
                         "training stops at the limit, so the command stays within the "
                         "90-minute budget on a slower or shared machine. 0 = no limit (the "
                         "same checkpoint for a seed on any machine)")
    return ap.parse_args()


def main():
    args = parse()
    if args.precision == "auto":
        args.precision = default_precision()
    print(f"encoder precision: {args.precision}", flush=True)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.time()
    synth(args.synth_bin, args.data / "normal", args.synth_seed, args.videos, args.frames)
    videos = load_dataset(args.data / "normal", DEFAULT.width, window=args.window,
                          seed=args.seed)
    if args.hard_videos:
        synth(args.synth_bin, args.data / "hard", args.synth_seed + 50000, args.hard_videos,
              args.frames, ["--difficulty", "hard"])
        videos += load_dataset(args.data / "hard", DEFAULT.width, window=args.window,
                               seed=args.seed)
    print(f"loaded {len(videos)} videos in {time.time() - t0:.0f}s", flush=True)
    focus = partial_frames(videos) if args.focus_partial > 0 else None
    if focus is not None:
        n_frames = sum(v.frames.shape[0] for v in videos)
        print(f"{len(focus)} of {n_frames} frames show a partial object", flush=True)
    text = text_embeddings(ENGINES / "tiny")
    # channels_last with NHWC input (compute_loss): 16 % faster steps on this CPU.
    levels = DEFAULT.layer_levels if args.last_level == "s8" else ROUND_ROBIN
    cfg = replace(DEFAULT, class_feat=args.class_branch == "on", mask_pos=args.mask_pos == "on",
                  layer_levels=levels)
    final_cfg = replace(cfg, width=args.final_size, height=args.final_size)
    model = SegModel(cfg).train().to(memory_format=torch.channels_last)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and "embed" not in n]
    other = [p for n, p in model.named_parameters() if not (p.ndim > 1 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                             {"params": other, "weight_decay": 0.0}], lr=args.lr)
    start = 0
    if args.resume:
        state = torch.load(args.resume, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        if "optim" in state:
            opt.load_state_dict(state["optim"])
        start = int(state["iters"])
        # Fresh but seeded streams, distinct from the first run's.
        rng = np.random.default_rng([args.seed, start])
        gen = torch.Generator().manual_seed(args.seed * 1_000_003 + start)
        print(f"resumed {args.resume} at iteration {start}", flush=True)
    log_path = args.log or args.out.with_suffix(".log.jsonl")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    logf = open(log_path, "a" if args.resume else "w")
    t_train, acc, stopped = time.time(), {}, None
    for it in range(start, args.iters):
        progress = progress_at(it, args.iters, (time.time() - t0) / 60, args.time_limit)
        if progress >= 1.0:
            stopped = it
            print(f"time limit reached after {stopped} iterations", flush=True)
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(it, progress, args.lr)
        final = args.final_size and progress >= 1.0 - args.final_fraction
        batch = make_batch(videos, args.clips, final_cfg if final else cfg, rng, gen,
                           focus=focus, focus_p=args.focus_partial)
        logs = {}
        loss = compute_loss(model, batch, text, logs, bf16=args.precision == "bf16")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        logs["loss"] = loss.item()
        for k, v in logs.items():
            acc[k] = acc.get(k, 0.0) + v
        if (it + 1) % 50 == 0 or it == args.iters - 1:
            n = min(50 if (it + 1) % 50 == 0 else (it + 1) % 50, it + 1 - start)
            rec = {"iter": it + 1, "min": round((time.time() - t_train) / 60, 2),
                   "lr": round(opt.param_groups[0]["lr"], 6),
                   **{k: round(v / n, 4) for k, v in acc.items()}}
            print(json.dumps(rec), flush=True)
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
            acc = {}
        if (it + 1) % 500 == 0:
            save(model, args, it + 1, opt)
    save(model, args, stopped or args.iters, opt)
    print(f"trained in {(time.time() - t_train) / 60:.1f} min; total {(time.time() - t0) / 60:.1f}"
          f" min; checkpoint {args.out}", flush=True)


def save(model, args, iters, opt):
    torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "iters": iters,
                "args": vars(args) | {
        k: str(v) for k, v in vars(args).items() if isinstance(v, Path)}}, args.out)


if __name__ == "__main__":
    main()
