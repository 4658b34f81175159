# segstream: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
PYTHON ?= python3

# libnvrtc.so.12 from the nvidia-cuda-nvrtc-cu12 wheel: lets the tests compile our CUDA
# kernels to PTX (no GPU needed). Empty when the wheel is missing; the deps target installs it.
# (nvidia.cuda_nvrtc is a namespace package: no __file__, so read its __path__.)
NVRTC_LIB := $(shell $(PYTHON) -c "import nvidia.cuda_nvrtc as m,os;print(os.path.join(list(m.__path__)[0],'lib'))" 2>/dev/null)
export LD_LIBRARY_PATH := $(NVRTC_LIB)$(if $(LD_LIBRARY_PATH),:$(LD_LIBRARY_PATH))

.PHONY: deps build release demo model test test-rust test-python lint inspect bench clean-out

deps:
	./deploy/install-deps.sh

release: deps
	$(CARGO) build --release --workspace

build: deps
	$(CARGO) build --workspace --all-targets

## The main job on the bundled default: model + synthetic world, annotated frames in out/demo.
demo: release
	./target/release/segstream demo --out out/demo

## Retrain the default model from seed 0 and export it into engines/tiny (opt-in, needs torch):
## one run of engines/train.py (6400 iterations, ~82 min on an idle AMX host; the 89-minute
## limit shortens the schedule on a slower one) and its 320 px export with the parity check.
model: release
	$(PYTHON) -m pip install -q -r engines/requirements-train.txt
	$(PYTHON) engines/train.py --out engines/checkpoints/tiny.pt $(TRAIN_ARGS)
	$(PYTHON) engines/export_bundle.py --checkpoint engines/checkpoints/tiny.pt --out $(MODEL_OUT) \
	  --skip-text --input-size 320 --description "$(MODEL_DESCRIPTION)"

# TRAIN_ARGS: extra train.py options (a short smoke run: TRAIN_ARGS="--iters 20 --videos 16
# --hard-videos 0 --data /tmp/smoke"); MODEL_OUT: where the networks go (text files stay).
TRAIN_ARGS ?=
MODEL_OUT ?= engines/tiny
MODEL_DESCRIPTION := Small unified query-based segmenter trained on the segstream synthetic world by make model (engines/train.py defaults, seed 0, exported at 320 px input); see engines/README.md

## The whole suite (installs what is missing first).
test: deps
	$(CARGO) fmt --all --check
	$(CARGO) build --workspace --all-targets
	GST_PLUGIN_PATH=$(CURDIR)/target/debug $(CARGO) test --workspace --no-fail-fast
	$(MAKE) test-python

test-python:
	$(PYTHON) -m pytest -q -rs engines/tests tests/judges

## rustfmt (also checked by `make test`) and clippy.
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets

inspect: release
	GST_PLUGIN_PATH=$(CURDIR)/target/release gst-inspect-1.0 segstream

bench: release
	$(CARGO) bench -p segstream
