"""engines/export_official.py refuses a checkpoint whose tensors it would not all use.

Opt-in: needs torch (engines/official/requirements.txt); the end-to-end case also needs the
official source trees, named by UNIVS_SRC and DETECTRON2_SRC (engines/README.md).
"""
import os
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch not installed: the official exporter is opt-in "
                            "(pip install -r engines/official/requirements.txt), see engines/README.md")

ENGINES = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ENGINES))
from official import univs_export  # noqa: E402


def test_every_tensor_is_used_or_named_with_its_reason():
    keys = ["backbone.stem.conv1.weight", "sem_seg_head.predictor.text_norm.weight", "criterion.empty_weight",
            "sem_seg_head.predictor.query_feat.weight"]
    used = {"backbone.stem.conv1.weight", "sem_seg_head.predictor.query_feat.weight"}
    with pytest.raises(ValueError) as err:
        univs_export.check_consumed(keys, used)
    assert "1 checkpoint tensors are used by no exported graph: criterion.empty_weight" in str(err.value)
    # Without the stray tensor, the text-path one is reported as skipped, by name.
    assert univs_export.check_consumed(keys[:2] + keys[3:], used) == ["sem_seg_head.predictor.text_norm.weight"]


SRC = os.environ.get("UNIVS_SRC"), os.environ.get("DETECTRON2_SRC")


@pytest.mark.skipif(not all(SRC), reason="UNIVS_SRC / DETECTRON2_SRC not set: needs the official source trees")
def test_a_checkpoint_with_an_unknown_tensor_fails_and_names_it(tmp_path):
    import export_official
    from official import univs_source

    univs_source.import_official(*SRC)
    rows = len((Path(SRC[0]) / "datasets/concept_emb/combined_datasets.txt").read_text().splitlines())
    emb = tmp_path / "emb.pth"
    torch.save(torch.randn(rows, 640), str(emb))
    cfg = univs_source.official_cfg(SRC[0], class_embed_path=str(emb))
    state = univs_source.OfficialUniVS(cfg).model.state_dict()
    state["criterion.empty_weight"] = torch.ones(134)
    state["sem_seg_head.predictor.extra_head.weight"] = torch.ones(3, 3)
    ckpt = tmp_path / "ckpt.pth"
    torch.save({"model": state}, str(ckpt))
    args = ["--checkpoint", str(ckpt), "--class-embeddings", str(emb), "--univs-src", SRC[0], "--detectron2-src", SRC[1],
            "--out", str(tmp_path / "bundle")]
    with pytest.raises(SystemExit) as err:
        export_official.main(args)
    msg = str(err.value)
    assert "2 checkpoint tensors are used by no exported graph" in msg
    assert "criterion.empty_weight" in msg and "sem_seg_head.predictor.extra_head.weight" in msg
    assert not (tmp_path / "bundle" / "mask_decoder.onnx").exists()
