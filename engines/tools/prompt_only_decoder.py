#!/usr/bin/env python3
"""Derive a bundle's prompt-only decoder (prompt_decoder.onnx) from its mask_decoder.onnx.

    python engines/tools/prompt_only_decoder.py engines/tiny

The tracker runs the learnable (detection) queries only every detect-interval frames; on
the other frames it reads the prompt rows alone. The model's self-attention is separated
(engines/segmodel/model.py: a -1e4 bias between the two groups, exp(-1e4) = 0 in f32) and
every other step is per query, so the prompt rows do not depend on the learnable ones: a
decoder without them gives the same prompt rows. This tool makes that decoder by graph
surgery on the exported ONNX file (no torch, no checkpoint):

1. the learnable-query constants ([1, N, C] initializers) become [1, 0, C], and the
   integer constants equal to N that split or size the query axis (the Slice bounds of
   q[:, :N] / q[:, N:], the [B, N] group masks, N + P of the self-attention eye) become 0;
2. the det_* outputs are dropped;
3. ONNX Runtime's basic offline optimisation folds constants; then zero-size inputs of
   Concat, whole-range Slices and "+ 0" are removed and dead nodes dropped; folded again;
4. the graph's input/output shapes are stamped from the manifest, onnx.checker runs with
   full shape inference, and both decoders run on random features and prompts (P = 1 and
   P = max_prompts): every prompt output must agree within --tolerance times its scale
   (max(1, largest |value| of that output)), or nothing is written.

Then bundle.toml gets `[files] prompt_decoder` and its [[tensors]] (the mask decoder's
inputs and prompt_* outputs), unless they are there already. Needs onnx, onnxruntime,
numpy (deploy/requirements.txt).
"""
import argparse
import collections
import sys
import tempfile
import tomllib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

FILE_KEY = "prompt_decoder"
FILE_NAME = "prompt_decoder.onnx"
PROMPT_OUTPUTS = ["prompt_masks", "prompt_class_emb", "prompt_assoc_emb", "prompt_quality"]
# Slice ends at or above this are "to the end" (the exporter writes INT64_MAX).
END = 2 ** 62


class SurgeryError(Exception):
    pass


def const_value(g, name):
    """The value of `name` when it is an initializer or a Constant node's output."""
    for init in g.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    for n in g.node:
        if n.op_type == "Constant" and n.output[0] == name and n.attribute[0].name == "value":
            return numpy_helper.to_array(n.attribute[0].t)
    return None


def subgraph_uses(node):
    """Outer-scope names read inside the If/Loop/Scan bodies of `node`."""
    names = set()
    for a in node.attribute:
        for g in list(a.graphs) + ([a.g] if a.type == onnx.AttributeProto.GRAPH else []):
            for n in g.node:
                names.update(n.input)
                names.update(subgraph_uses(n))
    return names


def drop_learnable_queries(model, n, c):
    """Step 1: zero the query count N. Returns how many tensors changed."""
    g = model.graph
    users = collections.defaultdict(list)
    for node in g.node:
        for i, x in enumerate(node.input):
            users[x].append((node.op_type, i))
    learnable = 0
    for init in g.initializer:
        dims = list(init.dims)
        if init.data_type == onnx.TensorProto.FLOAT and len(dims) >= 2 and dims[-2:] == [n, c]:
            empty = np.zeros(dims[:-2] + [0, c], np.float32)
            init.CopyFrom(numpy_helper.from_array(empty, init.name))
            learnable += 1
    if learnable != 2:
        raise SurgeryError(f"expected 2 learnable-query tensors [.., {n}, {c}] (features, "
                           f"positions), found {learnable}")
    # Where an N may stand for the query count: Slice bounds (inputs 1, 2), a shape being
    # concatenated, an index sum (N + P).
    roles = {("Slice", 1), ("Slice", 2), ("Concat", 0), ("Concat", 1), ("Add", 0), ("Add", 1)}
    counts = 0
    for node in g.node:
        if node.op_type != "Constant" or node.attribute[0].name != "value":
            continue
        t = node.attribute[0].t
        a = numpy_helper.to_array(t)
        if t.data_type != onnx.TensorProto.INT64 or a.size != 1 or int(a.ravel()[0]) != n:
            continue
        uses = set(users[node.output[0]])
        if not uses or not uses <= roles:
            raise SurgeryError(f"constant {node.output[0]} = {n} is used as {sorted(uses)}: "
                               "not a query-axis bound this tool knows")
        node.attribute[0].t.CopyFrom(numpy_helper.from_array(np.zeros_like(a), t.name))
        counts += 1
    if counts == 0:
        raise SurgeryError(f"no integer constant equals the query count {n}")
    keep = [o for o in g.output if not o.name.startswith("det_")]
    del g.output[:]
    g.output.extend(keep)
    return learnable + counts


