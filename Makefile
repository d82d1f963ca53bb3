# Two commands matter: `make demo` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install demo test test-fast bench clean

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "payops needs Python 3.11 or newer; set PYTHON=python3.11")'
	@mkdir -p $${PAYOPS_HOME:-.payops}/logs
	@echo "installing payops and its dependencies into $(VENV) (1-3 min; log: $${PAYOPS_HOME:-.payops}/logs/install.log)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --upgrade pip >> $${PAYOPS_HOME:-.payops}/logs/install.log 2>&1
	@$(BIN)/pip install -e '.[test]' >> $${PAYOPS_HOME:-.payops}/logs/install.log 2>&1 \
		|| { echo "install failed; see $${PAYOPS_HOME:-.payops}/logs/install.log"; exit 1; }
	@echo "installed"
	@touch $@

install: $(INSTALLED)

demo: $(INSTALLED)
	@$(BIN)/payops demo

# Fails below 90 % branch coverage of ingest/, actions/, payops/ and payops_cli/ ([tool.coverage] in pyproject.toml).
test: $(INSTALLED)
	$(BIN)/python -m pytest --cov

# The pure-Python tests (marker `fast`): the oracles, the command line's help and errors; under a minute.
test-fast: $(INSTALLED)
	$(BIN)/python -m pytest -m fast

# Heavy (1M events each, several GB of temporary data): kept out of `make test`. Results: docs/benchmarks.md.
bench: $(INSTALLED)
	$(BIN)/python bench/replay_bench.py
	$(BIN)/python bench/webhook_bench.py
	$(BIN)/python bench/marts_bench.py

clean:
	rm -rf $(VENV) .payops dbt/target dbt/logs
