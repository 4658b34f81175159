#!/usr/bin/env bash
# Builds TensorRT plans for a bundle on THIS device (plans are specific to the GPU and the
# TensorRT version): <bundle>/tensorrt/{image_encoder,mask_decoder}.plan, each with a
# <model>.plan.source stamp holding the SHA-256 of the ONNX file it was built from
# (segstream refuses a plan whose ONNX file has changed since).
#
#   deploy/tensorrt/build-engines.sh engines/tiny [--fp16]
#
# The optimisation profile of each model comes from the bundle manifest's [dynamic]
# ranges, printed by `segstream trt-profile` (src/runtime/tensorrt/profile.rs).
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
