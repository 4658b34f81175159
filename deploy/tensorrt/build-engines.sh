#!/usr/bin/env bash
# Builds TensorRT plans for a bundle on THIS device (plans are specific to the GPU and the
# TensorRT version): <bundle>/tensorrt/{image_encoder,mask_decoder}.plan, each with a
# <model>.plan.source stamp holding the SHA-256 of the ONNX file it was built from
# (segstream refuses a plan whose ONNX file has changed since).
#
#   deploy/tensorrt/build-engines.sh engines/tiny [--fp16]
#
# The optimisation profile of each model comes from the bundle manifest's [dynamic]
# ranges, printed by `segstream trt-profile` (src/runtime/tensorrt/profile.rs). Bundles of
# contract v2 (engines/export_official.py: official UniVS) are covered the same way: their
# prompt tokens are `token_dim` wide (512 for UniVS R50, so the decoder's max profile is
# prompt_tokens:32x768x512); the encoder is static (one plan per exported input size).
# Their decoder uses NonZero/ScatterND (Mask2Former's "attend everywhere when the mask is
# empty" rule) and the encoder GridSample (MSDeformAttn), all TensorRT 10 layers; no plan
# has been built from these bundles (no GPU or TensorRT where they were made).
set -euo pipefail
bundle="${1:?usage: build-engines.sh BUNDLE_DIR [extra trtexec flags]}"
shift
segstream="${SEGSTREAM:-segstream}"
trtexec="${TRTEXEC:-/usr/src/tensorrt/bin/trtexec}"
command -v "$trtexec" >/dev/null || trtexec=trtexec
mkdir -p "$bundle/tensorrt"
for model in image_encoder mask_decoder; do
  mapfile -t shapes < <("$segstream" trt-profile "$bundle" "$model")
  plan="$bundle/tensorrt/$model.plan"
  rm -f "$plan.source"
  "$trtexec" --onnx="$bundle/$model.onnx" --saveEngine="$plan" "${shapes[@]}" "$@"
  printf 'onnx = "%s.onnx"\nonnx_sha256 = "%s"\n' "$model" "$(sha256sum "$bundle/$model.onnx" | cut -d' ' -f1)" > "$plan.source"
done
echo "plans written to $bundle/tensorrt/; run with provider=tensorrt-native"
