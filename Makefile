# Set-up and entry points. `make demo` and `make test` bootstrap .venv on a fresh machine.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
TESTED  := $(VENV)/.installed-test
TORCH   := torch==2.13.0
OUT     ?= runs/demo
# Debian packages: Fashion-MNIST (images), English text (char-level LM), Chromium (the report's browser check)
APT_PACKAGES := dataset-fashion-mnist fortunes chromium

.PHONY: demo test bench venv clean

venv: $(STAMP)

# Rebuilt when missing or when the dependency list changes. torch is pinned first so that
# nothing later pulls an unpinned (CUDA) build. `make demo` needs the package only; `make test`
# adds the test extras (pytest, lightning, wandb, playwright, ...) on top.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	@if [ "$$(id -u)" = 0 ] && ! { [ -d /usr/share/datasets/fashion-mnist ] && [ -d /usr/share/games/fortunes ] \
	  && command -v chromium >/dev/null; }; then \
	  (apt-get update -qq && apt-get install -y -qq $(APT_PACKAGES)) >/dev/null 2>&1 \
	  || echo "note: could not install $(APT_PACKAGES) (images, text and the report's browser check need them)"; fi
	$(BIN)/python -m pip install -q -e .
	@touch $(STAMP)

$(TESTED): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[test]"
	@touch $(TESTED)

demo: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/ganscope reproduce all --quick --out $(OUT)
	@echo "Report: $(OUT)/index.html (Markdown: $(OUT)/REPORT.md)"

test: $(TESTED)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) runs
