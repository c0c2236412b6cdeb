# Two commands do all the set-up on a fresh clone:
#   make run    - the server on its embedded defaults (SQLite under ./data, in-memory broker) at http://127.0.0.1:8000,
#                 serving the dashboard it builds first
#   make test   - every test: lint and types, backend (pytest), frontend unit (Vitest) and end-to-end (Chromium)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FRONT_STAMP := frontend/node_modules/.installed
FRONT_SRC := $(shell find frontend/src frontend/index.html frontend/vite.config.ts frontend/tsconfig.json -type f 2>/dev/null)

.PHONY: run test test-backend test-frontend lint bench clean

$(STAMP): backend/pyproject.toml backend/requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c backend/requirements.lock -e 'backend[dev]'
	touch $(STAMP)

$(FRONT_STAMP): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	touch $(FRONT_STAMP)

frontend/dist/index.html: $(FRONT_STAMP) $(FRONT_SRC)
	cd frontend && npm run build --silent

run: $(STAMP) frontend/dist/index.html
	$(BIN)/hybrid-dns serve --host 127.0.0.1 --port 8000

test: test-frontend test-backend  # pytest last: its closing line sums up the run

test-backend: $(STAMP)
	cd backend && ../$(BIN)/ruff check src tests $$(test -d ../bench && echo ../bench) && ../$(BIN)/mypy src
	cd backend && ../$(BIN)/lint-imports --no-cache --no-logo
	cd backend && ../$(BIN)/python -m pytest

test-frontend: $(STAMP) frontend/dist/index.html
	cd frontend && npx tsc -b && npm test --silent && npm run e2e --silent

lint: $(STAMP)
	cd backend && ../$(BIN)/ruff check src tests $$(test -d ../bench && echo ../bench) && ../$(BIN)/ruff format --check src && ../$(BIN)/mypy src
	cd backend && ../$(BIN)/lint-imports --no-cache --no-logo

bench: $(STAMP)
	$(BIN)/python bench/ws_bench.py

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist
