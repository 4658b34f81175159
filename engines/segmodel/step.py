"""One training step's loss over a Batch (all decoder layers deeply supervised)."""
import torch

from .batch import Batch, gather_tokens
from . import losses as L


def layer_loss(out, batch: Batch, text, scale, n, final: bool, logs: dict):
    masks, cls, assoc, quality = out
    tot = masks.sum() * 0
    num_gt = max(1, sum(int(g.shape[0]) for g in batch.gt_masks))
    num_pr = max(1.0, float(batch.prompt_valid.sum()))
    matched_emb, matched_keys = [], []
    for i in range(masks.shape[0]):
        logit = L.class_logits(cls[i], text, scale)           # [Q, K]
        qi, gi = L.hungarian(masks[i, :n], logit[:n], batch.gt_masks[i], batch.gt_classes[i])
        tgt = torch.zeros_like(logit[:n])
        tgt[qi, batch.gt_classes[i][gi]] = 1.0
        l_cls = L.focal(logit[:n], tgt) / num_gt
        qual_t = torch.zeros(n)
        l_mask = tot
        if len(qi):
            bce, dc, up = L.mask_losses(masks[i, qi], batch.gt_masks[i][gi], final)
            l_mask = (L.W_BCE * bce.sum() + L.W_DICE * dc.sum()) / num_gt
            if final:
                qual_t[qi] = L.iou_of(up.detach(), batch.gt_masks[i][gi])
        # Prompt queries: no matching, the target is given.
        pv = batch.prompt_valid[i] > 0
        l_pr = tot
        if pv.any():
            pl = logit[n:][pv]
            ptgt = torch.nn.functional.one_hot(batch.prompt_classes[i][pv], pl.shape[1]).float()
            bce, dc, up = L.mask_losses(masks[i, n:][pv], batch.prompt_masks[i][pv], final)
            l_pr = (L.W_BCE * bce.sum() + L.W_DICE * dc.sum() + L.W_CLS * L.focal(pl, ptgt)) / num_pr
            if final:
                q_pr = L.iou_of(up.detach(), batch.prompt_masks[i][pv])
                tot = tot + L.W_QUAL * torch.nn.functional.binary_cross_entropy(
                    quality[i, n:][pv], q_pr, reduction="sum") / num_pr
                logs["prompt_iou"] = logs.get("prompt_iou", 0.0) + float(q_pr.sum()) / num_pr
        tot = tot + L.W_CLS * l_cls + l_mask + l_pr
        if final:
            tot = tot + L.W_QUAL * torch.nn.functional.binary_cross_entropy(
                quality[i, :n], qual_t, reduction="sum") / num_gt
            keys = torch.cat([batch.gt_keys[i][gi], batch.prompt_keys[i][pv]])
            matched_emb.append(torch.cat([assoc[i, qi], assoc[i, n:][pv]]))
            matched_keys.append(keys)
            if len(qi):
                logs["det_iou"] = logs.get("det_iou", 0.0) + float(qual_t[qi].sum()) / num_gt
    if final:
        a = sum(L.assoc_loss(matched_emb[j], matched_keys[j], matched_emb[j + 1],
                             matched_keys[j + 1]) for j in range(0, len(matched_emb), 2))
        a = a / (len(matched_emb) // 2)
        logs["assoc"] = float(a.detach())
        tot = tot + L.W_ASSOC * a
    return tot


def compute_loss(model, batch: Batch, text, logs: dict):
    feats = model.encoder(batch.images)
    tokens, valid = gather_tokens(feats[1], batch)
    outs = model.decoder(*feats, tokens, valid, aux=True)
    scale = model.cfg.logit_scale
    n = model.cfg.num_queries
    total = 0
    for li, out in enumerate(outs):
        final = li == len(outs) - 1
        total = total + layer_loss(out, batch, text, scale, n, final, logs)
    return total / len(outs)
