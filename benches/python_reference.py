"""What a competent user would write with the same bundle and no segstream: the baseline
that `benches/compare_python.py` runs against segstream.

Usage: python benches/python_reference.py --frames FILE.rgb --width W --height H \
           --port PORT --topic TOPIC [--bundle engines/tiny] [--threads 1]

Reads raw RGB frames, preprocesses with numpy (bilinear resize with half-pixel centres,
normalise), runs the bundle's encoder and decoder with ONNX Runtime (learnable queries
every frame; one empty prompt, as the contract requires P >= 1), scores classes by cosine
against the vocabulary, keeps queries above the score threshold, upsamples their masks to
the frame, follows them with a greedy mask-IoU tracker, encodes masks as COCO RLE with
pycocotools and publishes one JSON message per frame with paho-mqtt at QoS 1.
Prints one line: frames, seconds, fps.
"""
import argparse
import json
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import onnxruntime as ort
import paho.mqtt.client as mqtt
from pycocotools import mask as mask_utils

SCORE_THRESHOLD = 0.25   # segment's default score-threshold
MATCH_IOU = 0.3


def bilinear_taps(src, dst):
    s = np.clip((np.arange(dst) + 0.5) * (src / dst) - 0.5, 0, src - 1)
    i0 = np.floor(s).astype(np.int64)
    return i0, np.minimum(i0 + 1, src - 1), (s - i0).astype(np.float32)


def resize_hwc(img, w, h):
    y0, y1, wy = bilinear_taps(img.shape[0], h)
    x0, x1, wx = bilinear_taps(img.shape[1], w)
    top = img[y0][:, x0] * (1 - wx)[None, :, None] + img[y0][:, x1] * wx[None, :, None]
    bot = img[y1][:, x0] * (1 - wx)[None, :, None] + img[y1][:, x1] * wx[None, :, None]
    return top * (1 - wy)[:, None, None] + bot * wy[:, None, None]


def resize_nhw(m, w, h):
    y0, y1, wy = bilinear_taps(m.shape[1], h)
    x0, x1, wx = bilinear_taps(m.shape[2], w)
    top = m[:, y0][:, :, x0] * (1 - wx) + m[:, y0][:, :, x1] * wx
    bot = m[:, y1][:, :, x0] * (1 - wx) + m[:, y1][:, :, x1] * wx
    return top * (1 - wy)[None, :, None] + bot * wy[None, :, None]


class Model:
    def __init__(self, bundle, threads):
        m = tomllib.loads((bundle / "bundle.toml").read_text())
        self.w, self.h = m["input"]["width"], m["input"]["height"]
        self.mean = np.array(m["input"]["mean"], np.float32)
        self.std = np.array(m["input"]["std"], np.float32)
        self.scale = m["model"]["logit_scale"]
        c = m["model"]["hidden_dim"]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        mk = lambda f: ort.InferenceSession(str(bundle / m["files"][f]), opts, providers=["CPUExecutionProvider"])
        self.enc, self.dec = mk("image_encoder"), mk("mask_decoder")
        self.enc_out = [o.name for o in self.enc.get_outputs()]
        vocab = json.loads((bundle / m["files"]["vocabulary"]).read_text())
        self.names = vocab["names"]
        e = np.array(vocab["embeddings"], np.float32)
        self.text = e / np.linalg.norm(e, axis=1, keepdims=True)
        self.tokens = np.zeros((1, 1, c), np.float32)
        self.valid = np.zeros((1, 1), np.float32)

    def __call__(self, frame):
        x = (resize_hwc(frame.astype(np.float32), self.w, self.h) / 255.0 - self.mean) / self.std
        feats = self.enc.run(self.enc_out, {"image": x.transpose(2, 0, 1)[None]})
        feeds = dict(zip(self.enc_out, feats), prompt_tokens=self.tokens, prompt_valid=self.valid)
        masks, cls = self.dec.run(["det_masks", "det_class_emb"], feeds)
        cls = cls / np.linalg.norm(cls, axis=1, keepdims=True)
        prob = 1 / (1 + np.exp(-self.scale * cls @ self.text.T))
        label, score = prob.argmax(1), prob.max(1)
        keep = np.nonzero(score > SCORE_THRESHOLD)[0]
        return masks[keep], label[keep], score[keep]


class IouTracker:
    def __init__(self):
        self.tracks, self.next_id = [], 1

    def step(self, masks):
        ids, used = [], set()
        for m in masks:
            best, best_iou = None, MATCH_IOU
            for i, (tid, prev) in enumerate(self.tracks):
                if i in used:
                    continue
                inter = np.logical_and(m, prev).sum()
                iou = inter / max(np.logical_or(m, prev).sum(), 1)
                if iou > best_iou:
                    best, best_iou = i, iou
            if best is None:
                ids.append(self.next_id)
                self.next_id += 1
            else:
                used.add(best)
                ids.append(self.tracks[best][0])
        self.tracks = list(zip(ids, masks))
        return ids


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=Path, required=True)
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--height", type=int, required=True)
    ap.add_argument("--bundle", type=Path, default=Path(__file__).resolve().parents[1] / "engines/tiny")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--topic", required=True)
    a = ap.parse_args()
    model, tracker = Model(a.bundle, a.threads), IouTracker()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pyref-{a.port}-{time.time_ns()}")
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(100)
    client.connect("127.0.0.1", a.port)
    client.loop_start()
    size = a.width * a.height * 3
    start, n, last = time.perf_counter(), 0, None
    with open(a.frames, "rb") as f:
        while (buf := f.read(size)) and len(buf) == size:
            frame = np.frombuffer(buf, np.uint8).reshape(a.height, a.width, 3)
            logits, labels, scores = model(frame)
            masks = resize_nhw(logits, a.width, a.height) > 0 if len(logits) else np.zeros((0, a.height, a.width), bool)
            ids = tracker.step(masks)
            objects = []
            for m, tid, lab, sc in zip(masks, ids, labels, scores):
                rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
                bx = mask_utils.toBbox(rle).tolist()
                objects.append({"track_id": tid, "label": model.names[lab], "score": float(sc), "bbox": bx,
                                "mask": {"size": rle["size"], "counts": rle["counts"].decode()}})
            last = client.publish(a.topic, json.dumps({"frame": n, "objects": objects}), qos=1)
            n += 1
    if last is not None:
        last.wait_for_publish(timeout=60)
    secs = time.perf_counter() - start
    client.loop_stop()
    client.disconnect()
    print(f"python-reference frames={n} seconds={secs:.3f} fps={n / secs:.2f}")


if __name__ == "__main__":
    sys.exit(main())
