"""Tensor names of the engine contract (engines/CONTRACT.md), without torch.

The ONNX Runtime checks (verify.py, eval.py) need the names but not the model code, and run
where torch is not installed.
"""
ENC_OUT = ["mask_feat", "feat_s8", "feat_s16", "feat_s32"]
HEADS = ["masks", "class_emb", "assoc_emb", "quality"]
DEC_OUT = [f"det_{h}" for h in HEADS] + [f"prompt_{h}" for h in HEADS]
