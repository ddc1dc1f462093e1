# streamlab — every target documents itself: `make help`.
# Knobs (environment or make variables): STACK=local|podman|docker|external  BROKER=kafka|rabbitmq|all
#   BROKERS=1|3 (Kafka nodes)  RABBIT_NODES=1|3  PROFILE=quick|full  CH=01 (one chapter)

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STREAMLAB := $(VENV)/bin/streamlab
PROFILE ?= quick
# `make test` runs pytest-xdist workers; each starts its own brokers (1 = the old serial run)
TEST_WORKERS ?= 2
STACK ?= local
BROKER ?= all
export STACK BROKER
# `make book` / `make chapter` load the Kafka brokers with Kafka's own perf tools first, until their rate settles
# or this many seconds have passed: a cold JVM measures its JIT (0: no warm-up; see lib/streamlab/bench/broker_warmup.py)
BROKER_WARM_UP_S ?= $(if $(filter full,$(PROFILE)),120,90)

JARS := .cache/jars
VENV_STAMP := $(VENV)/.installed
JARS_STAMP := $(JARS)/.installed
SYSTEM_STAMP := .cache/.system-packages
STREAMS_STAMP := .cache/streams-aggregate/.installed
QUIX_VENV := .cache/quix-venv
QUIX_STAMP := $(QUIX_VENV)/.installed
# actionlint checks the publishing workflow offline (tests/book/test_publishing.py); built from the Go proxy
ACTIONLINT_VERSION := 1.7.12
ACTIONLINT := .cache/bin/actionlint-$(ACTIONLINT_VERSION)

# Run a command with the stack up; stop the stack afterwards only if this call started it.
define with_stack
started=no; $(STREAMLAB) stack check -q || started=yes; \
$(STREAMLAB) stack up || { rc=$$?; if [ $$started = yes ]; then $(STREAMLAB) stack down >/dev/null; fi; exit $$rc; }; \
$(STREAMLAB) stack warm-up --max-seconds $(BROKER_WARM_UP_S) && $(1); rc=$$?; \
if [ $$started = yes ]; then $(STREAMLAB) stack down >/dev/null; fi; exit $$rc
endef

.DEFAULT_GOAL := help
.PHONY: help setup images up down status lint test test-unit book site words chapter serve app app-stop lab lab-server clean-stack clean

help: ## List the targets with a one-line description
	@if [ -t 1 ]; then on='\033[36m'; off='\033[0m'; else on=''; off=''; fi; \
	awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %s%-12s%s %s\n", on, $$1, off, $$2}' $(MAKEFILE_LIST)

setup: $(VENV_STAMP) $(JARS_STAMP) $(STREAMS_STAMP) $(QUIX_STAMP) $(SYSTEM_STAMP) $(ACTIONLINT) ## Install what is missing: venv + package, Kafka/PerfTest jars, deep dive 7's two stream libraries, Debian packages, actionlint

