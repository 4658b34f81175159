"""Build the official UniVS modules from the official source tree (no copy of it here).

The official packages `univs` and `mask2former` import every dataset, evaluator and
inference helper from their `__init__.py`; only the modelling modules are needed, so the
package objects are registered empty (with their real `__path__`) and the submodules are
imported from the official files unchanged. detectron2 is used as pure Python from its own
source tree: its compiled `_C` extension is only needed for ops UniVS inference does not use
(deformable conv, ROIAlign), and MSDeformAttn falls back to its PyTorch path on the CPU.
"""
import importlib
import os
import sys
import types

UNIVS_COMMIT = "7415d31d149a7a3c2f5a7616a854af1a3e2dfb61"
DETECTRON2_COMMIT = "02b5c4e295e990042a714712c21dc79b731e8833"
DEFAULT_CONFIG = "configs/univs/univs_r50_stage3.yaml"


def _empty_package(name, path):
    mod = types.ModuleType(name)
    mod.__path__ = [path]
    sys.modules[name] = mod
    return mod


def _msda_on_the_cpu():
    """MSDeformAttn's compiled op (`MultiScaleDeformableAttention`, CUDA only) cannot be
    built here (no CUDA toolkit, no GPU). The official file that wraps it also carries the
    official PyTorch implementation of the same op, `ms_deform_attn_core_pytorch`; this
    module stands in for the compiled one and calls that function (forward only)."""
    mod = types.ModuleType("MultiScaleDeformableAttention")

    def ms_deform_attn_forward(value, shapes, level_start_index, sampling_locations, attention_weights, im2col_step):
        from mask2former.modeling.pixel_decoder.ops.functions.ms_deform_attn_func import ms_deform_attn_core_pytorch

        return ms_deform_attn_core_pytorch(value, shapes, sampling_locations, attention_weights)

    mod.ms_deform_attn_forward = ms_deform_attn_forward
    sys.modules.setdefault("MultiScaleDeformableAttention", mod)


def import_official(univs_src, detectron2_src):
    """Puts the two source trees on sys.path and imports the modelling modules."""
    _msda_on_the_cpu()
    for p in (univs_src, detectron2_src):
        if not os.path.isdir(p):
            raise FileNotFoundError(f"official source tree not found: {p}")
        if p not in sys.path:
            sys.path.insert(0, p)
    for pkg in ("univs", "univs.modeling", "mask2former", "mask2former.modeling", "mask2former_video", "regionclip", "datasets",
                "datasets.concept_emb"):
        _empty_package(pkg, os.path.join(univs_src, *pkg.split(".")))
    mods = {}
    for name in (
        "mask2former.config",
        "mask2former_video.config",
        "regionclip.config",
        "univs.config",
        "mask2former.modeling.pixel_decoder.msdeformattn",
        "mask2former.modeling.meta_arch.mask_former_head",
        "univs.modeling.transformer_decoder.video_mask2former_transformer_decoder_univs",
    ):
        mods[name] = importlib.import_module(name)
    return mods


def official_cfg(univs_src, config=DEFAULT_CONFIG, class_embed_path=None, opts=()):
    """The detectron2 config of one official YAML (with its _BASE_ chain)."""
    from detectron2.config import get_cfg

    from detectron2.projects.deeplab import add_deeplab_config

    # The same config adders, in the same order, as the official train_net.py's setup().
    cfg = get_cfg()
    add_deeplab_config(cfg)
    sys.modules["mask2former.config"].add_maskformer2_config(cfg)
    sys.modules["mask2former_video.config"].add_maskformer2_video_config(cfg)
    sys.modules["regionclip.config"].add_regionclip_config(cfg)
    sys.modules["univs.config"].add_univs_config(cfg)
    cfg.merge_from_file(os.path.join(univs_src, config))
    if class_embed_path is not None:
        cfg.MODEL.UniVS.CLIP_CLASS_EMBED_PATH = class_embed_path
    cfg.merge_from_list(list(opts))
    cfg.INPUT.SAMPLING_FRAME_NUM = 1  # streaming: one-frame clips
    cfg.freeze()
    return cfg


class OfficialUniVS:
    """backbone + sem_seg_head built by detectron2 from the official config, as
    `UniVS_Prompt.from_config` builds them; `state_dict()` keys match the checkpoint's."""

    def __init__(self, cfg):
        import torch
        from detectron2.modeling import build_backbone, build_sem_seg_head

        self.cfg = cfg
        self.model = torch.nn.Module()
        self.model.backbone = build_backbone(cfg)
        self.model.sem_seg_head = build_sem_seg_head(cfg, self.model.backbone.output_shape())
        self.model.eval()

    @property
    def backbone(self):
        return self.model.backbone

    @property
    def pixel_decoder(self):
        return self.model.sem_seg_head.pixel_decoder

    @property
    def predictor(self):
        return self.model.sem_seg_head.predictor


def category_range(dataset):
    """(count, first row) of one dataset's classes in the official concept embeddings."""
    info = importlib.import_module("datasets.concept_emb.combined_datasets_category_info").combined_datasets_category_info
    if dataset not in info:
        raise SystemExit(f"unknown vocabulary {dataset!r}: one of {', '.join(sorted(info))}")
    return info[dataset]
