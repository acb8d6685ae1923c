# rujuk: the two commands a newcomer needs are `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup serve test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## the map library (Leaflet) from the npm registry, into service/web/node_modules
WEB := service/web
NODE_STAMP := $(WEB)/node_modules/.package-lock.json
$(NODE_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the web pages' map library: apt-get install -y npm" >&2; exit 1; }
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error

setup: $(STAMP) $(NODE_STAMP)

## Set up (first run only) and start the API on the bundled Sambas data at http://127.0.0.1:8000
serve: $(STAMP) $(NODE_STAMP)
	$(BIN)/rujuk data check
	$(BIN)/rujuk serve

lint: $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Lint, type-check and run the whole test suite (real Redis and PostgreSQL, see README)
test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(WEB)/node_modules
