#!/usr/bin/env bash
# Builds TensorRT plans for a bundle on THIS device (plans are specific to the GPU and the
# TensorRT version): <bundle>/tensorrt/{image_encoder,mask_decoder}.plan.
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
  "$trtexec" --onnx="$bundle/$model.onnx" --saveEngine="$bundle/tensorrt/$model.plan" "${shapes[@]}" "$@"
done
echo "plans written to $bundle/tensorrt/; run with provider=tensorrt-native"
