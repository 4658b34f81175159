# segstream: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

# Every Python step runs from the project's virtual environment, created from
# deploy/requirements.txt alone (deploy/install-deps.sh recreates it when that file
# changes). It is first on PATH, so the `python3` that Rust tests and the ONNX Runtime /
# NVRTC library lookups call is the venv's: a package that is on the host but missing from
# the requirements fails here as it would on a fresh machine.
VENV := $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(PATH)
export VIRTUAL_ENV := $(VENV)
PYTHON := $(VENV)/bin/python

.PHONY: check-aarch64 deps build release demo model int8 test test-run test-rust test-python test-official lint inspect bench

deps:
	./deploy/install-deps.sh

# libnvrtc.so.12 from the nvidia-cuda-nvrtc-cu12 wheel in the venv: lets the tests compile our
# CUDA kernels to PTX (no GPU needed). Read in a sub-make (after deps made the venv).
# (nvidia.cuda_nvrtc is a namespace package: no __file__, so read its __path__.)
NVRTC_LIB = $(shell $(PYTHON) -c "import nvidia.cuda_nvrtc as m,os;print(os.path.join(list(m.__path__)[0],'lib'))" 2>/dev/null)

release: deps
	$(CARGO) build --release --workspace

build: deps
	$(CARGO) build --workspace --all-targets

## The main job on the bundled default: model + synthetic world, annotated frames in out/demo.
demo: release
	./target/release/segstream demo --out out/demo

## Retrain the default model from seed 0 and export it into engines/tiny (opt-in, needs torch):
## one run of engines/train.py and its 320 px export with the ONNX-vs-PyTorch parity check.
## The training requirements go into the same venv.
model: release
	$(PYTHON) -m pip install -q -r engines/requirements-train.txt
	$(PYTHON) engines/train.py --out engines/checkpoints/tiny.pt $(TRAIN_ARGS)
	$(PYTHON) engines/export_bundle.py --checkpoint engines/checkpoints/tiny.pt --out $(MODEL_OUT) \
	  --skip-text --input-size 320 --description "$(MODEL_DESCRIPTION)"

## Rewrite the optional int8 bundle engines/tiny-int8 from engines/tiny (no torch): static
## QDQ int8 image encoder calibrated on 256 synthetic-world frames, the other files copied
## from engines/tiny; a rerun on one machine writes the same bytes. engines/README.md, "int8".
int8: release
	$(PYTHON) engines/tools/quantize_bundle.py engines/tiny engines/tiny-int8

# TRAIN_ARGS: extra train.py options (a short smoke run: TRAIN_ARGS="--iters 20 --videos 16
# --hard-videos 0 --data /tmp/smoke"); MODEL_OUT: where the networks go (text files stay).
TRAIN_ARGS ?=
MODEL_OUT ?= engines/tiny
MODEL_DESCRIPTION := Small unified query-based segmenter trained on the segstream synthetic world by make model (engines/train.py defaults, seed 0, exported at 320 px input); see engines/MODEL_CARD.md

## The whole suite (installs what is missing first).
test: deps
	$(MAKE) --no-print-directory test-run

test-run:
	$(CARGO) fmt --all --check
	$(CARGO) build --workspace --all-targets
	$(MAKE) --no-print-directory test-rust
	$(MAKE) --no-print-directory test-python
	$(MAKE) --no-print-directory check-aarch64

## The workspace type-checks for aarch64 (Jetson). Debian 12 cannot co-install the arm64
## GStreamer -dev packages beside the amd64 ones (gir1.2-gst-plugins-base-1.0 conflicts), so
## pkg-config answers with the host's .pc files (same GStreamer 1.22 API); `cargo check` links
## nothing, so the host library paths it reports are never used. A full aarch64 build and link
## happens in deploy/jetson/Dockerfile on an L4T base.
check-aarch64:
	PKG_CONFIG_ALLOW_CROSS=1 CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
	  $(CARGO) check --workspace --all-targets --target aarch64-unknown-linux-gnu

test-rust:
	LD_LIBRARY_PATH=$(NVRTC_LIB)$${LD_LIBRARY_PATH:+:$$LD_LIBRARY_PATH} GST_PLUGIN_PATH=$(CURDIR)/target/debug \
	  $(CARGO) test --workspace --no-fail-fast

test-python:
	$(PYTHON) -m pytest -q -rs engines/tests tests/judges

## Parity of the Rust runtime with the OFFICIAL UniVS forward (opt-in: needs torch and the
## official source trees, see engines/README.md). Builds UniVS R50 from its own code with
## random weights, converts it with engines/export_official.py, writes the official outputs
## on VIDEO's frames and runs tests/official_parity.rs on them. `make test` lists that test
## as ignored, with the reason. OFFICIAL_PYTHON: a Python to install engines/official/requirements.txt into;
## OFFICIAL_SIZE: the bundle's input H W (320 320; the checkpoints' own size is 640 640).
UNIVS_SRC ?=
DETECTRON2_SRC ?=
VIDEO ?=
OFFICIAL_PYTHON ?= $(PYTHON)
OFFICIAL_CASE ?= $(CURDIR)/target/official-case
OFFICIAL_SIZE ?= 320 320
test-official:
	@test -n "$(UNIVS_SRC)" -a -n "$(DETECTRON2_SRC)" -a -n "$(VIDEO)" || \
	  { echo "usage: make test-official UNIVS_SRC=<UniVS source> DETECTRON2_SRC=<detectron2 source> VIDEO=<video file>"; exit 2; }
	$(OFFICIAL_PYTHON) -m pip install -q -r engines/official/requirements.txt
	$(OFFICIAL_PYTHON) engines/official/parity_case.py --univs-src $(UNIVS_SRC) --detectron2-src $(DETECTRON2_SRC) \
	  --video $(VIDEO) --input-size $(OFFICIAL_SIZE) --out $(OFFICIAL_CASE)
	SEGSTREAM_OFFICIAL_CASE=$(OFFICIAL_CASE) $(CARGO) test -p segstream --test official_parity -- --ignored --nocapture

## rustfmt (also checked by `make test`) and clippy.
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets

inspect: release
	GST_PLUGIN_PATH=$(CURDIR)/target/release gst-inspect-1.0 segstream

bench: release
	$(CARGO) bench -p segstream
