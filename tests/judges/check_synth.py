#!/usr/bin/env python3
"""Outside judge for `segstream synth` datasets.

Loads DIR/annotations.json, decodes every mask with pycocotools and checks that the
dataset is what the contract says: categories, file layout, PNG sizes, COCO RLE that
pycocotools decodes and re-encodes to the same string, areas and boxes equal to
pycocotools' own, masks of one frame disjoint, visible fractions in [0, 1], and object
pixels that actually look different from the background.

Usage: check_synth.py DIR [--expect-videos N --expect-frames F --width W --height H]
Exit status 0 when every check passes; otherwise the first failure is printed.
"""
import argparse
import json
import os
import struct
import sys
import zlib

import numpy as np
from pycocotools import mask as mask_utils

CLASSES = ["disc", "square", "triangle", "star", "ring", "cross", "hexagon", "crescent"]


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def read_png_rgb(path):
    """Minimal PNG reader (8-bit RGB, non-interlaced) so the judge needs no imaging library."""
    data = open(path, "rb").read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG")
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    w, h, depth, colour, _, _, interlace = hdr
    check(depth == 8 and colour == 2 and interlace == 0, f"{path}: expected 8-bit RGB, got depth {depth} colour {colour}")
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + 3 * w)
    out = np.zeros((h, 3 * w), dtype=np.int32)
    for y in range(h):
        f, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        prev = out[y - 1] if y > 0 else np.zeros(3 * w, dtype=np.int32)
        if f == 0:
            row = line
        elif f == 2:
            row = (line + prev) & 255
        else:
            row = np.zeros(3 * w, dtype=np.int32)
            for x in range(3 * w):
                a = row[x - 3] if x >= 3 else 0
                b = prev[x]
                c = prev[x - 3] if x >= 3 else 0
                if f == 1:
                    p = a
                elif f == 3:
                    p = (a + b) // 2
                else:
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                row[x] = (line[x] + p) & 255
        out[y] = row
    return out.reshape(h, w, 3).astype(np.uint8)


def check_video(root, video, anns, stats, pixel_checks):
    vid, w, h, n = video["id"], video["width"], video["height"], video["length"]
    check(len(video["file_names"]) == n, f"video {vid}: {len(video['file_names'])} file names for length {n}")
    for f, name in enumerate(video["file_names"]):
        check(name == f"videos/{vid - 1:05}/{f:05}.png", f"video {vid}: unexpected file name {name}")
        check(os.path.isfile(os.path.join(root, name)), f"missing frame {name}")
    for f in range(n):
        owner = np.zeros((h, w), dtype=np.int64)
        frame = read_png_rgb(os.path.join(root, video["file_names"][f])) if f < pixel_checks else None
        if frame is not None:
            check(frame.shape == (h, w, 3), f"{video['file_names'][f]}: size {frame.shape} != {(h, w, 3)}")
        masks = []
        for a in anns:
            seg, area, box, vis = a["segmentations"][f], a["areas"][f], a["bboxes"][f], a["visible_fractions"][f]
            check(0.0 <= vis <= 1.0, f"ann {a['id']} frame {f}: visible fraction {vis}")
            if seg is None:
                check(area is None and box is None, f"ann {a['id']} frame {f}: null mask with area/box")
                continue
            check(seg["size"] == [h, w], f"ann {a['id']} frame {f}: size {seg['size']}")
            rle = {"size": seg["size"], "counts": seg["counts"].encode()}
            m = mask_utils.decode(rle)
            check(m.shape == (h, w), f"ann {a['id']}: decoded shape {m.shape}")
            again = mask_utils.encode(np.asfortranarray(m))
            check(again["counts"].decode() == seg["counts"], f"ann {a['id']} frame {f}: RLE not canonical")
            check(int(m.sum()) == area == int(mask_utils.area(rle)), f"ann {a['id']} frame {f}: area {area} vs {m.sum()}")
            check(area > 0 and vis > 0, f"ann {a['id']} frame {f}: empty mask stored")
            pbox = [float(v) for v in mask_utils.toBbox(rle)]
            check(np.allclose(pbox, box), f"ann {a['id']} frame {f}: bbox {box} vs pycocotools {pbox}")
            check(not (owner[m > 0] != 0).any(), f"ann {a['id']} frame {f}: overlaps another mask")
            owner[m > 0] = a["id"]
            masks.append(m)
            stats["masks"] += 1
            stats["vis"] += vis
        if frame is not None and masks:
            check_pixels(frame, owner, masks, video["file_names"][f], stats)


