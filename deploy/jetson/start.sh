#!/usr/bin/env bash
# Starts segstream on a Jetson: builds the TensorRT plans on first start (they are specific to
# this GPU and TensorRT version; minutes on an Orin), then runs the decode pipeline.
#
#   start.sh URI [MQTT_HOST:PORT] [STREAM_ID]
#
# URI: an RTSP camera sending H.264. Another source: set SEGSTREAM_SOURCE to the part of the
# pipeline before the decoder (e.g. "filesrc location=/v.mp4 ! qtdemux ! h264parse").
# Environment: SEGSTREAM_BUNDLE (bundle to copy), SEGSTREAM_PLANS (writable directory
# holding the bundle copy and its plans).
# NOT RUN: written without a Jetson (see deploy/jetson/README.md).
set -euo pipefail
uri="${1:?usage: start.sh URI [MQTT_HOST:PORT] [STREAM_ID]}"
mqtt="${2:-127.0.0.1:1883}"
stream="${3:-cam1}"
src_bundle="${SEGSTREAM_BUNDLE:-/opt/segstream/engines/tiny}"
bundle="${SEGSTREAM_PLANS:-/var/lib/segstream}/$(basename "$src_bundle")"

# Plans live beside the ONNX files they were built from; a changed ONNX file (new bundle)
# invalidates them (segstream checks the SHA-256 stamp and says so).
if [ ! -f "$bundle/bundle.toml" ] || ! cmp -s "$src_bundle/bundle.toml" "$bundle/bundle.toml"; then
  rm -rf "$bundle" && mkdir -p "$bundle" && cp -a "$src_bundle/." "$bundle/"
fi
if [ ! -f "$bundle/tensorrt/mask_decoder.plan.source" ]; then
  SEGSTREAM=segstream "$(dirname "$0")/build-engines.sh" "$bundle" --fp16
fi

host="${mqtt%:*}"
port="${mqtt##*:}"
# nvv4l2decoder outputs NVMM (device) memory; nvvidconv copies it to system-memory NV12,
# which segment maps as bytes. videoconvert cannot take NVMM memory.
source="${SEGSTREAM_SOURCE:-rtspsrc location=$uri latency=200 ! rtph264depay ! h264parse}"
# shellcheck disable=SC2086 # the source is a pipeline fragment: word splitting wanted
exec gst-launch-1.0 -e $source ! \
  nvv4l2decoder ! nvvidconv ! video/x-raw,format=NV12 ! \
  segment model="$bundle" provider=tensorrt-native detect-interval=3 ! \
  segmqttsink host="$host" port="$port" stream-id="$stream"
