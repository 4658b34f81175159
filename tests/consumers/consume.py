#!/usr/bin/env python3
"""Outside-judge consumer: reads segstream frames with paho-mqtt, decodes every mask
with pycocotools and compares it pixel-for-pixel with masks the pipeline dumped.

usage: consume.py --port P --topic T --count N --expect masks.jsonl [--host H] [--timeout S]

masks.jsonl: one line per object {"frame", "track_id", "height", "width", "data"} where
"data" is base64 of the row-major 0/1 bytes of the mask the pipeline produced.
Prints "subscribed" once the subscription is acknowledged, then a JSON summary.
Exit 0 only when N frames arrived and every expected mask matched exactly.
"""
import argparse
import base64
import json
import sys
import threading

import numpy as np
import paho.mqtt.client as mqtt
from pycocotools import mask as cocomask


def load_expected(path):
    expected = {}
    for line in open(path):
        if line.strip():
            e = json.loads(line)
            m = np.frombuffer(base64.b64decode(e["data"]), dtype=np.uint8).reshape(e["height"], e["width"])
            expected[(e["frame"], e["track_id"])] = m
    return expected


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--expect", required=True)
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    frames = {}
    done = threading.Event()

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        print("subscribed", flush=True)

    def on_message(client, userdata, msg):
        payload = json.loads(msg.payload)
        frames.setdefault(payload["frame"], payload)
        if len(frames) >= a.count:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"consume-{a.port}", clean_session=False)
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(a.topic, qos=1)
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(a.host, a.port)
    client.loop_start()
    done.wait(a.timeout)
    client.loop_stop()

    expected = load_expected(a.expect)
    compared, mismatched = 0, []
    for frame, payload in frames.items():
        for obj in payload["objects"]:
            key = (frame, obj["track_id"])
            if key not in expected:
                continue
            rle = {"size": obj["mask"]["size"], "counts": obj["mask"]["counts"].encode()}
            got = cocomask.decode(rle)
            compared += 1
            want = expected[key]
            if got.shape != want.shape or not np.array_equal(got, want):
                mismatched.append({"frame": frame, "track_id": obj["track_id"]})
    missing = sorted(set(expected) - {(f, o["track_id"]) for f, p in frames.items() for o in p["objects"]})
    summary = {"frames": len(frames), "compared": compared, "mismatched": mismatched[:10],
               "missing": [list(k) for k in missing[:10]], "expected": len(expected)}
    print(json.dumps(summary), flush=True)
    ok = len(frames) >= a.count and compared == len(expected) and not mismatched and compared > 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
