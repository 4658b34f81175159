#!/usr/bin/env python3
"""Graph slimming report: the full mask decoder vs the prompt-only decoder, before and after
constant folding.

    python benches/decoder_graph.py [--bundle engines/tiny] [--prompts 3] [--runs 200]

For each graph: ONNX nodes in the file, nodes after ONNX Runtime's full (ORT_ENABLE_ALL)
optimisation on the CPU provider, kernels ONNX Runtime launches per call (profiled "Node"
events of one run), and ms per call (median over --runs runs, one intra-op thread, P prompts
of random tokens on random features). "before folding" of the prompt-only decoder is the
graph right after its surgery (engines/tools/prompt_only_decoder.py step 1, nothing folded);
"folded" is the full decoder after the same basic offline optimisation the tool applies.
Also prints the largest |difference| of the folded full decoder's outputs from the file's.
"""
import argparse
import json
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "engines" / "tools"))
import prompt_only_decoder as tool  # noqa: E402


def session(path, optimized=None, profile=None):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    if optimized:
        opts.optimized_model_filepath = str(optimized)
    if profile:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(profile) / "profile")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def kernels_per_call(path, feeds, tmp):
    s = session(path, profile=tmp)
    s.run(None, feeds)  # warm-up (first run may differ)
    s.run(None, feeds)
    events = json.loads(Path(s.end_profiling()).read_text())
    runs = [e for e in events if e.get("cat") == "Session" and e["name"] == "model_run"]
    last = runs[-1]
    start, end = last["ts"], last["ts"] + last["dur"]
    return sum(1 for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")
               and start <= e["ts"] <= end)


def ms_per_call(path, feeds, runs):
    s = session(path)
    for _ in range(5):
        s.run(None, feeds)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        s.run(None, feeds)
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def report(name, path, feeds, runs, tmp):
    optimized = Path(tmp) / f"{name.replace(' ', '_')}.opt.onnx"
    session(path, optimized=optimized)
    return {"graph": name, "nodes": len(onnx.load(str(path)).graph.node),
            "nodes_after_ort": len(onnx.load(str(optimized)).graph.node),
            "kernels_per_call": kernels_per_call(path, feeds, tmp),
            "ms_per_call": ms_per_call(path, feeds, runs)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=ROOT / "engines" / "tiny")
    ap.add_argument("--prompts", type=int, default=3, help="prompt rows per call (default 3)")
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    manifest = tomllib.loads((args.bundle / "bundle.toml").read_text())
    cfg = manifest["model"]
    full = args.bundle / manifest["files"]["mask_decoder"]
    prompt = args.bundle / manifest["files"]["prompt_decoder"]
    with tempfile.TemporaryDirectory() as tmp:
        unfolded = Path(tmp) / "prompt_unfolded.onnx"
        model = onnx.load(str(full))
        tool.drop_learnable_queries(model, cfg["num_queries"], cfg["hidden_dim"])
        onnx.save(model, str(unfolded))
        folded_full = Path(tmp) / "full_folded.onnx"
        tool.ort_fold(full, folded_full)
        feeds = tool.feeds(session(full), np.random.default_rng(0), args.prompts,
                           cfg["max_prompt_tokens"], cfg.get("token_dim", cfg["hidden_dim"]))
        rows = [report("full decoder", full, feeds, args.runs, tmp),
                report("full decoder, folded", folded_full, feeds, args.runs, tmp),
                report("prompt-only, before folding", unfolded, feeds, args.runs, tmp),
                report("prompt-only (file)", prompt, feeds, args.runs, tmp)]
        a = session(full).run(None, feeds)
        b = session(folded_full).run(None, feeds)
        diff = max(float(np.abs(x - y).max()) if x.size else 0.0 for x, y in zip(a, b))
    print(f"P = {args.prompts}, {args.runs} runs, 1 intra-op thread, onnxruntime {ort.__version__}\n")
    print("| graph | ONNX nodes | nodes after ORT optimisation | kernels per call | ms per call (median) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['graph']} | {r['nodes']} | {r['nodes_after_ort']} | {r['kernels_per_call']} | {r['ms_per_call']:.2f} |")
    print(f"\nfolded full decoder vs file: largest |difference| of any output {diff:.2e}")


if __name__ == "__main__":
    main()
