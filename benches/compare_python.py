"""segstream against the plain Python reference (benches/python_reference.py), interleaved.

Usage (after `make release`; run from the repository root, in the project venv):
    python benches/compare_python.py [--frames 300] [--rounds 3] [--threads 1] [--size 256]
                                     [--python-threads 1,2]

Both sides read the same raw RGB frames of a synthetic-world video, run the same bundle
on ONNX Runtime with the same intra-op threads (spinning off), and publish one JSON
message per frame at QoS 1 to a private mosquitto on a free loopback port. Runs alternate
(segstream, python, segstream, ...) so drift of the machine hits both; every message is
counted. Both are timed the same way: the whole process, model loading included, until its
last message is acknowledged. Prints each run with its CPU time (user + system), the
medians and the ratio of frame rates.

segstream runs with its defaults, so with a file upstream `segment` encodes one frame ahead
on a second thread (`encode-ahead=auto`): it uses two cores. The Python reference therefore
also runs with 2 intra-op threads per session (`--python-threads 1,2`, the default), its
own way of using two cores; the ratio is given against each.
"""
import argparse
import os
import resource
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


def timed(cmd, **kw):
    """Runs cmd; returns (wall seconds, CPU seconds of the child: user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, **kw)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_segstream(frames, size, n, port, topic, threads, tmp):
    spool = tempfile.mkdtemp(dir=tmp)
    cmd = ["gst-launch-1.0", "-q", "filesrc", f"location={frames}", "!",
           "rawvideoparse", f"width={size}", f"height={size}", "format=rgb", "framerate=30/1", "!",
           "segment", f"threads={threads}", "!",
           "segmqttsink", "host=127.0.0.1", f"port={port}", f"topic={topic}", "qos=1",
           f"client-id=compare-{topic.replace('/', '-')}", f"spool-dir={spool}"]
    wall, cpu = timed(cmd, env=gst_env())
    return n / wall, cpu


def run_python(frames, size, n, port, topic, threads):
    wall, cpu = timed([sys.executable, str(REPO / "benches/python_reference.py"), "--frames", str(frames),
                       "--width", str(size), "--height", str(size), "--port", str(port), "--topic", topic,
                       "--threads", str(threads)], capture_output=True, text=True)
    return n / wall, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--python-threads", default="1,2", help="intra-op threads of the Python reference's runs")
    a = ap.parse_args()
    py_threads = [int(t) for t in a.python_threads.split(",")]
    if not (PLUGIN_DIR / "libgstsegstream.so").exists():
        sys.exit("build first: make release")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        broker, port = start_broker(tmp)
        try:
            frames = make_frames(tmp, a.frames, a.size)
            counter = Counter(port)
            # (label, the Python reference's intra-op threads; None: segstream)
            runs = [("segstream", None)] + [(f"python-{t}t", t) for t in py_threads]
            fps = {who: [] for who, _ in runs}
            for r in range(a.rounds):
                for who, py in runs:
                    topic = f"bench/{who}/{r}"
                    if py is None:
                        f, cpu = run_segstream(frames, a.size, a.frames, port, topic, a.threads, tmp)
                    else:
                        f, cpu = run_python(frames, a.size, a.frames, port, topic, py)
                    got = counter.wait(topic, a.frames)
                    print(f"round {r} {who:11s} {f:7.2f} fps  CPU {cpu:6.2f} s  messages {got}/{a.frames}")
                    if got != a.frames:
                        sys.exit(f"{who} lost messages: {got}/{a.frames}")
                    fps[who].append(f)
            s = statistics.median(fps["segstream"])
            print(f"median over {a.rounds} rounds, {a.frames} frames {a.size}x{a.size}, segstream threads={a.threads} "
                  f"(defaults otherwise): segstream {s:.2f} fps")
            for who, py in runs[1:]:
                p = statistics.median(fps[who])
                print(f"  {who} (python reference, {py} intra-op thread(s)): {p:.2f} fps, ratio {s / p:.2f}")
        finally:
            broker.kill()


if __name__ == "__main__":
    main()
