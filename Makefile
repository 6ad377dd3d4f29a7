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

DATA  := $(OUT)/data
VALID := $(DATA)/validation.jsonl
# prepare writes no validation.jsonl when that split is empty (--val-size 0): pass it only if it is
# there (checked by the shell when the recipe runs, after prepare).
VALID_FILE = $$(test -f $(VALID) && echo $(VALID))
VALID_FLAG = $$(test -f $(VALID) && echo --validation-file $(VALID))
# `make train` writes the model it produced (the fine-tuned model, or the best checkpoint of an
# early stop) to $(OUT)/model.txt; `make eval` evaluates that model, whatever else was trained since.
MODEL_TXT := $(OUT)/model.txt
MODEL_OF  = $(BIN)/python -c 'import json, sys; d = json.load(sys.stdin); print(d.get("fine_tuned_model") or d.get("best_checkpoint") or "")'
TRAINED   = "$$(cat $(MODEL_TXT))"
NEED_MODEL = @test -s $(MODEL_TXT) || { echo "ERROR $(MODEL_TXT) is missing: it names the model that make train produced" >&2; echo "TIP run make train (or make demo) first" >&2; exit 2; }
EVAL_GATE ?= --require-better

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
	$(OFT) prepare $(INPUT) --user text --assistant intent --system-col system --out-dir $(DATA) --seed $(SEED)

validate: install
	$(OFT) validate $(DATA)/train.jsonl $(VALID_FILE) --model $(MODEL)

# Incremental: the same bytes are not uploaded twice, the same inputs attach to their job.
upload: install
	$(OFT) upload $(DATA)/train.jsonl $(VALID_FILE) --model $(MODEL)

train: install
	@mkdir -p $(OUT) && rm -f $(MODEL_TXT)
	$(OFT) train --training-file $(DATA)/train.jsonl $(VALID_FLAG) --model $(MODEL) --suffix demo --seed $(SEED) --yes --wait --json > $(OUT)/train.json
	@$(MODEL_OF) < $(OUT)/train.json > $(MODEL_TXT)
	@echo "trained: $$(cat $(MODEL_TXT)) (in $(MODEL_TXT): make eval evaluates it)" >&2

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
	@mkdir -p $(OUT) && rm -f $(MODEL_TXT)
	$(OFT) train --training-file $(DATA)/train.jsonl $(VALID_FLAG) --model $(MODEL) --suffix demo --seed $(SEED) $(foreach h,$(HF_HP),--hp $(h)) --yes --wait --json > $(OUT)/train.json
	@$(MODEL_OF) < $(OUT)/train.json > $(MODEL_TXT)
	@echo "trained: $$(cat $(MODEL_TXT)) (in $(MODEL_TXT): make eval-hf evaluates it)" >&2

eval-hf: install
	$(NEED_MODEL)
	$(OFT) eval --data $(DATA)/test.jsonl --model $(MODEL) --model $(TRAINED) --scorer exact --scorer classification --temperature 0 --seed $(SEED) --limit 40 --max-completion-tokens 16 --concurrency 16

# Base model vs the model this Makefile's train produced ($(MODEL_TXT)); not @latest, which is
# the latest fine-tuned model on this backend, whichever command trained it.
# Azure: a model answers only through a deployment. The base model gets one (a base model pays no
# hourly fee); eval deploys the fine-tuned one (Developer tier: no hourly fee) and removes it after.
AZURE_EVAL := $(if $(filter azure,$(BACKEND)),--deploy --undeploy-after)

deploy-base: install
	$(OFT) deploy $(MODEL) --sku globalstandard --yes --wait

eval: install $(if $(filter azure,$(BACKEND)),deploy-base)
	$(NEED_MODEL)
	$(OFT) eval --data $(DATA)/test.jsonl --model $(MODEL) --model $(TRAINED) --scorer exact --scorer classification --temperature 0 --seed $(SEED) $(EVAL_GATE) $(AZURE_EVAL)

report: install
	$(OFT) report latest --out-dir $(OUT)/report

serve: install
	$(OFT) serve --port 8089

clean:
	rm -rf $(OUT) .openai-ft
