# Two commands matter: `make demo` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install demo test bench clean

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "payops needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/payops demo

test: $(INSTALLED)
	$(BIN)/python -m pytest

# Heavy (1M events each, several GB of temporary data): kept out of `make test`. Results: docs/benchmarks.md.
bench: $(INSTALLED)
	$(BIN)/python bench/replay_bench.py
	$(BIN)/python bench/webhook_bench.py
	$(BIN)/python bench/marts_bench.py

clean:
	rm -rf $(VENV) .payops dbt/target dbt/logs
