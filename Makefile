# Every target makes (or refreshes) .venv from the pinned files first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK ?= uvicorn
PORT ?= 8000

.PHONY: install demo test check serve dev starter lock clean

# The tools, pinned with hashes, in .venv; then `. .venv/bin/activate` puts them on PATH.
install: $(VENV)/.installed
	@echo "installed in $(VENV); now run: . $(BIN)/activate"

# The side-by-side load comparison with its defaults.
demo: $(VENV)/.installed
	$(BIN)/python compare.py

# Everything CI runs: lint, types, then the whole test suite.
test: check
	$(BIN)/pytest

check: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Every stack on its fixed port, for `locust -f locustfile.py` and its web UI.
serve: $(VENV)/.installed
	$(BIN)/python -m lab serve

# One stack with auto-reload: make dev STACK=gunicorn-sync
dev: $(VENV)/.installed
	$(BIN)/python -m lab dev $(STACK) --port $(PORT)

# A new service from the team starter (starter/, copier.yml): make starter DEST=../my-service
# copier comes from uvx when uv is on PATH (seconds), else from .venv (built first, minutes).
# COPIER_ARGS passes more, as in COPIER_ARGS="--defaults --data project_name=orders-api".
COPIER_VERSION := $(shell sed -n 's/^ *"copier==\([^"]*\)".*/\1/p' pyproject.toml)
UVX := $(shell command -v uvx)
COPIER := $(if $(UVX),$(UVX) --from copier==$(COPIER_VERSION) copier,$(BIN)/copier)
# copier answers a --data value its validator refuses with a Python traceback: the filter keeps its
# message (a traceback with none is shown whole), and bash's pipefail keeps copier's exit status
# (set in the line: macOS's make 3.81 has no .SHELLFLAGS).
starter: SHELL := /bin/bash
starter: $(if $(UVX),,$(VENV)/.installed)
	@test -n "$(DEST)" || { echo "make starter: say where, as in: make starter DEST=../my-service" >&2; exit 2; }
	@test ! -e "$(DEST)" || { test -d "$(DEST)" && test -z "$$(ls -A "$(DEST)")"; } \
	    || { echo "make starter: $(DEST) exists and is not empty; choose a new folder (nothing was written)" >&2; exit 2; }
	@echo "copier copy --vcs-ref HEAD $(COPIER_ARGS) $(CURDIR) $(DEST)"
	@set -o pipefail; { $(COPIER) copy --vcs-ref HEAD $(COPIER_ARGS) "$(CURDIR)" "$(DEST)" 2>&1 1>&3 3>&- | awk \
	    '/^Traceback \(most recent call last\):/ { t = 1; held = "" } t { held = held $$0 "\n" } \
	     t && /^[A-Za-z_.]*(Error|Exception): / { sub(/^[^:]*: /, ""); print "make starter: " $$0; t = 0; next } \
	     t { next } { print; fflush() } END { if (t) printf "%s", held }' >&2; } 3>&1
	@# A teammate's `copier update` must reach the template: its git URL, not this clone's path.
	@origin=$$(git remote get-url origin 2>/dev/null); case "$$origin" in \
	    *://*|*@*:*) url=$$(printf '%s' "$$origin" | sed 's/[|&\\]/\\&/g'); \
	        sed -i.bak "s|^_src_path: .*|_src_path: $$url|" "$(DEST)/.copier-answers.yml" \
	        && rm -f "$(DEST)/.copier-answers.yml.bak";; \
	    *) echo "note: .copier-answers.yml names this clone's path as the template; set _src_path there to its git URL so teammates can update";; \
	esac
	@printf '%s\n' "Next: cd $(DEST) && git init && git add -A && git commit -m 'Generated from the starter'" \
	    "then: make test (needs uv: https://docs.astral.sh/uv/), make run; later: make update"

# Rebuilt when missing or older than the pins it was made from.
$(VENV)/.installed: requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed (set PYTHON=python3.x)")'
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.txt
	touch $@

# After editing the pins in pyproject.toml and Pipfile: one resolution, three lock files.
lock: $(VENV)/.installed
	$(BIN)/uv lock
	$(BIN)/uv export --locked --format requirements.txt --no-dev --no-emit-project -o requirements.txt -q
	$(BIN)/uv export --locked --format requirements.txt --all-groups --no-emit-project -o requirements-dev.txt -q
	$(BIN)/uv export --locked --format requirements.txt --only-group build --no-emit-project -o docker/requirements-build.txt -q
	$(BIN)/uv export --locked --format requirements.txt --only-group locust --no-emit-project -o docker/requirements-locust.txt -q
	PIPENV_IGNORE_VIRTUALENVS=1 $(BIN)/pipenv lock
	$(BIN)/python -m lab starter-lock

clean:
	rm -rf $(VENV) reports .mypy_cache .ruff_cache .pytest_cache
