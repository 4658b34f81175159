#!/usr/bin/env python3
"""How much of an online-AP50 difference between two runs on the same videos is noise.

    python engines/tools/paired_bootstrap.py --annotations A.json \
        --base OUT_A/prompt-query-i1/frame_results.json --new OUT_B/prompt-query-i1/frame_results.json

pycocotools matches each run's outputs once (IoU 0.5, per frame and class, as
judge_frames.py). Then whole videos are resampled with replacement, the same draw for both
runs (paired), and AP50 is re-accumulated from the fixed matches: a video drawn twice
counts its objects and outputs twice. Prints the difference on the full set and the 95 %
percentile interval of the resampled differences (without --new: one run's AP50 and its
interval). Choices are made with it on validation data only; on held-out data it only
reports the interval of figures already fixed.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

ENGINES = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ENGINES))
sys.path.insert(0, str(ENGINES / "tools"))
from ap50_errors import evaluated, load  # noqa: E402

RECALLS = np.linspace(0, 1, 101)


def matches(images, gts, dets, cats, video_of, n_videos):
    """Per class: (video of each output, is_tp of each output), outputs best score first,
    and the class's GT count per video. Sorted once here: a resample changes only weights."""
    ev = evaluated(images, gts, dets, cats, iouThrs=np.array([0.5]), areaRng=[[0, 1e10]],
                   areaRngLbl=["all"], maxDets=[100])
    rows, n_gt = {}, {}
    for e in ev.evalImgs:
        if e is None:
            continue
        v, c = video_of[e["image_id"]], e["category_id"]
        n_gt.setdefault(c, np.zeros(n_videos))[v] += int((~np.asarray(e["gtIgnore"], bool)).sum())
        rows.setdefault(c, []).extend((v, s, m > 0) for s, m, ig in
                                      zip(e["dtScores"], e["dtMatches"][0], e["dtIgnore"][0]) if not ig)
    out = []
    for c, counts in n_gt.items():
        r = rows.get(c, [])
        v, s, tp = (np.array(x) for x in zip(*r)) if r else (np.zeros(0, int), np.zeros(0), np.zeros(0, bool))
        order = np.argsort(-s, kind="mergesort")
        out.append((v[order], tp[order], counts))
    return out


def weighted_ap50(per_class, weight):
    """COCO 101-point AP at IoU 0.5 with each video counted `weight[video]` times."""
    aps = []
    for v, tp, counts in per_class:
        total = weight @ counts
        if total == 0:
            continue
        if len(v) == 0:
            aps.append(0.0)
            continue
        w = weight[v]
        tps, fps = np.cumsum(w * tp), np.cumsum(w * ~tp)
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
    videos = sorted(ann["videos"], key=lambda v: v["id"])
    # Image ids as load() numbers them: videos in id order, frames in order, from 1.
    video_of = dict(enumerate((i for i, v in enumerate(videos) for _ in range(v["length"])), start=1))
    runs = []
    for path in [args.base] + ([args.new] if args.new else []):
        images, gts, dets = load(ann, json.loads(path.read_text()))
        runs.append(matches(images, gts, dets, ann["categories"], video_of, len(videos)))
    n = len(videos)
    full = [weighted_ap50(r, np.ones(n)) for r in runs]
    rng = np.random.default_rng(0)
    vals = np.array([[weighted_ap50(r, w) for r in runs] for w in
                     (np.bincount(rng.integers(n, size=n), minlength=n).astype(float) for _ in range(args.resamples))])
    if not args.new:
        lo, hi = np.quantile(vals[:, 0], [0.025, 0.975])
        print(f"AP50 {full[0]:.4f}; video bootstrap ({args.resamples} resamples) 95 % interval [{lo:.4f}, {hi:.4f}]")
        return
    diffs = vals[:, 1] - vals[:, 0]
    lo, hi = np.quantile(diffs, [0.025, 0.975])
    print(f"AP50 base {full[0]:.4f}, new {full[1]:.4f}, difference {full[1] - full[0]:+.4f}; "
          f"paired video bootstrap ({args.resamples} resamples) 95 % interval [{lo:+.4f}, {hi:+.4f}], "
          f"P(difference <= 0) = {np.mean(diffs <= 0):.3f}")


if __name__ == "__main__":
    main()