def is_empty(g, name, producers):
    """Whether tensor `name` certainly has zero elements (after constant folding)."""
    v = const_value(g, name)
    if v is not None:
        return v.size == 0
    node = producers.get(name)
    if node is None:
        return False
    if node.op_type == "ConstantOfShape":
        shape = producers.get(node.input[0])
        parts = shape.input if shape is not None and shape.op_type == "Concat" else [node.input[0]]
        return any((v := const_value(g, p)) is not None and (v == 0).any() for p in parts)
    if node.op_type == "Expand":
        return is_empty(g, node.input[0], producers)
    if node.op_type == "Slice" and len(node.input) >= 3:
        s, e = const_value(g, node.input[1]), const_value(g, node.input[2])
        return s is not None and e is not None and s.shape == e.shape and (s == e).all()
    return False


def simplify(model):
    """Step 3: drop zero-size Concat inputs, turn no-op Slices / Concats / `+ 0` into
    Identity (ONNX Runtime removes those), then remove nodes nobody reads."""
    g = model.graph
    producers = {o: node for node in g.node for o in node.output}
    for node in g.node:
        if node.op_type == "Concat":
            kept = [x for x in node.input if not is_empty(g, x, producers)]
            if kept and len(kept) < len(node.input):
                del node.input[:]
                node.input.extend(kept)
            if len(node.input) == 1:
                to_identity(node)
        elif node.op_type == "Slice" and whole_range(g, node):
            to_identity(node)
        elif node.op_type == "Add":
            for i, x in enumerate(node.input):
                v = const_value(g, x)
                if v is not None and v.ndim == 0 and v.dtype == np.int64 and v == 0:
                    other = node.input[1 - i]
                    node.ClearField("input")
                    node.input.append(other)
                    to_identity(node)
                    break
    remove_dead(g)


def to_identity(node):
    keep = node.input[0]
    node.ClearField("input")
    node.input.append(keep)
    node.op_type = "Identity"
    node.ClearField("attribute")


def whole_range(g, node):
    """A Slice that keeps everything: starts 0, ends past the end, steps 1."""
    if len(node.input) < 3:
        return False
    starts, ends = const_value(g, node.input[1]), const_value(g, node.input[2])
    steps = const_value(g, node.input[4]) if len(node.input) > 4 and node.input[4] else None
    if starts is None or ends is None:
        return False
    return (starts == 0).all() and (ends >= END).all() and (steps is None or (steps == 1).all())


def remove_dead(g):
    while True:
        used = {o.name for o in g.output}
        for node in g.node:
            used.update(node.input)
            used.update(subgraph_uses(node))
        live = [n for n in g.node if any(o in used for o in n.output)]
        if len(live) == len(g.node):
            break
        del g.node[:]
        g.node.extend(live)
    inits = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(inits)


