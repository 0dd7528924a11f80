# The project's entry points. Every target runs setup first, which is
# idempotent and takes seconds once its caches are warm.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .tools/venv
export PATH := $(CURDIR)/.tools/bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
PYTEST := $(VENV)/bin/pytest

.PHONY: setup test unit integration sanity lint build clean e2e molecule

setup:
	scripts/setup.sh

## test: everything CI runs: setup, static checks, unit tests; then the
## integration tests beside the local cluster's bring-up and its tests; then
## the whole lifecycle on the cluster (e2e)
# setup --cluster first: the lock's integration tests run the cluster's
# etcd and kube-apiserver binaries it links.
test: setup lint sanity unit
	scripts/setup.sh --cluster
	$(MAKE) --no-print-directory -j2 --output-sync=target integration cluster-smoke
	$(MAKE) --no-print-directory e2e

unit:
	$(PYTEST) -q tests/unit

# Two workers, one test file each at a time: the files' servers are their own
# (tests/integration/conftest.py starts them per worker).
integration:
	$(PYTEST) -q -n 2 --dist loadfile --durations=10 tests/integration

lint:
	ruff check .
	yamllint -s .
	ansible-lint --profile production --offline
	shellcheck -x scripts/*.sh scripts/cluster/*.sh roles/*/files/*.sh images/*/*.sh .ci/run

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
	$(PYTEST) -q --durations=10 tests/cluster $(CLUSTER_TEST_ARGS)

# cluster-smoke: make cluster, then make cluster-test (one target, for make -j)
.PHONY: cluster-smoke
cluster-smoke:
	$(MAKE) --no-print-directory cluster
	$(MAKE) --no-print-directory cluster-test

## demo: deploy and verify the stack on the cluster of $KUBECONFIG when it
## answers, else on the local cluster (make cluster); then print how to reach it.
## The local cluster gets inventories/local (the images it built), any other
## cluster inventories/example (the roles' public images)
.PHONY: demo
DEMO_NS := mlops
# More ansible-playbook options for site.yml, e.g. DEMO_ARGS="-e mlops_tls=false".
DEMO_ARGS ?=
DEMO_KUBECTL = kubectl --kubeconfig $$kubeconfig -n $(DEMO_NS)
demo: setup
	@kubeconfig=$$KUBECONFIG; local=$(CURDIR)/.tools/cluster/kubeconfig; \
	if kubectl --kubeconfig "$$kubeconfig" version --request-timeout=5s >/dev/null 2>&1; then \
	  echo "[demo] using the cluster of $$kubeconfig"; \
	else \
	  echo "[demo] no cluster answers at $$kubeconfig: bringing up the local cluster"; \
	  $(MAKE) --no-print-directory cluster; \
	  kubeconfig=$$local; \
	fi; \
	inventory=inventories/example; \
	if [ "$$(realpath -m "$$kubeconfig")" = "$$(realpath -m "$$local")" ]; then inventory=inventories/local; fi; \
	echo "[demo] inventory $$inventory"; \
	KUBECONFIG=$$kubeconfig ansible-playbook -i $$inventory -e mlops_namespace=$(DEMO_NS) $(DEMO_ARGS) playbooks/site.yml; \
	echo; \
	echo "The stack runs in namespace $(DEMO_NS) (kubeconfig $$kubeconfig)."; \
	echo; \
	echo "MLflow UI and API:"; \
	echo "  $(DEMO_KUBECTL) port-forward svc/mlflow 5000:5000"; \
	echo "  open http://localhost:5000"; \
	echo "  admin login, kept in Secret $(DEMO_NS)/mlflow-auth (keys admin-username, admin-password):"; \
	echo "  $(DEMO_KUBECTL) get secret mlflow-auth -o jsonpath='{.data.admin-username}' | base64 -d; echo"; \
	echo "  $(DEMO_KUBECTL) get secret mlflow-auth -o jsonpath='{.data.admin-password}' | base64 -d; echo"; \
	echo "  clients: MLFLOW_TRACKING_URI=http://localhost:5000 MLFLOW_TRACKING_USERNAME=... MLFLOW_TRACKING_PASSWORD=..."; \
	echo "  (artifacts go through the server: clients need no S3 keys)"; \
	echo; \
	echo "MinIO console:"; \
	echo "  $(DEMO_KUBECTL) port-forward statefulset/minio 9001:9001"; \
	echo "  open http://localhost:9001"; \
	echo "  root login, kept in Secret $(DEMO_NS)/minio-auth (keys root-user, root-password):"; \
	echo "  $(DEMO_KUBECTL) get secret minio-auth -o jsonpath='{.data.root-password}' | base64 -d; echo"; \
	echo; \
	echo "PostgreSQL:"; \
	echo "  $(DEMO_KUBECTL) port-forward svc/postgresql 5432:5432"; \
	echo "  psql -h localhost -U mlflow -d mlflow"; \
	echo "  password of mlflow, kept in Secret $(DEMO_NS)/mlflow-database (key password):"; \
	echo "  $(DEMO_KUBECTL) get secret mlflow-database -o jsonpath='{.data.password}' | base64 -d; echo"; \
	echo "  superuser postgres: Secret $(DEMO_NS)/postgresql-auth (key postgres-password)"; \
	echo; \
	echo "Remove: KUBECONFIG=$$kubeconfig ansible-playbook -i $$inventory -e mlops_namespace=$(DEMO_NS) playbooks/uninstall.yml [-e mlops_purge=true]"

## molecule: the delegated default scenario on the cluster of $$KUBECONFIG:
## converge (site.yml), idempotence, verify (pods, testinfra, verify.yml), purge
molecule:
	molecule test -s default

## e2e: on the cluster of $$KUBECONFIG (make cluster first), in two lanes at once
## (scripts/e2e-lanes.sh): the lifecycle (the molecule default scenario's steps around
## check/renewal/uninstall/reinstall), the upgrade from the first release and, on the
## upgraded stack, the MLflow schema migration (docs/upgrading.md); beside them, on one
## shared stack: backup, purge, redeploy, restore,
## downloads from outside, the UI in a browser, check mode, isolation, the scheduled backup
## and bad input (docs/bad-input.md)
e2e:
	scripts/e2e-lanes.sh $(PYTEST)

## bench-stack: benchmark (not a test) on the cluster of $$KUBECONFIG: site.yml
## against the manual Helm sequence, the unchanged rerun, memory idle and under load
.PHONY: bench-stack
bench-stack: setup
	$(VENV)/bin/python bench/stack.py
