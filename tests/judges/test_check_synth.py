"""The synth judge must reject broken datasets, not just pass good ones.

Generates a small dataset with the built `segstream` binary (release if built, else
debug; `make test` builds it first), checks the judge accepts it, then corrupts one thing
at a time and checks the judge names the problem.
"""
import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
JUDGE = HERE / "check_synth.py"


def segstream_bin():
    for kind in ("release", "debug"):
        p = REPO / "target" / kind / "segstream"
        if p.exists():
            return p
    pytest.fail("segstream binary not built: run `cargo build -p gst-plugin-segstream --bin segstream`")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    subprocess.run([str(segstream_bin()), "synth", "--seed", "5", "--videos", "2", "--frames", "6",
                    "--difficulty", "hard", "--out", str(out)], check=True, capture_output=True)
    return out


def judge(path):
    return subprocess.run([sys.executable, str(JUDGE), str(path)], capture_output=True, text=True)


def corrupted(dataset, tmp_path, edit):
    dst = tmp_path / "bad"
    shutil.copytree(dataset, dst)
    ann = json.loads((dst / "annotations.json").read_text())
    edit(ann)
    (dst / "annotations.json").write_text(json.dumps(ann))
    return dst


def first_visible(ann):
    for a in ann["annotations"]:
        for f, s in enumerate(a["segmentations"]):
            if s is not None:
                return a, f
    raise AssertionError("no visible object")


def test_good_dataset_passes(dataset):
    r = judge(dataset)
    assert r.returncode == 0, r.stderr
    assert "OK 2 videos" in r.stdout


def test_wrong_area_is_caught(dataset, tmp_path):
    def edit(ann):
        a, f = first_visible(ann)
        a["areas"][f] += 1
    r = judge(corrupted(dataset, tmp_path, edit))
    assert r.returncode == 1 and "area" in r.stderr


def test_wrong_bbox_is_caught(dataset, tmp_path):
    def edit(ann):
        a, f = first_visible(ann)
        a["bboxes"][f][2] += 1.0
    r = judge(corrupted(dataset, tmp_path, edit))
    assert r.returncode == 1 and "bbox" in r.stderr


def test_overlapping_masks_are_caught(dataset, tmp_path):
    def edit(ann):
        a, f = first_visible(ann)
        twin = copy.deepcopy(a)
        twin["id"] = len(ann["annotations"]) + 1
        ann["annotations"].append(twin)
    r = judge(corrupted(dataset, tmp_path, edit))
    assert r.returncode == 1 and "overlaps" in r.stderr


def test_wrong_categories_are_caught(dataset, tmp_path):
    def edit(ann):
        ann["categories"][0]["name"] = "circle"
    r = judge(corrupted(dataset, tmp_path, edit))
    assert r.returncode == 1 and "categories" in r.stderr


def test_missing_frame_is_caught(dataset, tmp_path):
    bad = corrupted(dataset, tmp_path, lambda ann: None)
    (bad / "videos" / "00001" / "00003.png").unlink()
    r = judge(bad)
    assert r.returncode == 1 and "missing frame" in r.stderr
