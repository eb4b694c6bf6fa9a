# The two commands of the README:
#   make lab   - bring the lab bed up on this machine and run the main job (site.yml) against it
#   make test  - unit tests, lint, sanity, the docs site, then the lab's integration and end-to-end tests
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
ENV := source scripts/devenv.sh
# The repository's ansible.cfg names no inventory (a real site passes its own): the lab's is given here.
LAB := -i inventories/lab
PYTEST_OPTS ?=

.PHONY: lab lab-fresh site lab-down test unit package integration drills lint sanity docs deps molecule ee

deps:
	scripts/install-system-deps.sh

lab: deps
	$(ENV) && ansible-playbook $(LAB) playbooks/lab.yml
	$(ENV) && ansible-playbook $(LAB) playbooks/site.yml

site:
	$(ENV) && ansible-playbook $(LAB) playbooks/site.yml

lab-down:
	$(ENV) && ansible-playbook $(LAB) playbooks/lab_down.yml -e lab_bed_confirm_destroy=true

unit:
	$(ENV) && python -m pytest tests/unit -q $(PYTEST_OPTS)

# The collection as a user installs it: build, install the tarball into a fresh path, run the playbooks by FQCN
# (controller only, no lab); and the changelog fragments antsibull-changelog will release.
package:
	$(ENV) && antsibull-changelog lint && python -m pytest tests/package -q $(PYTEST_OPTS)

lint:
	$(ENV) && ansible-lint --profile production

sanity:
	$(ENV) && tests/sanity/run.sh

# The collection's docs site (antsibull-docs + Sphinx, offline); warnings and broken links fail it.
docs:
	$(ENV) && docs/docsite/build.sh

integration:
	$(ENV) && python -m pytest tests/integration -q --durations=25 -m "not drill and not ee" $(PYTEST_OPTS)

# Each role's Molecule scenario (roles/<role>/molecule/default): converge, idempotence, testinfra verify.
molecule:
	$(ENV) && for scenario in roles/*/molecule/default; do \
	  role=$${scenario%/molecule/default}; echo "== molecule test: $$role"; \
	  (cd "$$role" && molecule test) || exit 1; \
	done

# The execution environment (execution-environment.yml): build it without a registry, then run validate on the
# example inventory and failover/recover against the lab inside it with ansible-navigator. Needs a lab (make lab).
ee: deps
	$(ENV) && scripts/build-ee.sh
	$(ENV) && python -m pytest tests/integration/test_ee_navigator.py -q -m ee $(PYTEST_OPTS)

# The long lab drills make test leaves out (each a further direction of a path it runs); on a lab from make lab.
drills:
	$(ENV) && python -m pytest tests/integration -q --durations=0 -m drill $(PYTEST_OPTS)

# Fast checks first so a broken commit fails in seconds; then a fresh lab (caches stay warm), so the
# result never depends on what a previous run or drill left behind; then the tests on it.
test: deps unit package lint sanity docs lab-fresh integration

lab-fresh: deps
	$(ENV) && ansible-playbook $(LAB) playbooks/lab_down.yml -e lab_bed_confirm_destroy=true
	$(MAKE) lab
