# Two commands do all the set-up on a fresh clone:
#   make run    - the server on its embedded defaults (SQLite under ./data, in-memory broker) at http://127.0.0.1:8000
#   make test   - every test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): backend/pyproject.toml backend/requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c backend/requirements.lock -e 'backend[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/hybrid-dns serve --host 127.0.0.1 --port 8000

test: $(STAMP)
	cd backend && ../$(BIN)/ruff check src tests ../bench && ../$(BIN)/mypy src
	cd backend && ../$(BIN)/python -m pytest

lint: $(STAMP)
	cd backend && ../$(BIN)/ruff check src tests ../bench && ../$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/python bench/ws_bench.py

clean:
	rm -rf $(VENV)
