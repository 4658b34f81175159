#!/usr/bin/env python3
"""Outside judges for segstream's metric code, run on the files `segstream eval` writes.

usage: tests/judges/metrics_judge.py GT.json VIS_RESULTS.json MOTS_DIR VOS.json  -> JSON on stdout

- VIS video mAP: pycocotools COCOeval (segm). A video becomes one tall image (its frames
  stacked vertically, absent = empty), so mask IoU of the stacks = YouTube-VIS video IoU
  (summed intersections / summed unions).
- per-frame mask AP: pycocotools COCOeval, one image per frame.
- IDF1, ID switches, MOTA, MOTP: py-motmetrics, one accumulator per video, distance
  1 - mask IoU (pycocotools maskUtils.iou), pairs with IoU < 0.5 not allowed.
- HOTA: TrackEval is not on PyPI, so (a) TrackEval's HOTA procedure is re-implemented
  here with numpy and scipy's linear_sum_assignment (what TrackEval itself calls), and
  (b) where motmetrics overlaps -- DetA and LocA at alpha = 0.5 equal motmetrics'
  detections / (objects + predictions - detections) and 1 - MOTP when no gt/hyp pair
  competes (the caller's "clean" data) -- those are reported as deta_05 / loca_05.
- J&F: the DAVIS-2017 procedure re-implemented with numpy/scipy (seg2bmap, disk dilation).
"""
import json
import math
import os
import sys
import contextlib

import numpy as np
import pycocotools.mask as mu
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
import motmetrics as mm
from scipy.ndimage import binary_dilation


def dec(rle, h, w):
    if rle is None:
        return np.zeros((h, w), dtype=np.uint8)
    return mu.decode({"size": rle["size"], "counts": rle["counts"].encode()})


def enc(m):
    r = mu.encode(np.asfortranarray(m.astype(np.uint8)))
    r["counts"] = r["counts"].decode()
    return r


