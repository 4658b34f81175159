#!/usr/bin/env python3
"""How much of an online-AP50 difference between two runs on the same videos is noise.

    python engines/experiments/session17/paired_bootstrap.py --annotations A.json \
        --base OUT_A/prompt-query-i1/frame_results.json --new OUT_B/prompt-query-i1/frame_results.json

pycocotools matches each run's outputs once (IoU 0.5, per frame and class, as
judge_frames.py). Then whole videos are resampled with replacement, the same draw for both
runs (paired), and AP50 is re-accumulated from the fixed matches: a video drawn twice
counts its objects and outputs twice. Prints the difference on the full set and the 95 %
percentile interval of the resampled differences (without --new: one run's AP50 and its
interval). Diagnosis of the adoption threshold,
not a rule: validation data only.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

ENGINES = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ENGINES))
sys.path.insert(0, str(ENGINES / "experiments" / "session14"))
from ap50_errors import evaluated, load  # noqa: E402

RECALLS = np.linspace(0, 1, 101)


def matches(images, gts, dets, cats, video_of):
    """Per class: (video, score, is_tp) of every output and the GT count per video."""
    ev = evaluated(images, gts, dets, cats, iouThrs=np.array([0.5]), areaRng=[[0, 1e10]],
                   areaRngLbl=["all"], maxDets=[100])
    out = {}
    for e in ev.evalImgs:
        if e is None:
            continue
        v = video_of[e["image_id"]]
        rows, n_gt = out.setdefault(e["category_id"], ([], {}))
        keep = ~np.asarray(e["gtIgnore"], bool)
        n_gt[v] = n_gt.get(v, 0) + int(keep.sum())
        for s, m, ig in zip(e["dtScores"], e["dtMatches"][0], e["dtIgnore"][0]):
            if not ig:
                rows.append((v, s, m > 0))
    return out


def ap50(per_class, weight):
    """COCO 101-point AP at IoU 0.5 with each video counted `weight[video]` times."""
    aps = []
    for rows, n_gt in per_class.values():
        total = sum(weight[v] * n for v, n in n_gt.items())
        if total == 0:
            continue
        if not rows:
            aps.append(0.0)
            continue
        v, s, tp = (np.array(x) for x in zip(*rows))
        order = np.argsort(-s, kind="mergesort")
        w = weight[v[order]]
        tps, fps = np.cumsum(w * tp[order]), np.cumsum(w * ~tp[order])
        rec = tps / total
        prec = tps / np.maximum(tps + fps, np.finfo(float).eps)
        prec = np.maximum.accumulate(prec[::-1])[::-1]
        idx = np.searchsorted(rec, RECALLS, side="left")
        aps.append(float(np.where(idx < len(prec), prec[np.minimum(idx, len(prec) - 1)], 0).mean()))
    return float(np.mean(aps))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--annotations", type=Path, required=True)
    ap.add_argument("--base", type=Path, required=True)
    ap.add_argument("--new", type=Path, help="without it: the interval of --base's AP50 alone")
    ap.add_argument("--resamples", type=int, default=1000)
    args = ap.parse_args()
    ann = json.loads(args.annotations.read_text())
    vids = sorted(v["id"] for v in ann["videos"])
    video_of, k = {}, 0
    for v in sorted(ann["videos"], key=lambda v: v["id"]):
        for _ in range(v["length"]):
            k += 1
            video_of[k] = vids.index(v["id"])
    runs = []
    for path in [args.base] + ([args.new] if args.new else []):
        images, gts, dets = load(ann, json.loads(path.read_text()))
        runs.append(matches(images, gts, dets, ann["categories"], video_of))
    ones = np.ones(len(vids))
    full = [ap50(r, ones) for r in runs]
    rng = np.random.default_rng(0)
    if not args.new:
        vals = [ap50(runs[0], np.bincount(rng.integers(len(vids), size=len(vids)), minlength=len(vids)).astype(float))
                for _ in range(args.resamples)]
        lo, hi = np.quantile(vals, [0.025, 0.975])
        print(f"AP50 {full[0]:.4f}; video bootstrap ({args.resamples} resamples) 95 % interval [{lo:.4f}, {hi:.4f}]")
        return
    diffs = []
    for _ in range(args.resamples):
        w = np.bincount(rng.integers(len(vids), size=len(vids)), minlength=len(vids)).astype(float)
        diffs.append(ap50(runs[1], w) - ap50(runs[0], w))
    lo, hi = np.quantile(diffs, [0.025, 0.975])
    print(f"AP50 base {full[0]:.4f}, new {full[1]:.4f}, difference {full[1] - full[0]:+.4f}; "
          f"paired video bootstrap ({args.resamples} resamples) 95 % interval [{lo:+.4f}, {hi:+.4f}], "
          f"P(difference <= 0) = {np.mean(np.array(diffs) <= 0):.3f}")


if __name__ == "__main__":
    main()
