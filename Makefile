# Duly: `make demo` runs it, `make test` tests it. Both create .venv and install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# The suite runs in parallel (pytest-xdist, one test database per process; a file's tests stay together so its
# shared renders and databases are made once): one process per core and one more, since many tests wait on
# processes, workers or a browser of their own; at most 4. Files go out in the order tests/conftest.py gives them
# (the longest first), not by their number of tests.
TEST_PROCESSES := $(shell n=$$(nproc 2>/dev/null || echo 1); n=$$((n + 1)); [ $$n -gt 4 ] && n=4; echo $$n)
TEST_JOBS ?= -n $(TEST_PROCESSES) --dist loadfile --no-loadscope-reorder

.PHONY: demo test test-postgres bench sysdeps clean messages

# --no-compile: byte-compiling every installed package (scikit-learn and SciPy above all) cost about 20 s of
# CPU at each install; Python compiles what is imported, once, when it is first imported.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile -e '.[test]'
	touch $(STAMP)

# Debian packages: pdftoppm (poppler-utils) renders PDF pages to PNG for people to look at; HarfBuzz's
# subsetter (libharfbuzz-subset0) lets WeasyPrint subset fonts ~15x faster than fontTools does; chromium is the
# browser the tests in tests/e2e drive with Playwright (Playwright's own browser is never downloaded).
sysdeps:
	@missing=""; \
	command -v pdftoppm >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	ldconfig -p 2>/dev/null | grep -q 'libharfbuzz-subset\.so' || missing="$$missing libharfbuzz-subset0"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "warning: could not install$$missing; the tests that need them will say so"; \
	  else echo "warning: missing$$missing (install them with apt); the tests that need them will say so"; fi; \
	fi

# The gettext catalogues: every app's locale/<lang>/LC_MESSAGES/django.po compiled to .mo with Babel
# (.mo files are built, never committed).
messages: $(STAMP)
	@for dir in src/duly/*/locale; do \
	  $(BIN)/pybabel compile -D django -d $$dir --statistics || exit 1; \
	done

demo: $(STAMP) sysdeps messages
	$(BIN)/duly demo

test: $(STAMP) sysdeps messages
	$(BIN)/python -m pytest $(TEST_JOBS) $(PYTEST_ARGS)

# The same suite against PostgreSQL (DATABASE_URL defaults to the local server CI uses).
test-postgres: $(STAMP) sysdeps messages
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} $(BIN)/python -m pytest $(TEST_JOBS) $(PYTEST_ARGS)

# Every bench but the ones run by hand (BY_HAND: bench/api_list_p99.py seeds 1,000,000 invoices in PostgreSQL;
# bench/scale.py starts Celery workers on PostgreSQL and Redis).
BY_HAND = bench/api_list_p99.py bench/scale.py
bench: $(STAMP) sysdeps messages
	@for b in bench/[!_]*.py; do case " $(BY_HAND) " in *" $$b "*) continue;; esac; \
		echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) var/test-*
