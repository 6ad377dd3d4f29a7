# openai-ft pipeline. `make demo` and `make test` work on a fresh machine with only Python.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OFT    := $(BIN)/openai-ft
BACKEND ?= local
MODEL  ?= gpt-4.1-mini-2025-04-14
INPUT  ?= data/support_tickets.csv
OUT    ?= out
SEED   ?= 42

export OPENAI_FT_BACKEND := $(BACKEND)

.PHONY: install install-hf test check lint prepare validate upload train train-hf deploy-base eval eval-hf report demo demo-hf serve clean

$(BIN)/.install-stamp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.install-stamp

# The hf engine's extra: torch (pinned CPU/CUDA wheel), transformers, TRL, PEFT, accelerate.
$(BIN)/.install-hf-stamp: $(BIN)/.install-stamp pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,hf]'
	touch $@

install-hf: $(BIN)/.install-hf-stamp

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff format --check openai_ft tests benchmarks
	$(BIN)/ruff check openai_ft tests benchmarks
	$(BIN)/mypy openai_ft

check: lint test

prepare: install
	$(OFT) prepare $(INPUT) --user text --assistant intent --system-col system --out-dir $(OUT)/data --seed $(SEED)

validate: install
	$(OFT) validate $(OUT)/data/train.jsonl $(OUT)/data/validation.jsonl --model $(MODEL)

# Incremental: the same bytes are not uploaded twice, the same inputs attach to their job.
upload: install
	$(OFT) upload $(OUT)/data/train.jsonl $(OUT)/data/validation.jsonl --model $(MODEL)

train: install
	$(OFT) train --training-file $(OUT)/data/train.jsonl --validation-file $(OUT)/data/validation.jsonl --model $(MODEL) --suffix demo --seed $(SEED) --yes --wait

# The whole pipeline, offline, on the local backend: prepare -> validate -> upload -> train ->
# eval (base vs fine-tuned on the held-out test split) -> report.
demo: install
	$(MAKE) --no-print-directory prepare validate upload train eval report BACKEND=$(BACKEND)

# The same pipeline with the hf engine: a tiny Qwen2-architecture model built offline (or
# HF_MODEL=<folder or hub id already in the local cache>) fine-tuned with LoRA on the CPU/GPU.
HF_MODEL ?=
HF_HP    ?= n_epochs=2 batch_size=16 learning_rate_multiplier=20 eval_steps=20
demo-hf: install-hf
	@mkdir -p $(OUT)
	$(if $(HF_MODEL),,test -f $(OUT)/tiny-model/config.json || $(BIN)/python -m openai_ft.local.engines.hf.tiny $(OUT)/tiny-model)
	OPENAI_FT_HF_MODELS="hf-base=$(if $(HF_MODEL),$(HF_MODEL),$(abspath $(OUT)/tiny-model))" \
	  $(MAKE) --no-print-directory prepare validate upload train-hf eval-hf report MODEL=hf-base BACKEND=local

train-hf: install
	$(OFT) train --training-file $(OUT)/data/train.jsonl --validation-file $(OUT)/data/validation.jsonl --model $(MODEL) --suffix demo --seed $(SEED) $(foreach h,$(HF_HP),--hp $(h)) --yes --wait

eval-hf: install
	$(OFT) eval --data $(OUT)/data/test.jsonl --model $(MODEL) --model @latest --scorer exact --scorer classification --temperature 0 --seed $(SEED) --limit 40 --max-completion-tokens 16 --concurrency 16

# Azure: a model answers only through a deployment. The base model gets one (a base model pays no
# hourly fee); eval deploys the fine-tuned one (Developer tier: no hourly fee) and removes it after.
AZURE_EVAL := $(if $(filter azure,$(BACKEND)),--deploy --undeploy-after)

deploy-base: install
	$(OFT) deploy $(MODEL) --sku globalstandard --yes --wait

eval: install $(if $(filter azure,$(BACKEND)),deploy-base)
	$(OFT) eval --data $(OUT)/data/test.jsonl --model $(MODEL) --model @latest --scorer exact --scorer classification --temperature 0 --seed $(SEED) --require-better $(AZURE_EVAL)

report: install
	$(OFT) report latest --out $(OUT)/report

serve: install
	$(OFT) serve --port 8089

clean:
	rm -rf $(OUT) .openai-ft
