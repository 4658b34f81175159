# segstream: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
PYTHON ?= python3

# libnvrtc.so.12 from the nvidia-cuda-nvrtc-cu12 wheel: lets the tests compile our CUDA
# kernels to PTX (no GPU needed). Empty when the wheel is missing; the deps target installs it.
# (nvidia.cuda_nvrtc is a namespace package: no __file__, so read its __path__.)
NVRTC_LIB := $(shell $(PYTHON) -c "import nvidia.cuda_nvrtc as m,os;print(os.path.join(list(m.__path__)[0],'lib'))" 2>/dev/null)
export LD_LIBRARY_PATH := $(NVRTC_LIB)$(if $(LD_LIBRARY_PATH),:$(LD_LIBRARY_PATH))

.PHONY: deps build release demo test test-rust test-python lint inspect bench clean-out

deps:
	./deploy/install-deps.sh

release: deps
	$(CARGO) build --release --workspace

build: deps
	$(CARGO) build --workspace --all-targets

## The main job on the bundled default: model + synthetic world, annotated frames in out/demo.
demo: release
	./target/release/segstream demo --out out/demo

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
