"""Long run of `segstream run` on an RTSP camera that goes away and comes back.

Usage (after `make release`; from the repository root, in the project venv):
    python benches/long_run.py [--minutes 30] [--restarts 2] [--outage 5] [--clip CLIP] [--json OUT]

A real clip (default ../shared/media/01_dog.mp4) is scaled to 320x240 and concatenated into
one file longer than the run; tests/support/rtsp_server.py serves it in real time at
rtsp://127.0.0.1:PORT/cam. `segstream run` reads it and publishes every frame at QoS 1 to a
private mosquitto on a free loopback port; a subscriber here records each frame message.
The server is killed `--restarts` times, evenly spread, for `--outage` seconds each.

Reports, per interval of the run: segstream's RSS (VmRSS from /proc), frame messages and
the relative latency (message arrival minus the frame's PTS, less the smallest such
difference of the same connection, so a flat value means no latency builds up); at the end:
segstream's own counters from /metrics (read with the judge tests/consumers/parse_metrics.py)
vs frame messages received (every processed frame must arrive; the last frames before the
scrape may still be in flight), frame numbers and PTS monotonic, source events seen.
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt

from compare_python import REPO, free_port, start_broker

sys.path.insert(0, str(REPO / "tests" / "consumers"))
from parse_metrics import samples  # noqa: E402

SEGSTREAM = REPO / "target" / "release" / "segstream"
MIN_CLIP_SECONDS = 8  # the shared clips last ~10 s
SERVER = REPO / "tests" / "support" / "rtsp_server.py"


def gst(*args):
    subprocess.run(["gst-launch-1.0", "-q", *args], check=True, stdout=subprocess.DEVNULL)


def long_clip(clip, tmp, seconds):
    """clip -> 320x240 H.264 short.mp4 -> `concat` of copies into long.mp4 (no re-encode)."""
    short = tmp / "short.mp4"
    gst("filesrc", f"location={clip}", "!", "decodebin", "!", "videoconvert", "!", "videoscale", "!",
        "video/x-raw,width=320,height=240", "!", "x264enc", "speed-preset=ultrafast", "key-int-max=30", "!",
        "h264parse", "!", "mp4mux", "!", "filesink", f"location={short}")
    copies = int(seconds / MIN_CLIP_SECONDS) + 1  # longer than needed is harmless
    out = tmp / "long.mp4"
    args = ["concat", "name=c", "!", "h264parse", "!", "mp4mux", "!", "filesink", f"location={out}"]
    for _ in range(copies):
        args += ["filesrc", f"location={short}", "!", "qtdemux", "!", "h264parse", "!", "c."]
    gst(*args)
    return out


class Recorder:
    """Every frame and event message, with its arrival time."""

    def __init__(self, port):
        self.frames, self.events, self.lock = [], [], threading.Lock()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"long-run-{port}")
        self.c.on_message = self.on_message
        self.c.connect("127.0.0.1", port)
        self.c.subscribe("segstream/#", qos=1)
        self.c.loop_start()

    def on_message(self, _c, _u, msg):
        now = time.time()
        if not msg.topic.endswith(("/frames", "/events")):
            return  # status, stats, command replies
        m = json.loads(msg.payload)
        with self.lock:
            (self.events if "event" in m else self.frames).append((now, m))


def start_server(port, video):
    p = subprocess.Popen(["/usr/bin/python3", str(SERVER), str(port), str(video)], stdout=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != "ready":
        sys.exit("rtsp server did not start")
    return p


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def scrape(port, names):
    """{name: value summed over labels} for each of `names` from segstream's /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    got = samples(text)
    return {n: sum(v for name, _, v in got if name == n) for n in names}


