"""segstream against the plain Python reference (benches/python_reference.py), interleaved.

Usage (after `make release`; run from the repository root, in the project venv):
    python benches/compare_python.py [--frames 300] [--rounds 3] [--threads 1] [--size 256]

Both sides read the same raw RGB frames of a synthetic-world video, run the same bundle
on ONNX Runtime with the same intra-op threads (spinning off), and publish one JSON
message per frame at QoS 1 to a private mosquitto on a free loopback port. Runs alternate
(segstream, python, segstream, ...) so drift of the machine hits both; every message is
counted. Both are timed the same way: the whole process, model loading included, until its
last message is acknowledged. Prints each run, the medians and the ratio of frame rates.
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

REPO = Path(__file__).resolve().parents[1]
PLUGIN_DIR = REPO / "target" / "release"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(tmp):
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("mosquitto did not start")


def gst_env():
    return dict(os.environ, GST_PLUGIN_PATH=str(PLUGIN_DIR))


def make_frames(tmp, n, size):
    out = tmp / "frames.rgb"
    subprocess.run(["gst-launch-1.0", "-q", "segtestsrc", f"num-buffers={n}", "!",
                    f"video/x-raw,width={size},height={size}", "!", "videoconvert", "!",
                    "video/x-raw,format=RGB", "!", "filesink", f"location={out}"], check=True, env=gst_env())
    return out


class Counter:
    """Counts messages per topic on the broker (the proof that every frame went out)."""

    def __init__(self, port):
        self.counts, self.lock = {}, threading.Lock()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"compare-counter-{port}")
        self.c.on_message = self.on_message
        self.c.connect("127.0.0.1", port)
        self.c.subscribe("bench/#", qos=1)
        self.c.loop_start()
        time.sleep(0.3)

    def on_message(self, _c, _u, msg):
        with self.lock:
            self.counts[msg.topic] = self.counts.get(msg.topic, 0) + 1

    def wait(self, topic, n, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                if self.counts.get(topic, 0) >= n:
                    return n
            time.sleep(0.05)
        return self.counts.get(topic, 0)


def run_segstream(frames, size, n, port, topic, threads, tmp):
    spool = tempfile.mkdtemp(dir=tmp)
    cmd = ["gst-launch-1.0", "-q", "filesrc", f"location={frames}", "!",
           "rawvideoparse", f"width={size}", f"height={size}", "format=rgb", "framerate=30/1", "!",
           "segment", f"threads={threads}", "!",
           "segmqttsink", "host=127.0.0.1", f"port={port}", f"topic={topic}", "qos=1",
           f"client-id=compare-{topic.replace('/', '-')}", f"spool-dir={spool}"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=gst_env())
    return n / (time.perf_counter() - t0)


def run_python(frames, size, n, port, topic, threads):
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(REPO / "benches/python_reference.py"), "--frames", str(frames),
                          "--width", str(size), "--height", str(size), "--port", str(port), "--topic", topic,
                          "--threads", str(threads)], check=True, capture_output=True, text=True)
    return n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--size", type=int, default=256)
    a = ap.parse_args()
    if not (PLUGIN_DIR / "libgstsegstream.so").exists():
        sys.exit("build first: make release")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        broker, port = start_broker(tmp)
        try:
            frames = make_frames(tmp, a.frames, a.size)
            counter = Counter(port)
            fps = {"segstream": [], "python": []}
            for r in range(a.rounds):
                for who in ("segstream", "python"):
                    topic = f"bench/{who}/{r}"
                    if who == "segstream":
                        f = run_segstream(frames, a.size, a.frames, port, topic, a.threads, tmp)
                    else:
                        f = run_python(frames, a.size, a.frames, port, topic, a.threads)
                    got = counter.wait(topic, a.frames)
                    print(f"round {r} {who:9s} {f:7.2f} fps  messages {got}/{a.frames}")
                    if got != a.frames:
                        sys.exit(f"{who} lost messages: {got}/{a.frames}")
                    fps[who].append(f)
            s, p = statistics.median(fps["segstream"]), statistics.median(fps["python"])
            print(f"median: segstream {s:.2f} fps, python reference {p:.2f} fps, ratio {s / p:.2f} "
                  f"({a.frames} frames {a.size}x{a.size}, {a.threads} intra-op thread(s), {a.rounds} rounds)")
        finally:
            broker.kill()


if __name__ == "__main__":
    main()
