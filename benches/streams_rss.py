#!/usr/bin/env python3
"""Memory of N streams in one process: shared model vs one model per stream.

Runs `gst-launch-1.0` with N branches of `segtestsrc ! segment ! fakesink` (one process)
and reads its peak resident memory (VmHWM) and last VmRSS from /proc while it runs.

- shared: every branch's `segment` names the same bundle directory, so the process loads
  the model once (provider cpu, same threads: one engine, `engine-users` = N).
- separate: each branch gets its own copy of the bundle directory, so each loads its own.

Usage (from the repository root, plugin built):
    python benches/streams_rss.py --plugin-dir target/release --streams 1,2,4,8 --frames 60

Prints a Markdown table: peak RSS in MiB per mode, per extra stream, and the saving.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def status_kib(pid, key):
    """A `VmXXX:` line of /proc/<pid>/status in KiB, None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def pipeline(bundles, frames, width, height):
    parts = []
    for k, bundle in enumerate(bundles):
        parts += [
            f"segtestsrc seed={1000000 + k} num-buffers={frames}",
            "!",
            f"video/x-raw,format=RGB,width={width},height={height},framerate=30/1",
            "!",
            f"segment model={bundle}",
            "!",
            "fakesink sync=false",
        ]
    # gst-launch escapes the spaces inside one argument: one token per argument.
    return [token for part in parts for token in part.split()]


def run(bundles, args):
    """(peak RSS KiB, last RSS KiB, wall seconds) of one gst-launch-1.0 run."""
    env = dict(os.environ, GST_PLUGIN_PATH=str(args.plugin_dir))
    cmd = ["gst-launch-1.0", "-q", *pipeline(bundles, args.frames, args.width, args.height)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    hwm = rss = 0
    while proc.poll() is None:
        # VmHWM is the process's own peak: the last reading before it exits is the answer.
        hwm = max(hwm, status_kib(proc.pid, "VmHWM") or 0)
        rss = status_kib(proc.pid, "VmRSS") or rss
        time.sleep(0.05)
    wall = time.monotonic() - t0
    err = proc.stderr.read()
    if proc.returncode != 0:
        sys.exit(f"gst-launch-1.0 failed ({proc.returncode}): {err}")
    return hwm, rss, wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plugin-dir", type=Path, default=REPO / "target/debug", help="directory of libgstsegstream.so")
    ap.add_argument("--bundle", type=Path, default=REPO / "engines/tiny")
    ap.add_argument("--streams", default="1,2,4,8")
    ap.add_argument("--frames", type=int, default=60, help="frames per stream")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    args = ap.parse_args()
    if not (args.plugin_dir / "libgstsegstream.so").exists():
        sys.exit(f"{args.plugin_dir}/libgstsegstream.so not found (cargo build first, or pass --plugin-dir)")
    counts = [int(n) for n in args.streams.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        copies = []
        for k in range(max(counts)):
            dst = Path(tmp) / f"bundle-{k}"
            shutil.copytree(args.bundle, dst)
            copies.append(dst)
        for n in counts:
            shared = run([args.bundle.resolve()] * n, args)
            separate = run(copies[:n], args)
            rows.append((n, shared, separate))
            print(f"{n} streams: shared {shared[0] / 1024:.0f} MiB, separate {separate[0] / 1024:.0f} MiB", file=sys.stderr)
    base_s, base_p = rows[0][1][0], rows[0][2][0]
    n0 = rows[0][0]
    print(f"| streams | peak RSS, shared model (MiB) | per extra stream | peak RSS, one model per stream (MiB) | per extra stream | saved |")
    print("|---|---|---|---|---|---|")
    for n, s, p in rows:
        extra = n - n0
        per_s = f"{(s[0] - base_s) / 1024 / extra:.1f}" if extra else "-"
        per_p = f"{(p[0] - base_p) / 1024 / extra:.1f}" if extra else "-"
        print(f"| {n} | {s[0] / 1024:.0f} | {per_s} | {p[0] / 1024:.0f} | {per_p} | {(p[0] - s[0]) / 1024:.0f} MiB |")
    print()
    print("wall time (s, includes start-up), shared / separate: " + ", ".join(f"{n}: {s[2]:.1f} / {p[2]:.1f}" for n, s, p in rows))


if __name__ == "__main__":
    main()