def ort_fold(src, dst):
    """ONNX Runtime's basic (hardware-independent, ONNX-ops-only) offline optimisation."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.optimized_model_filepath = str(dst)
    ort.InferenceSession(str(src), opts, providers=["CPUExecutionProvider"])


def finish(model, reference, opsets):
    """Keep the source's opset imports (ONNX Runtime lists every domain it knows) and its
    input/output types (the manifest's shapes, stamped at export)."""
    del model.opset_import[:]
    model.opset_import.extend(opsets)
    for group, ref in ((model.graph.input, reference.graph.input),
                       (model.graph.output, reference.graph.output)):
        by_name = {v.name: v for v in ref}
        for v in group:
            v.type.CopyFrom(by_name[v.name].type)
    model.producer_name = "segstream engines/tools/prompt_only_decoder.py"
    model.producer_version = ""
    onnx.checker.check_model(model, full_check=True)
    return model


def build(src, n, c):
    """The prompt-only decoder of decoder file `src` (N learnable queries of width C)."""
    full = onnx.load(str(src))
    model = onnx.load(str(src))
    drop_learnable_queries(model, n, c)
    with tempfile.TemporaryDirectory() as tmp:
        a, b, out = Path(tmp) / "a.onnx", Path(tmp) / "b.onnx", Path(tmp) / "c.onnx"
        onnx.save(model, str(a))
        ort_fold(a, b)
        model = onnx.load(str(b))
        simplify(model)
        onnx.save(model, str(a))
        ort_fold(a, out)
        model = onnx.load(str(out))
    return finish(model, full, full.opset_import)


def feeds(session, rng, p, t, token_dim):
    f = {}
    for i in session.get_inputs():
        if i.name == "prompt_tokens":
            f[i.name] = rng.standard_normal((p, t, token_dim)).astype(np.float32)
        elif i.name == "prompt_valid":
            valid = (rng.random((p, t)) < 0.7).astype(np.float32)
            valid[:, 0] = 1.0
            if p > 1:
                valid[-1] = 0.0  # an empty prompt row, as the runtime may send
            f[i.name] = valid
        else:
            f[i.name] = rng.standard_normal(i.shape).astype(np.float32)
    return f


def max_differences(full_path, prompt_path, model_cfg, seed=0):
    """{(P, output): (max |full - prompt-only|, scale)} on random inputs, P = 1 and
    P = max_prompts; scale = max(1, largest |value| of the full decoder's output)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    full = ort.InferenceSession(str(full_path), opts, providers=["CPUExecutionProvider"])
    part = ort.InferenceSession(str(prompt_path), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in part.get_outputs()]
    if sorted(names) != sorted(PROMPT_OUTPUTS):
        raise SurgeryError(f"prompt-only decoder outputs {names}, expected {PROMPT_OUTPUTS}")
    rng = np.random.default_rng(seed)
    token_dim = model_cfg.get("token_dim", model_cfg["hidden_dim"])
    diffs = {}
    for p in (1, model_cfg["max_prompts"]):
        f = feeds(full, rng, p, model_cfg["max_prompt_tokens"], token_dim)
        a = dict(zip([o.name for o in full.get_outputs()], full.run(None, f)))
        b = dict(zip(names, part.run(None, f)))
        for k in names:
            if a[k].shape != b[k].shape:
                raise SurgeryError(f"{k}: shape {b[k].shape}, full decoder {a[k].shape}")
            diff = float(np.abs(a[k].astype(np.float64) - b[k]).max())
            diffs[(p, k)] = (diff, max(1.0, float(np.abs(a[k]).max())))
    return diffs


def worst_ratio(diffs):
    """The largest difference as a fraction of its output's scale."""
    return max(d / scale for d, scale in diffs.values())


def declare(bundle_dir):
    """Adds `[files] prompt_decoder` and its [[tensors]] to bundle.toml (text edit, so the
    file keeps its comments and order). Returns False when it is declared already."""
    path = bundle_dir / "bundle.toml"
    text = path.read_text()
    manifest = tomllib.loads(text)
    if FILE_KEY in manifest["files"]:
        return False
    lines = text.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.strip().startswith("mask_decoder ="))
    lines.insert(at + 1, f'{FILE_KEY} = "{FILE_NAME}"')
    block = []
    for t in manifest["tensors"]:
        if t["file"] != "mask_decoder" or t["name"].startswith("det_"):
            continue
        shape = ", ".join(f'"{d}"' if isinstance(d, str) else str(d) for d in t["shape"])
        block += ["", "[[tensors]]", f'file = "{FILE_KEY}"', f'io = "{t["io"]}"',
                  f'name = "{t["name"]}"', f'dtype = "{t["dtype"]}"', f"shape = [{shape}]"]
    dyn = next(i for i, ln in enumerate(lines) if ln.startswith("[dynamic]"))
    while dyn > 0 and not lines[dyn - 1].strip():
        dyn -= 1
    lines[dyn:dyn] = block
    path.write_text("\n".join(lines) + "\n")
    tomllib.loads(path.read_text())
    return True


def node_count(path):
    return len(onnx.load(str(path)).graph.node)


def run(bundle_dir, tolerance=1e-5):
    """Writes prompt_decoder.onnx into the bundle and declares it; returns a report."""
    manifest = tomllib.loads((bundle_dir / "bundle.toml").read_text())
    cfg = manifest["model"]
    src = bundle_dir / manifest["files"]["mask_decoder"]
    model = build(src, cfg["num_queries"], cfg["hidden_dim"])
    with tempfile.TemporaryDirectory() as tmp:
        candidate = Path(tmp) / FILE_NAME
        onnx.save(model, str(candidate))
        diffs = max_differences(src, candidate, cfg)
        worst = worst_ratio(diffs)
        if not worst <= tolerance:
            raise SurgeryError(f"prompt rows differ from the full decoder by {worst:.3e} of "
                               f"their scale > {tolerance:g}: {diffs}")
        (bundle_dir / FILE_NAME).write_bytes(candidate.read_bytes())
    declared = declare(bundle_dir)
    return {"file": str(bundle_dir / FILE_NAME), "nodes": node_count(bundle_dir / FILE_NAME),
            "source_nodes": node_count(src), "max_diff_over_scale": worst, "declared": declared}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path, help="bundle directory (bundle.toml + mask_decoder.onnx)")
    ap.add_argument("--tolerance", type=float, default=1e-5,
                    help="largest |difference| of a prompt output allowed, as a fraction "
                         "of max(1, its largest |value|) (default 1e-5)")
    args = ap.parse_args()
    try:
        report = run(args.bundle, args.tolerance)
    except SurgeryError as e:
        sys.exit(f"{args.bundle}: {e}")
    print(report)


if __name__ == "__main__":
    main()