def windows(rec, restarts, t0, minutes, step):
    """Per `step` minutes: frames and latency p50/p95 (ms) relative to the fastest frame of the
    same connection (arrival minus PTS; a connection starts at t0 or at a server restart)."""
    cuts = sorted(restarts)
    epoch_of = lambda now: max([c for c in cuts if c <= now], default=t0)  # noqa: E731
    frames = [(now, epoch_of(now), now - m["pts"] / 1e9) for now, m in rec.frames if m.get("pts") is not None]
    base = {}
    for _, e, off in frames:
        base[e] = min(base.get(e, off), off)
    rows = []
    for w in range(int(minutes / step)):
        lo, hi = t0 + w * step * 60, t0 + (w + 1) * step * 60
        lat = [(off - base[e]) * 1000 for now, e, off in frames if lo <= now < hi]
        q = statistics.quantiles(lat, n=20) if len(lat) > 1 else [float("nan")] * 19
        rows.append({"minute": (w + 1) * step, "frames": len(lat), "latency_p50_ms": round(q[9], 1),
                     "latency_p95_ms": round(q[18], 1)})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--restarts", type=int, default=2)
    ap.add_argument("--outage", type=float, default=5)
    ap.add_argument("--clip", default=str(REPO.parent / "shared" / "media" / "01_dog.mp4"))
    ap.add_argument("--step", type=float, default=5, help="report interval, minutes")
    ap.add_argument("--json")
    a = ap.parse_args()
    if not SEGSTREAM.exists():
        sys.exit("build first: make release")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        video = long_clip(a.clip, tmp, a.minutes * 60 + 120)
        broker, mport = start_broker(tmp)
        rport, metrics = free_port(), free_port()
        server = start_server(rport, video)
        rec = Recorder(mport)
        seg = subprocess.Popen([str(SEGSTREAM), "run", f"rtsp://127.0.0.1:{rport}/cam", "-o", "none", "-q",
                                "--mqtt", f"127.0.0.1:{mport}", "--stream-id", "long", "--stall-timeout", "3",
                                "--metrics", f"127.0.0.1:{metrics}"], stderr=open(tmp / "segstream.log", "w"))
        t0, rss, restarts = time.time(), [], []
        plan = [t0 + a.minutes * 60 * (i + 1) / (a.restarts + 1) for i in range(a.restarts)]
        try:
            while time.time() < t0 + a.minutes * 60:
                if plan and time.time() >= plan[0]:
                    plan.pop(0)
                    server.kill()
                    server.wait()
                    time.sleep(a.outage)
                    server = start_server(rport, video)
                    restarts.append(time.time())
                rss.append((time.time() - t0, rss_mib(seg.pid)))
                time.sleep(10)
            counters = scrape(metrics, [f"segstream_{n}_total" for n in ("frames", "dropped_frames", "late_frames", "mqtt_published",
                                                                         "mqtt_acknowledged", "mqtt_dropped", "source_outages")])
        finally:
            seg.terminate()
            seg.wait(timeout=60)
            server.kill()
            time.sleep(2)
            broker.kill()
        rows = windows(rec, restarts, t0, a.minutes, a.step)
        for r in rows:
            r["rss_mib"] = round(statistics.median(v for t, v in rss if r["minute"] * 60 - a.step * 60 <= t < r["minute"] * 60), 1)
        numbers = [m["frame"] for _, m in rec.frames]
        pts = [m["pts"] for _, m in rec.frames if m.get("pts") is not None]
        summary = {
            "minutes": a.minutes, "restarts": len(restarts), "metrics_at_end": counters,
            "frame_messages": len(rec.frames), "distinct_frames": len(set(numbers)),
            "frame_numbers_monotonic": all(b > a_ for a_, b in zip(numbers, numbers[1:])),
            "pts_monotonic": all(b > a_ for a_, b in zip(pts, pts[1:])),
            "source_events": [m["event"] for _, m in rec.events if m["event"].startswith("source_")],
            "rss_first_window_mib": rows[0]["rss_mib"], "rss_last_window_mib": rows[-1]["rss_mib"],
            "windows": rows,
        }
        print(json.dumps(summary, indent=1))
        if a.json:
            Path(a.json).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
