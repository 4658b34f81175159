#!/usr/bin/env python3
"""N streams in one process: peak memory and total frame rate, shared model vs one per stream.

Runs `gst-launch-1.0` with N branches of `segtestsrc ! segment ! fakesink` (one process,
one streaming thread per branch) and reads its peak resident memory (VmHWM) from /proc
while it runs and its playing time ("Execution ended after ...") when it ends.

- shared: every branch's `segment` names the same bundle directory, so the process loads
  the model once (provider cpu, same threads: one engine, `engine-users` = N).
- separate: each branch gets its own copy of the bundle directory, so each loads its own
  model (what every stream cost before models were shared).

Modes and stream counts are interleaved within each round (the order alternates from
round to round), so a machine whose load changes affects both alike; the table gives
medians over the rounds and the ratios of each round's runs.

CPU s per run: the process's user + system time (start-up included), which the machine's
other load does not inflate the way it does wall time.

Total fps = N x (frames - 1) / playing time: each branch's first frame is processed while
the pipeline prerolls (before PLAYING), as are the model load and `segment`'s warm-up run.

Usage (from the repository root, plugin built with `cargo build --release -p gst-plugin-segstream`):
    python benches/streams.py --plugin-dir target/release --streams 1,2,4,8 --frames 60 --rounds 3
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLAYED = re.compile(r"Execution ended after (\d+):(\d+):(\d+\.\d+)")


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


def pipeline(bundles, args):
    parts = []
    for k, bundle in enumerate(bundles):
        parts += [
            f"segtestsrc seed={1000000 + k} num-buffers={args.frames}",
            "!",
            f"video/x-raw,format=RGB,width={args.width},height={args.height},framerate=30/1",
            "!",
            f"segment model={bundle} threads={args.threads} encode-ahead={args.encode_ahead}",
            "!",
            "fakesink sync=false",
        ]
    # gst-launch escapes the spaces inside one argument: one token per argument.
    return [token for part in parts for token in part.split()]


def run(bundles, args):
    """(peak RSS KiB, total fps, CPU seconds) of one gst-launch-1.0 run."""
    env = dict(os.environ, GST_PLUGIN_PATH=str(args.plugin_dir))
    cmd = ["gst-launch-1.0", *pipeline(bundles, args)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    hwm, usage = 0, None
    while usage is None:
        # VmHWM is the process's own peak: the last reading before it exits is the answer.
        hwm = max(hwm, status_kib(proc.pid, "VmHWM") or 0)
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            usage = rusage
        else:
            time.sleep(0.05)
    out, err = proc.stdout.read(), proc.stderr.read()
    played = PLAYED.search(out)
    if proc.returncode != 0 or not played:
        sys.exit(f"gst-launch-1.0 failed ({proc.returncode}): {err or out}")
    h, m, s = played.groups()
    seconds = int(h) * 3600 + int(m) * 60 + float(s)
    return hwm, len(bundles) * (args.frames - 1) / seconds, usage.ru_utime + usage.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plugin-dir", type=Path, default=REPO / "target/release", help="directory of libgstsegstream.so")
    ap.add_argument("--bundle", type=Path, default=REPO / "engines/tiny")
    ap.add_argument("--streams", default="1,2,4,8")
    ap.add_argument("--frames", type=int, default=60, help="frames per stream")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="segment's threads (intra-op threads per stream)")
    ap.add_argument("--encode-ahead", default="auto", choices=["auto", "on", "off"],
                    help="segment's encode-ahead (auto: one stream on two cores encodes ahead, two streams do not)")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    args = ap.parse_args()
    if not (args.plugin_dir / "libgstsegstream.so").exists():
        sys.exit(f"{args.plugin_dir}/libgstsegstream.so not found (cargo build first, or pass --plugin-dir)")
    if args.frames < 2:
        sys.exit("--frames must be at least 2")
    counts = [int(n) for n in args.streams.split(",")]
    runs = {}  # (mode, n) -> [(hwm KiB, fps)] in round order
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        copies = []
        for k in range(max(counts)):
            dst = Path(tmp) / f"bundle-{k}"
            shutil.copytree(args.bundle, dst)
            copies.append(dst)
        for r in range(args.rounds):
            modes = ["shared", "separate"] if r % 2 == 0 else ["separate", "shared"]
            for n in counts:
                for mode in modes:
                    bundles = [args.bundle.resolve()] * n if mode == "shared" else copies[:n]
                    hwm, fps, cpu = run(bundles, args)
                    runs.setdefault((mode, n), []).append((hwm, fps, cpu))
                    print(f"round {r + 1}: {n} streams {mode}: {hwm / 1024:.0f} MiB peak, {fps:.1f} fps, {cpu:.1f} CPU s", file=sys.stderr)
                load.append(os.getloadavg()[0])
    med = lambda xs: statistics.median(xs)
    n0 = counts[0]
    print(f"| streams | peak RSS MiB, shared / separate | saved | total fps, shared / separate | shared fps vs {n0} stream(s) (per round) "
          "| CPU s per run, shared / separate |")
    print("|---|---|---|---|---|---|")
    for n in counts:
        s, p = runs[("shared", n)], runs[("separate", n)]
        hs, hp = med([x[0] for x in s]) / 1024, med([x[0] for x in p]) / 1024
        fs, fp = med([x[1] for x in s]), med([x[1] for x in p])
        scale = [x[1] / b[1] for x, b in zip(s, runs[("shared", n0)])]
        scale_text = f"{med(scale):.2f}x ({', '.join(f'{v:.2f}' for v in scale)})"
        cs, cp = med([x[2] for x in s]), med([x[2] for x in p])
        print(f"| {n} | {hs:.0f} / {hp:.0f} | {hp - hs:.0f} MiB | {fs:.1f} / {fp:.1f} | {scale_text} | {cs:.1f} / {cp:.1f} |")
    print()
    print(f"{args.rounds} rounds, {args.frames} frames per stream, {args.width}x{args.height} RGB, threads={args.threads}, encode-ahead={args.encode_ahead}; "
          f"1-minute load average during the runs: {min(load):.1f}-{max(load):.1f} (on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
