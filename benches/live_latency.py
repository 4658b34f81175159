#!/usr/bin/env python3
"""Glass-to-MQTT latency of a live 30 fps source through `segment` and `segmqttsink`.

Usage (after `make release`; from the repository root, with the system Python that has the
GStreamer bindings, `python3-gi`):

    /usr/bin/python3 benches/live_latency.py [--seconds 180] [--queue leaky|none] [--encoder-threads N] [--json OUT]

Runs `videotestsrc is-live=true` (640x480 I420, 30 fps, a moving ball) [! a one-frame leaky
queue, as `segstream run` puts in front of a camera] ! videoconvert ! segment ! queue !
segmqttsink to a private mosquitto on a free loopback port; `mosquitto_sub` timestamps every
frame message on arrival (`-F %U`, wall clock). A frame's glass time is the pipeline's base
time + its PTS (the start of its capture interval on the monotonic pipeline clock, turned
into wall-clock time by an offset sampled at start and end), so the latency includes the
source's own frame interval (33 ms). Prints per minute p50 / p95 / max (ms) and frames
published, and the frames `segment` dropped (QoS) and the frames missing from the stream
(dropped before `segment` by the leaky queue or by it).
"""
import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FPS = 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clock_offset(clock):
    """Wall-clock ns minus pipeline-clock ns (the pipeline clock is the monotonic system clock)."""
    a = time.time_ns()
    c = clock.get_time()
    b = time.time_ns()
    return (a + b) // 2 - c


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--queue", choices=["leaky", "none"], default="leaky")
    ap.add_argument("--plugin-dir", default=str(REPO / "target" / "release"))
    ap.add_argument("--encoder-threads", type=int, default=-1,
                    help="segment's encoder-threads (-1: as threads; segstream run uses 2 for one live camera)")
    ap.add_argument("--json")
    args = ap.parse_args()
    os.environ["GST_PLUGIN_PATH"] = args.plugin_dir
    Gst.init(None)
    if Gst.ElementFactory.find("segment") is None:
        sys.exit(f"no segment element in {args.plugin_dir}: build first (make release)")
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="live-latency-"))
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    out = open(tmp / "messages.txt", "w")
    sub = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-t", "segstream/live/frames", "-F", "%U|%p"], stdout=out)
    time.sleep(0.5)
    leaky = "queue max-size-buffers=1 max-size-bytes=0 max-size-time=0 leaky=downstream ! " if args.queue == "leaky" else ""
    desc = (
        f"videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=640,height=480,framerate={FPS}/1 ! "
        f"{leaky}videoconvert ! segment name=s model={REPO / 'engines' / 'tiny'} encoder-threads={args.encoder_threads} ! queue ! "
        f"segmqttsink host=127.0.0.1 port={port} stream-id=live"
    )
    pipeline = Gst.parse_launch(desc)
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    t_end = time.monotonic() + args.seconds
    while time.monotonic() < t_end:
        msg = bus.timed_pop_filtered(100 * Gst.MSECOND, Gst.MessageType.ERROR | Gst.MessageType.LATENCY)
        if msg is None:
            continue
        if msg.type == Gst.MessageType.ERROR:
            sys.exit(f"pipeline error: {msg.parse_error()}")
        pipeline.recalculate_latency()
    clock, base = pipeline.get_clock(), pipeline.get_base_time()
    offsets = [clock_offset(clock)]
    seg = pipeline.get_by_name("s")
    dropped = seg.get_property("frames-dropped")
    processing_ms = seg.get_property("processing-latency") / 1e6
    query = Gst.Query.new_latency()
    ok = seg.get_static_pad("src").query(query)
    _, latency_min, _ = query.parse_latency()
    pipeline.send_event(Gst.Event.new_eos())
    bus.timed_pop_filtered(5 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    time.sleep(1.0)
    offsets.append(clock_offset(clock))
    pipeline.set_state(Gst.State.NULL)
    sub.terminate()
    sub.wait()
    out.close()
    broker.terminate()
    offset = statistics.mean(offsets)
    rows = []
    for line in (tmp / "messages.txt").read_text().splitlines():
        arrival, payload = line.split("|", 1)
        m = json.loads(payload)
        if m.get("pts") is None:
            continue
        arrival_ns = int(arrival.replace(".", ""))
        glass_ns = base + m["pts"] + offset
        rows.append((m["pts"], m["frame"], (arrival_ns - glass_ns) / 1e6))
    if not rows:
        sys.exit("no frame message arrived")
    first_pts = rows[0][0]
    interval = 1e9 / FPS
    missing = sum(round((b[0] - a[0]) / interval) - 1 for a, b in zip(rows, rows[1:]))
    frame_gaps = sum(b[1] - a[1] - 1 for a, b in zip(rows, rows[1:]))
    minutes = []
    for k in range(math.ceil(args.seconds / 60)):
        lat = [r[2] for r in rows if k * 60e9 <= r[0] - first_pts < (k + 1) * 60e9]
        if lat:
            minutes.append({"minute": k + 1, "frames": len(lat), "p50_ms": round(percentile(lat, 50), 1),
                            "p95_ms": round(percentile(lat, 95), 1), "max_ms": round(max(lat), 1)})
    lat = [r[2] for r in rows]
    report = {
        "queue": args.queue,
        "encoder_threads": args.encoder_threads,
        "seconds": args.seconds,
        "published": len(rows),
        "p50_ms": round(percentile(lat, 50), 1),
        "p95_ms": round(percentile(lat, 95), 1),
        "max_ms": round(max(lat), 1),
        "segment_frames_dropped": dropped,
        "frame_number_gaps": frame_gaps,
        "frames_missing_from_stream": missing,
        "segment_processing_latency_ms": round(processing_ms, 1),
        "latency_answered_by_segment_ms": round(latency_min / 1e6, 1) if ok else None,
        "pts_monotonic": all(b[0] > a[0] for a, b in zip(rows, rows[1:])),
        "clock_offset_drift_us": round((offsets[1] - offsets[0]) / 1e3, 1),
        "minutes": minutes,
    }
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
