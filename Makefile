# Quick start: `make run` (the bridge; the sandbox when no credentials are set) and `make test`.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo $$p && break; done)
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test lint sandbox web worker check bench clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "xdesk needs Python 3.11 or newer on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	@touch $@

# With SLACK_BOT_TOKEN and X_API_KEY set: the real bridge (web and worker in one process).
# Without them: the sandbox, the real bridge between built-in emulators of X and Slack.
run: $(STAMP)
	@if [ -n "$$SLACK_BOT_TOKEN" ] && [ -n "$$X_API_KEY" ]; then \
		$(VENV)/bin/python -m bridge run; \
	else \
		echo "No SLACK_BOT_TOKEN / X_API_KEY set: starting the sandbox (see README)."; \
		$(VENV)/bin/python -m bridge sandbox; \
	fi

# Four pytest-xdist workers on two cores: most tests wait on processes, polls and sockets, not on the
# CPU (the whole suite uses under one core on average). Each worker has its own embedded Redis.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/python -m pytest -q -n 4

sandbox: $(STAMP)
	$(VENV)/bin/python -m bridge sandbox --keep

web worker check: $(STAMP)
	$(VENV)/bin/python -m bridge $@

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