$(VENV_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
	  || { echo "error: $(PYTHON) is older than 3.11: set PYTHON=/path/to/python3.11" >&2; exit 2; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing the streamlab package and its tools into $(VENV) ..."
	@$(PY) -m pip install -q --upgrade pip >/dev/null
	@$(PY) -m pip install -q -e '.[book,dev]' 2> >(grep -v -E 'corresp|^ *!!|^$$' >&2) \
	  || { echo "error: pip install failed: is PyPI reachable?" >&2; exit 2; }
	@$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (streamlab)" >/dev/null
	@touch $@

$(JARS_STAMP): setup/pom.xml
	@command -v java >/dev/null || { echo "error: java not found: install a JDK 17+ (apt-get install openjdk-17-jdk-headless)" >&2; exit 2; }
	@command -v mvn >/dev/null || { echo "error: mvn not found: install Maven (apt-get install maven)" >&2; exit 2; }
	@echo "fetching Kafka and RabbitMQ PerfTest jars from Maven Central ..."
	@rm -rf $(JARS)/kafka $(JARS)/perftest
	@mkdir -p $(JARS)
	@mvn -B -q -Dstyle.color=never -f setup/pom.xml dependency:copy-dependencies -DoutputDirectory=$(CURDIR)/$(JARS)/kafka > $(JARS)/mvn.log 2>&1 \
	  || { echo "error: fetching the Kafka jars failed (see $(JARS)/mvn.log): is Maven Central reachable?" >&2; exit 2; }
	@mvn -B -q -Dstyle.color=never -f setup/pom.xml -Pperftest dependency:copy-dependencies -DoutputDirectory=$(CURDIR)/$(JARS)/perftest >> $(JARS)/mvn.log 2>&1 \
	  || { echo "error: fetching RabbitMQ PerfTest failed (see $(JARS)/mvn.log): is Maven Central reachable?" >&2; exit 2; }
	@touch $@

# Deep dive 7 (chapter 02): the Kafka Streams topology built by Maven, and quixstreams in a venv of its own
# (it pins confluent-kafka below the project's version; pyproject.toml's dependency group "quix").
$(STREAMS_STAMP): java/streams-aggregate/pom.xml $(wildcard java/streams-aggregate/src/main/java/org/streamlab/streams/*.java)
	@command -v mvn >/dev/null || { echo "error: mvn not found: install Maven (apt-get install maven)" >&2; exit 2; }
	@echo "building the Kafka Streams topology of deep dive 7 with Maven ..."
	@rm -rf $(@D) && mkdir -p $(@D)
	@mvn -B -q -Dstyle.color=never -f java/streams-aggregate/pom.xml package -Dstreams.out=$(CURDIR)/$(@D) > $(@D)/mvn.log 2>&1 \
	  || { echo "error: building java/streams-aggregate failed (see $(@D)/mvn.log): is Maven Central reachable?" >&2; exit 2; }
	@touch $@

$(QUIX_STAMP): pyproject.toml
	@test -x $(QUIX_VENV)/bin/python || $(PYTHON) -m venv $(QUIX_VENV)
	@echo "installing quixstreams into $(QUIX_VENV) ..."
	@$(QUIX_VENV)/bin/python -m pip install -q --upgrade pip >/dev/null
	@$(QUIX_VENV)/bin/python -m pip install -q --group quix || { echo "error: pip install quixstreams failed: is PyPI reachable?" >&2; exit 2; }
	@touch $@

$(ACTIONLINT):
	@if command -v go >/dev/null; then \
	  echo "building actionlint $(ACTIONLINT_VERSION) from the Go module proxy ..."; \
	  mkdir -p $(@D) && GOBIN=$(CURDIR)/$(@D) go install github.com/rhysd/actionlint/cmd/actionlint@v$(ACTIONLINT_VERSION) \
	    && mv $(@D)/actionlint $@ || { echo "error: go install actionlint failed: is the Go module proxy reachable?" >&2; exit 2; }; \
	else echo "note: go not found: the publishing workflow's lint test will skip (install Go to run it)"; fi

$(SYSTEM_STAMP): setup/install-system-packages.sh
	@bash setup/install-system-packages.sh
	@mkdir -p $(dir $@) && touch $@

images: setup ## Build the container images from Debian packages with podman (quick when up to date)
	@$(PY) -m streamlab.stack.podman_images

up: setup $(if $(filter podman,$(STACK)),images) ## Start the brokers (STACK, BROKER, BROKERS, RABBIT_NODES) and wait until ready
	@$(STREAMLAB) stack up

down: ## Stop every broker process the stack started
	@test -x $(STREAMLAB) && $(STREAMLAB) stack down || true

status: ## Show each broker node: state, pid, address, role
	@$(STREAMLAB) stack status

lint: $(VENV_STAMP) ## Lint and import order (ruff, lib/ and tests/) and types (mypy, the package), as pyproject.toml configures them
	@$(VENV)/bin/ruff check lib tests
	@$(VENV)/bin/mypy

test: setup lint ## Lint, then run the test suite; it starts the brokers it needs on its own ports and stops them
	@$(PY) -m pytest -q -ra -n $(TEST_WORKERS) --dist loadgroup --durations=15 $(PYTEST_ARGS)

test-unit: setup ## Only the tests that need no broker
	@$(PY) -m pytest -q -ra -m "not kafka and not rabbitmq and not cluster and not book and not mqtt and not podman" $(PYTEST_ARGS)

# A chapter executes only when its code, parameters or the library changed since its executed notebook was made
# (streamlab/book/cache.py); when none that needs the brokers has to, neither the images nor the brokers are
# started: the chapters that run without them (the reflection) execute, and the HTML is built.
book: setup ## Execute the chapters whose inputs changed (FORCE=1: all; PROFILE=quick|full), build _build/html
	@if [ -n "$(FORCE)" ] || $(PY) -m streamlab.book --profile $(PROFILE) --brokers-needed; then \
	  $(MAKE) --no-print-directory images && { $(call with_stack,$(PY) -m streamlab.book --profile $(PROFILE) --build $(if $(FORCE),--force)); }; \
	else \
	  $(PY) -m streamlab.book --profile $(PROFILE) --build; \
	fi

site: $(VENV_STAMP) ## Pack the built book (_build/html, executed notebooks, result files) into _build/streamlab-book.zip for offline reading
	@$(PY) -m streamlab.book.site

words: $(VENV_STAMP) ## Count what a reader meets on each page of the built book (_build/html): prose and table words, main text and appendices apart
	@$(PY) -m streamlab.book.wordcount $(BOOK_HTML)

chapter: setup ## Execute one chapter: make chapter CH=01 PROFILE=full
	@test -n "$(CH)" || { echo "error: say which chapter: make chapter CH=01" >&2; exit 2; }
	@$(call with_stack,$(PY) -m streamlab.book --profile $(PROFILE) --chapters $(CH) --no-build)

DURATION ?= 60s
MACHINES ?= 20
SERVE_PORT ?= 8000
BOOK_HTML ?= _build/html
serve: ## Serve the built book on http://127.0.0.1:8000 (SERVE_PORT=...); it works offline: nothing comes from a CDN
	@test -f "$(BOOK_HTML)/index.html" || { echo "error: no book in $(BOOK_HTML): build it with \`make book\` first" >&2; exit 2; }
	@echo "The book: http://127.0.0.1:$(SERVE_PORT)/  (Ctrl-C stops it)"
	@exec $(PYTHON) -m http.server $(SERVE_PORT) --bind 127.0.0.1 --directory "$(BOOK_HTML)"

app: setup ## Run the pipeline on the running stack: make app BROKER=kafka DURATION=60s MACHINES=20 (STACK=podman: in containers)
ifeq ($(STACK),podman)
	@$(PY) -m streamlab.experiments.containers run-app --broker $(if $(filter all,$(BROKER)),kafka,$(BROKER)) --duration $(DURATION) --machines $(MACHINES)
else
	@$(STREAMLAB) run app --broker $(if $(filter all,$(BROKER)),kafka,$(BROKER)) --duration $(DURATION) --machines $(MACHINES)
endif

app-stop: ## Stop a running app (from another terminal), by the pids in data/app/run.json
	@$(STREAMLAB) run stop

LAB_PORT ?= 8888
lab: setup up ## JupyterLab on the chapters, stack up: http://127.0.0.1:8888/lab?token=… (printed; works as root)
	@$(MAKE) --no-print-directory lab-server

# JupyterLab alone, the stack left as it is (what `lab` runs; its test starts this on a free port).
# Bound to 127.0.0.1 with a token, so running as root (containers, CI, these machines) is safe.
lab-server:
	@token="$${LAB_TOKEN:-$$($(PY) -c 'import secrets; print(secrets.token_hex(16))')}"; \
	echo "JupyterLab: http://127.0.0.1:$(LAB_PORT)/lab?token=$$token  (Ctrl-C stops it)"; \
	exec $(VENV)/bin/jupyter lab --notebook-dir=book/chapters --ip=127.0.0.1 --port=$(LAB_PORT) \
	  --no-browser --allow-root --IdentityProvider.token="$$token" --ServerApp.log_level=WARN

clean-stack: down ## Delete the stack's data (logs, topics, queues)
	@$(STREAMLAB) stack clean

clean: ## Delete build output and results (keeps the venv and jars)
	@rm -rf _build/executed _build/html _build/screenshots _build/test _build/logs _build/jupyter-book.log data/results data/runs
