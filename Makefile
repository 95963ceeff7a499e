# The two commands of the README. Both install what they need themselves.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

# Scrapy's cookie middleware (via tldextract) would fetch the public suffix
# list from the internet on first use; the bundled snapshot keeps us offline.
export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS :=

.PHONY: demo test lint bench install browser redis clean

demo: install browser
	@bash scripts/demo.sh

test: install browser redis lint
	$(PY) -m pytest $(PYTEST_ARGS)

# Configured in pyproject.toml ([tool.ruff], [tool.mypy]).
lint: install
	$(VENV)/bin/ruff check scrapy_captcha tests benchmarks example_project scripts
	$(VENV)/bin/mypy scrapy_captcha

bench: install redis
	$(PY) benchmarks/run.py

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e ".[playwright,test]"
	touch $@

browser: install
	@bash scripts/ensure-chromium.sh $(PY)

redis:
	@bash scripts/ensure-redis.sh

clean:
	rm -rf $(VENV) build *.egg-info .sandbox
