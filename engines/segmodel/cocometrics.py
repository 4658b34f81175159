"""COCO-style figures of per-frame results, judged by pycocotools (numpy + pycocotools only,
no torch: CI runs these without the training stack). Used by eval.py (each frame decoded
alone) and judge_frames.py (the pipeline's per-frame output)."""
import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

# Semantic paint (eval.py and judge_frames.py; src/eval/frame_scores.rs PAINT_MIN_SCORE is
# its Rust twin) takes outputs scored above this: a near-zero-score output (a dying track's
# mask can spread over the whole frame) is not drawn as a class.
PAINT_MIN_SCORE = 0.3


def video_bootstrap_ci(per_video, stat, resamples=2000, seed=0):
    """95 % percentile interval of `stat(list of per-video items)`, resampling whole videos
    with replacement (objects and frames of one video share its scene, so they are not
    independent samples). The Rust twin is src/metrics/bootstrap.rs."""
    if not per_video:
        return None
    rng = np.random.default_rng(seed)
    vals = np.sort([stat([per_video[i] for i in rng.integers(len(per_video), size=len(per_video))])
                    for _ in range(resamples)])
    return [float(np.quantile(vals, 0.025)), float(np.quantile(vals, 0.975))]


def mean_prompt_iou(items):
    ious = [x for p, _ in items for x in p]
    return float(np.mean(ious)) if ious else 0.0


def pooled_miou(items):
    return semantic(sum(c for _, c in items))["mIoU"]


def mask_nms(dets, iou_max):
    """Greedy class-aware NMS: best score first, drop a mask whose IoU with a kept mask of
    the same class exceeds `iou_max` (>= 1 keeps everything)."""
    if iou_max >= 1 or not dets:
        return list(dets)
    order = sorted(dets, key=lambda d: -d["score"])
    segs = [d["segmentation"] for d in order]
    iou = mask_utils.iou(segs, segs, [0] * len(segs))
    keep = []
    for i, d in enumerate(order):
        if all(iou[i, j] <= iou_max or order[j]["category_id"] != d["category_id"] for j in keep):
            keep.append(i)
    return [order[i] for i in keep]


def coco_scores(images, gts, dets, cats, class_acc=True):
    gt = COCO()
    # pycocotools writes into the dicts it is given: copies, so gts/dets can be scored twice.
    gt.dataset = {"images": images, "annotations": [dict(g) for g in gts], "categories": cats}
    gt.createIndex()
    dt = gt.loadRes([dict(d) for d in dets]) if dets else COCO()
    ev = COCOeval(gt, dt, "segm")
    ev.params.maxDets = [1, 10, 100]
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    out = {"AP": ev.stats[0], "AP50": ev.stats[1], "AP75": ev.stats[2], "AR100": ev.stats[8],
           "class_acc_matched": None}
    if class_acc:
        pairs = matched_classes(ev)
        out["class_acc_matched"] = sum(ok for _, ok in pairs) / max(len(pairs), 1)
        out["class_acc_by_area"] = banded(pairs, "area", AREA_BANDS)
        out["class_acc_by_visible"] = banded(pairs, "visible", VISIBLE_BANDS)
    return out


# Bands for the class-accuracy breakdown. The world's objects are small (at 256 px most
# lie under COCO's "small" limit of 32^2 = 1024 px^2), so COCO's bands would put nearly
# all of them in one; these split the matched objects into groups of comparable size.
AREA_BANDS = (0, 300, 800, 2000, float("inf"))


VISIBLE_BANDS = (0.0, 0.5, 0.8, 0.99, float("inf"))


def banded(pairs, key, edges):
    """[{band, objects, acc}] of (gt annotation, right?) pairs grouped by gt[key]."""
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = [ok for g, ok in pairs if lo <= g.get(key, -1) < hi]
        rows.append({"band": [lo, hi if hi != float("inf") else None], "objects": len(sel),
                     "acc": sum(sel) / len(sel) if sel else None})
    return rows


def matched_classes(ev: COCOeval):
    """[(gt annotation, right?)] for the GT objects whose best-IoU detection (any class)
    has IoU >= 0.5; right = that detection has the GT's class."""
    pairs = []
    for img in ev.params.imgIds:
        g = [a for c in ev.params.catIds for a in ev._gts[img, c]]
        d = [a for c in ev.params.catIds for a in ev._dts[img, c]]
        if not g or not d:
            continue
        iou = mask_utils.iou([x["segmentation"] for x in d], [x["segmentation"] for x in g],
                             [0] * len(g))
        for j, ga in enumerate(g):
            i = int(np.argmax(iou[:, j]))
            if iou[i, j] >= 0.5:
                pairs.append((ga, d[i]["category_id"] == ga["category_id"]))
    return pairs


def semantic(conf):
    inter = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - inter
    present = conf.sum(1) > 0
    iou = inter[present] / np.maximum(union[present], 1)
    return {"mIoU": float(iou.mean()), "per_class": [round(float(x), 4) for x in iou]}


def top_class_pairs(probs, quality, k):
    """[(query, class, score)] for each query's k best classes, score = prob * quality."""
    order = np.argsort(-probs, axis=1)[:, :k]
    return [(q, int(c), float(probs[q, c] * quality[q])) for q in range(len(probs))
            for c in order[q]]
