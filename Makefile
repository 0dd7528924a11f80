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

## Local single-node Kubernetes test cluster (docs/local-cluster.md).
# Every target that talks to a cluster uses this kubeconfig unless KUBECONFIG is set.
export KUBECONFIG ?= $(CURDIR)/.tools/cluster/kubeconfig

.PHONY: cluster cluster-down images cluster-test

## cluster: bring up (idempotently) the local cluster; prints the kubeconfig path
cluster:
	scripts/setup.sh --cluster
	scripts/cluster/up.sh

## cluster-down: stop everything the cluster started and remove its state
cluster-down:
	scripts/cluster/down.sh

## images: build (or reuse, by content hash) the container images under images/
images:
	scripts/cluster/images.sh

## cluster-test: smoke tests against the cluster from `make cluster`
cluster-test:
	$(PYTEST) -q tests/cluster