def check_pixels(frame, owner, masks, name, stats):
    """Objects are saturated colours on a low-saturation background: the mean colour of an
    object's interior must be far from the background's mean colour."""
    bg = owner == 0
    if bg.sum() < 100:
        return
    bg_mean = frame[bg].astype(float).mean(axis=0)
    for m in masks:
        inner = m.astype(bool).copy()
        inner[1:, :] &= m[:-1, :] > 0
        inner[:-1, :] &= m[1:, :] > 0
        inner[:, 1:] &= m[:, :-1] > 0
        inner[:, :-1] &= m[:, 1:] > 0
        if inner.sum() < 20:
            continue
        d = np.linalg.norm(frame[inner].astype(float).mean(axis=0) - bg_mean)
        stats["pixel_checked"] += 1
        stats["min_contrast"] = min(stats["min_contrast"], d)
        check(d > 25.0, f"{name}: object interior colour is only {d:.1f} away from the background")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--expect-videos", type=int)
    ap.add_argument("--expect-frames", type=int)
    ap.add_argument("--width", type=int)
    ap.add_argument("--height", type=int)
    ap.add_argument("--pixel-frames", type=int, default=4, help="frames per video whose pixels are checked")
    args = ap.parse_args()
    d = json.load(open(os.path.join(args.dir, "annotations.json")))
    check(d["categories"] == [{"id": i + 1, "name": n} for i, n in enumerate(CLASSES)], f"categories {d['categories']}")
    videos = d["videos"]
    if args.expect_videos is not None:
        check(len(videos) == args.expect_videos, f"{len(videos)} videos, expected {args.expect_videos}")
    check([v["id"] for v in videos] == list(range(1, len(videos) + 1)), "video ids not 1..N")
    ids = [a["id"] for a in d["annotations"]]
    check(ids == list(range(1, len(ids) + 1)), "annotation ids not 1..N")
    stats = {"masks": 0, "vis": 0.0, "pixel_checked": 0, "min_contrast": float("inf")}
    by_video = {}
    for a in d["annotations"]:
        check(1 <= a["category_id"] <= len(CLASSES) and a["iscrowd"] == 0, f"ann {a['id']}: bad category/iscrowd")
        by_video.setdefault(a["video_id"], []).append(a)
    for v in videos:
        if args.expect_frames is not None:
            check(v["length"] == args.expect_frames, f"video {v['id']}: length {v['length']}")
        if args.width is not None:
            check((v["width"], v["height"]) == (args.width, args.height), f"video {v['id']}: size {v['width']}x{v['height']}")
        anns = by_video.get(v["id"], [])
        for a in anns:
            for key in ("segmentations", "areas", "bboxes", "visible_fractions"):
                check(len(a[key]) == v["length"], f"ann {a['id']}: {key} has {len(a[key])} entries")
            check(any(s is not None for s in a["segmentations"]), f"ann {a['id']}: never visible")
        check_video(args.dir, v, anns, stats, args.pixel_frames)
    check(stats["masks"] > 0, "dataset has no masks at all")
    check(stats["pixel_checked"] > 0, "no object was large enough for the pixel check")
    print(
        f"check_synth: OK {len(videos)} videos, {len(d['annotations'])} tracks, {stats['masks']} masks, "
        f"mean visible fraction {stats['vis'] / stats['masks']:.3f}, {stats['pixel_checked']} objects pixel-checked "
        f"(min contrast {stats['min_contrast']:.1f})"
    )


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print(f"check_synth: FAIL {e}", file=sys.stderr)
        sys.exit(1)
