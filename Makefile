# Two commands matter: `make demo` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SPARK_INSTALLED := $(VENV)/.installed-spark

.PHONY: install demo test test-fast test-spark bench clean

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

# dbt-spark and pyspark (the [spark] extra, ~450 MB), only for `make test-spark`.
$(SPARK_INSTALLED): $(INSTALLED)
	@echo "installing dbt-spark and pyspark into $(VENV) (log: $${PAYOPS_HOME:-.payops}/logs/install.log)"
	@$(BIN)/pip install -e '.[test,spark]' >> $${PAYOPS_HOME:-.payops}/logs/install.log 2>&1 \
		|| { echo "install failed; see $${PAYOPS_HOME:-.payops}/logs/install.log"; exit 1; }
	@touch $@

demo: $(INSTALLED)
	@$(BIN)/payops demo

# Fails below 90 % branch coverage of ingest/, actions/, payops/ and payops_cli/ ([tool.coverage] in pyproject.toml).
# One worker per core (at most 4), each taking whole modules, whose warehouses and servers are module-scoped, in the
# order conftest.py gives them (the longest first), not xdist's (the most tests first).
test: $(INSTALLED)
	$(BIN)/python -m pytest --cov --numprocesses auto --maxprocesses 4 --dist loadfile --no-loadscope-reorder

# The pure-Python tests (marker `fast`): the oracles, the command line's help and errors; under a minute.
test-fast: $(INSTALLED)
	$(BIN)/python -m pytest -m fast

# The dbt project built on a local Spark (Java 17) from `payops export state`'s Parquet files, its marts compared with
# the Postgres build row by row (tests/test_spark.py, marker `spark`). Measured on 2 cores under load average ~13:
# 20.5 min (the Postgres pipeline 12, the Spark build 7); less on a quiet machine.
test-spark: $(SPARK_INSTALLED)
	@command -v java >/dev/null || { echo "dbt on Spark needs Java 17: apt-get install openjdk-17-jre-headless"; exit 1; }
	$(BIN)/python -m pytest -m spark tests/test_spark.py

# Heavy (1M events each, several GB of temporary data): kept out of `make test`. Results: docs/benchmarks.md.
bench: $(INSTALLED)
	$(BIN)/python bench/replay_bench.py
	$(BIN)/python bench/webhook_bench.py
	$(BIN)/python bench/marts_bench.py

clean:
	rm -rf $(VENV) .payops dbt/target dbt/logs
