#!/usr/bin/env python3
"""Which streaming outputs carry a wrong class, and why (validation only; uses the truth).

    python engines/tools/class_errors.py --annotations A.json \
        --results OUT/prompt-query-i1/frame_results.json

Each output is paired with the ground-truth object it overlaps most (mask IoU >= 0.5,
any class). Of the pairs with a wrong class it reports the object's visible fraction and
area, the frames since the object first appeared and since the track began, and whether
the same track was right on most of its other frames (a passing error) or wrong on most
(a track that settled on the wrong class).
"""
import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ENGINES = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ENGINES))
from judge_frames import rle_bytes  # noqa: E402
from pycocotools import mask as mask_utils  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--annotations", required=True)
    p.add_argument("--results", required=True)
    a = p.parse_args()
    ann = json.load(open(a.annotations))
    res = json.load(open(a.results))
    objs = defaultdict(list)
    for o in ann["annotations"]:
        objs[o["video_id"]].append(o)
    outs = defaultdict(list)
    for r in res:
        outs[(r["video_id"], r["frame"])].append(r)
    pairs = []  # (video, track, frame, gt, right)
    for v in ann["videos"]:
        vid = v["id"]
        first = {}
        for f in range(v["length"]):
            gts = [(o, o["segmentations"][f]) for o in objs[vid] if o["segmentations"][f] is not None]
            gts = [(o, rle_bytes(s)) for o, s in gts if o["areas"][f] > 0]
            for o, _ in gts:
                first.setdefault(o["id"], f)
            rs = outs.get((vid, f), [])
            if not gts or not rs:
                continue
            iou = mask_utils.iou([rle_bytes(r["segmentation"]) for r in rs], [s for _, s in gts], [0] * len(gts))
            for i, r in enumerate(rs):
                j = int(np.argmax(iou[i]))
                if iou[i][j] < 0.5:
                    continue
                o = gts[j][0]
                pairs.append(dict(video=vid, track=r["track_id"], frame=f, obj=o["id"], right=r["category_id"] == o["category_id"],
                                  visible=o["visible_fractions"][f], area=o["areas"][f], since_obj=f - first[o["id"]],
                                  cls=o["category_id"], said=r["category_id"]))
    by_track = defaultdict(list)
    for q in pairs:
        by_track[(q["video"], q["track"])].append(q)
    track_start = {k: min(q["frame"] for q in v) for k, v in by_track.items()}
    wrong = [q for q in pairs if not q["right"]]
    print(f"matched outputs {len(pairs)}, wrong class {len(wrong)} ({len(wrong) / max(1, len(pairs)):.3f})")
    def share(pred):
        n = sum(1 for q in wrong if pred(q))
        return f"{n} ({n / max(1, len(wrong)):.2f})"
    print("visible < 0.5:", share(lambda q: q["visible"] < 0.5), " visible < 0.9:", share(lambda q: q["visible"] < 0.9))
    print("area < 300 px:", share(lambda q: q["area"] < 300), " area < 1000:", share(lambda q: q["area"] < 1000))
    print("object appeared <= 3 frames ago:", share(lambda q: q["since_obj"] <= 3))
    print("track began <= 3 frames ago:", share(lambda q: q["frame"] - track_start[(q["video"], q["track"])] <= 3))
    settled = lambda q: sum(not x["right"] for x in by_track[(q["video"], q["track"])]) > len(by_track[(q["video"], q["track"])]) / 2
    print("on a track wrong on most of its frames:", share(settled))
    full_right = lambda q: any(x["right"] and x["visible"] >= 0.95 for x in by_track[(q["video"], q["track"])])
    print("track right on some fully visible frame:", share(full_right))
    full_wrong = [q for q in wrong if q["visible"] >= 0.95 and q["area"] >= 1000]
    print("wrong while fully visible and >= 1000 px:", len(full_wrong))
    conf = defaultdict(int)
    for q in wrong:
        conf[(q["cls"], q["said"])] += 1
    names = {c["id"]: c["name"] for c in ann["categories"]}
    top = sorted(conf.items(), key=lambda kv: -kv[1])[:12]
    print("confusions (truth -> said):", ", ".join(f"{names.get(t, t)}->{names.get(s, s)} {n}" for (t, s), n in top))


if __name__ == "__main__":
    main()
