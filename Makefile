# The project's entry points. Every target runs setup first, which is
# idempotent and takes seconds once its caches are warm.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .tools/venv
export PATH := $(CURDIR)/.tools/bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
PYTEST := $(VENV)/bin/pytest

.PHONY: setup test unit integration sanity lint build clean

setup:
	scripts/setup.sh

## test: everything CI runs (setup, static checks, unit and integration tests)
test: setup lint sanity unit integration

unit:
	$(PYTEST) -q tests/unit

integration:
	$(PYTEST) -q tests/integration

lint:
	yamllint -s .
	ansible-lint --profile production --offline
	shellcheck scripts/*.sh .ci/run

sanity:
	scripts/sanity.sh

build:
	ansible-galaxy collection build --force --output-path .tools/dist .

clean:
	rm -rf .tools/dist tests/output