def coco_eval(images, cats, gts, dts):
    gt = COCO()
    gt.dataset = {"images": images, "categories": cats, "annotations": gts}
    with contextlib.redirect_stdout(sys.stderr):
        gt.createIndex()
        if not dts:
            return 0.0
        dt = gt.loadRes(dts)
        ev = COCOeval(gt, dt, "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def vis_map(gt, res):
    vids = {v["id"]: v for v in gt["videos"]}
    stack = lambda segs, v: np.concatenate([dec(s, v["height"], v["width"]) for s in segs], axis=0)
    images = [{"id": v["id"], "height": v["height"] * v["length"], "width": v["width"]} for v in gt["videos"]]
    gts = []
    for a in gt["annotations"]:
        m = stack(a["segmentations"], vids[a["video_id"]])
        gts.append({"id": a["id"], "image_id": a["video_id"], "category_id": a["category_id"],
                    "iscrowd": 0, "area": float(m.sum()), "segmentation": enc(m),
                    "bbox": list(mu.toBbox(enc(m)))})
    dts = [{"image_id": r["video_id"], "category_id": r["category_id"], "score": r["score"],
            "segmentation": enc(stack(r["segmentations"], vids[r["video_id"]]))} for r in res]
    return coco_eval(images, gt["categories"], gts, dts)


def frame_map(gt, res):
    images, gts, dts = [], [], []
    for v in gt["videos"]:
        for f in range(v["length"]):
            images.append({"id": v["id"] * 100000 + f, "height": v["height"], "width": v["width"]})
    for a in gt["annotations"]:
        for f, s in enumerate(a["segmentations"]):
            if s is not None:
                gts.append({"id": len(gts) + 1, "image_id": a["video_id"] * 100000 + f,
                            "category_id": a["category_id"], "iscrowd": 0,
                            "area": float(mu.area(s)), "segmentation": s, "bbox": list(mu.toBbox(s))})
    for r in res:
        for f, s in enumerate(r["segmentations"]):
            if s is not None:
                dts.append({"image_id": r["video_id"] * 100000 + f, "category_id": r["category_id"],
                            "score": r["score"], "segmentation": s})
    return coco_eval(images, gt["categories"], gts, dts)


def read_mots(path):
    rows = []
    if os.path.exists(path):
        for line in open(path):
            f = line.split()
            if f:
                rows.append((int(f[0]) - 1, int(f[1]), {"size": [int(f[3]), int(f[4])], "counts": f[5]}))
    return rows


def mot(gt, mots_dir):
    accs, names = [], []
    for v in gt["videos"]:
        anns = [a for a in gt["annotations"] if a["video_id"] == v["id"]]
        hyp = read_mots(os.path.join(mots_dir, "%d.txt" % v["id"]))
        acc = mm.MOTAccumulator(auto_id=True)
        for f in range(v["length"]):
            g = [(a["id"], a["segmentations"][f]) for a in anns if a["segmentations"][f] is not None]
            h = [(i, r) for (fr, i, r) in hyp if fr == f]
            if g and h:
                iou = mu.iou([x[1] for x in h], [x[1] for x in g], [0] * len(g)).T  # [gt, hyp]
                d = 1.0 - np.asarray(iou, dtype=float)
                d[d > 0.5] = np.nan
            else:
                d = np.empty((len(g), len(h)))
            acc.update([x[0] for x in g], [x[0] for x in h], d)
        accs.append(acc)
        names.append(str(v["id"]))
    mh = mm.metrics.create()
    cols = ["idf1", "idtp", "num_switches", "mota", "motp", "num_detections", "num_objects", "num_predictions"]
    s = mh.compute_many(accs, metrics=cols, names=names, generate_overall=True).loc["OVERALL"]
    det = float(s["num_detections"])
    return {"idf1": float(s["idf1"]), "idtp": float(s["idtp"]), "idsw": float(s["num_switches"]),
            "mota": float(s["mota"]), "motp": float(s["motp"]),
            "deta_05": det / (float(s["num_objects"]) + float(s["num_predictions"]) - det),
            "loca_05": 1.0 - float(s["motp"])}


def hota(gt, mots_dir):
    """TrackEval HOTA: per video, then combined (sums, TP-weighted AssA / LocA)."""
    from scipy.optimize import linear_sum_assignment
    alphas = np.arange(0.05, 0.99, 0.05)
    A = len(alphas)
    tot = {k: np.zeros(A) for k in ("tp", "fn", "fp", "ass", "loc")}
    for v in gt["videos"]:
        anns = [a for a in gt["annotations"] if a["video_id"] == v["id"]]
        hyp = read_mots(os.path.join(mots_dir, "%d.txt" % v["id"]))
        gids = sorted({a["id"] for a in anns})
        hids = sorted({i for (_, i, _) in hyp})
        frames = []
        for f in range(v["length"]):
            g = [(gids.index(a["id"]), a["segmentations"][f]) for a in anns if a["segmentations"][f] is not None]
            h = [(hids.index(i), r) for (fr, i, r) in hyp if fr == f]
            sim = np.zeros((len(g), len(h)))
            if g and h:
                sim = np.asarray(mu.iou([x[1] for x in h], [x[1] for x in g], [0] * len(g)), dtype=float).T
            frames.append((np.array([x[0] for x in g], dtype=int), np.array([x[0] for x in h], dtype=int), sim))
        pot = np.zeros((len(gids), len(hids)))
        gc = np.zeros((len(gids), 1))
        hc = np.zeros((1, len(hids)))
        for gi, hi, sim in frames:
            den = sim.sum(0)[np.newaxis, :] + sim.sum(1)[:, np.newaxis] - sim
            siou = np.zeros_like(sim)
            ok = den > 0 + np.finfo("float").eps
            siou[ok] = sim[ok] / den[ok]
            pot[gi[:, np.newaxis], hi[np.newaxis, :]] += siou
            gc[gi] += 1
            hc[0, hi] += 1
        gas = pot / (gc + hc - pot)
        mcs = [np.zeros_like(pot) for _ in alphas]
        tp, fn, fp, loc = (np.zeros(A) for _ in range(4))
        for gi, hi, sim in frames:
            if len(gi) == 0:
                fp += len(hi)
                continue
            if len(hi) == 0:
                fn += len(gi)
                continue
            score = gas[gi[:, np.newaxis], hi[np.newaxis, :]] * sim
            r, c = linear_sum_assignment(-score)
            for a, alpha in enumerate(alphas):
                m = sim[r, c] >= alpha - np.finfo("float").eps
                n = int(m.sum())
                tp[a] += n
                fn[a] += len(gi) - n
                fp[a] += len(hi) - n
                if n:
                    loc[a] += sim[r[m], c[m]].sum()
                    mcs[a][gi[r[m]], hi[c[m]]] += 1
        for a in range(A):
            mc = mcs[a]
            ass_iou = mc / np.maximum(1, gc + hc - mc)
            assa = np.sum(mc * ass_iou) / np.maximum(1, tp[a])
            tot["ass"][a] += assa * tp[a]
            tot["loc"][a] += np.maximum(1e-10, loc[a]) / np.maximum(1e-10, tp[a]) * tp[a]
        tot["tp"] += tp
        tot["fn"] += fn
        tot["fp"] += fp
    deta = tot["tp"] / np.maximum(1, tot["tp"] + tot["fn"] + tot["fp"])
    assa = tot["ass"] / np.maximum(1, tot["tp"])
    loca = np.maximum(1e-10, tot["loc"]) / np.maximum(1e-10, tot["tp"])
    return {"hota": float(np.mean(np.sqrt(deta * assa))), "deta": float(np.mean(deta)),
            "assa": float(np.mean(assa)), "loca": float(np.mean(loca))}


def seg2bmap(seg):
    seg = seg.astype(bool)
    e = np.zeros_like(seg); s = np.zeros_like(seg); se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = seg ^ e | seg ^ s | seg ^ se
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = 0
    return b


def disk(r):
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return (x * x + y * y) <= r * r


def f_measure(p, g):
    r = int(math.ceil(0.008 * np.linalg.norm(g.shape)))
    bp, bg = seg2bmap(p), seg2bmap(g)
    dp, dg = binary_dilation(bp, disk(r)), binary_dilation(bg, disk(r))
    npix, ngt = bp.sum(), bg.sum()
    if npix == 0 and ngt == 0:
        pr, rc = 1.0, 1.0
    elif npix == 0:
        pr, rc = 1.0, 0.0
    elif ngt == 0:
        pr, rc = 0.0, 1.0
    else:
        pr, rc = (bp & dg).sum() / npix, (bg & dp).sum() / ngt
    return 0.0 if pr + rc == 0 else 2 * pr * rc / (pr + rc)


def j_measure(p, g):
    u = np.logical_or(p, g).sum()
    return 1.0 if u == 0 else np.logical_and(p, g).sum() / u


def vos(gt, pred):
    js, fs = [], []
    for v in gt["videos"]:
        h, w, n = v["height"], v["width"], v["length"]
        for a in [a for a in gt["annotations"] if a["video_id"] == v["id"]]:
            segs = a["segmentations"]
            first = next((i for i, s in enumerate(segs) if s is not None), None)
            if first is None:
                continue
            ps = pred.get(str(v["id"]), {}).get(str(a["id"]), [None] * n)
            frames = range(first + 1, n - 1)
            if len(frames) == 0:
                continue
            js.append(np.mean([j_measure(dec(ps[f], h, w), dec(segs[f], h, w)) for f in frames]))
            fs.append(np.mean([f_measure(dec(ps[f], h, w), dec(segs[f], h, w)) for f in frames]))
    j, f = float(np.mean(js)), float(np.mean(fs))
    return {"j": j, "f": f, "jf": (j + f) / 2}


def main():
    gt = json.load(open(sys.argv[1]))
    res = json.load(open(sys.argv[2]))
    out = {"vis_map": vis_map(gt, res), "frame_map": frame_map(gt, res)}
    out.update(mot(gt, sys.argv[3]))
    out.update(hota(gt, sys.argv[3]))
    out.update(vos(gt, json.load(open(sys.argv[4]))))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
