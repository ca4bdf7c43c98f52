# khaibao: the two commands of the README.
#   make demo   the main job (see README)
#   make test   every test: formatting, lints, unit, CLI and end-to-end
#   make bench  the scale benchmark (about 2 h on the 2-core machine; see BENCHMARKS.md)
#   make chaos  the national chaos run (about 25 min; see RELIABILITY.md)
SHELL := /bin/bash
CARGO ?= cargo
KHAIBAO := target/release/khaibao

.PHONY: demo demo-stop demo-offline test tools build release bench install

tools:
	@scripts/ensure-tools.sh

build: tools
	$(CARGO) build --workspace

release: tools
	$(CARGO) build --release --workspace

# A local control plane, the operator, the platform and the 63 provinces, then the status.
demo: tools
	scripts/demo.sh

demo-stop:
	scripts/demo-stop.sh

# Installs khaibao and its kubectl plugin name into ~/.cargo/bin.
install: release
	install -m 0755 $(KHAIBAO) $(HOME)/.cargo/bin/khaibao
	ln -sf khaibao $(HOME)/.cargo/bin/kubectl-khaibao

# No cluster: lint the platforms, test the 34 provinces, render the quickstart.
demo-offline: release
	$(KHAIBAO) platform lint platforms/dichvucong
	$(KHAIBAO) platform lint platforms/vanban
	$(KHAIBAO) test platforms/dichvucong platforms/vanban
	$(KHAIBAO) test examples/provinces-34
	$(KHAIBAO) render examples/quickstart | head -40
	@echo "... (khaibao render examples/provinces-34 prints every object of the 34 provinces)"

# A full test run is a one-shot build: cargo's incremental caches would only add a third to
# target/ (several GB), and CI's disk is not unlimited.
test: export CARGO_INCREMENTAL := 0
test: tools
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --features khaibao/operator -- -D warnings
	$(CARGO) build -p khaibao --features operator --bin khaibao-operator
	$(CARGO) build -p khaibao-cli -p dichvucong-portal
	e2e/build-controlplane.sh
	e2e/build-peers.sh
	e2e/build-prometheus.sh
	e2e/chart-check.sh
	$(CARGO) test --workspace --features khaibao/operator

# The operator-upgrade e2e from a real earlier build (REV, default the last commit before
# renderer epochs) instead of this build pinned at epoch 1. The first run builds that commit.
.PHONY: upgrade-from
upgrade-from:
	$(CARGO) build -p khaibao --features operator --bin khaibao-operator
	bin=$$(e2e/build-previous-operator.sh $(REV)) && \
	KHAIBAO_PREVIOUS_OPERATOR_BIN=$$bin/khaibao-operator \
	$(CARGO) test -p khaibao-e2e --test operator_upgrade -- --nocapture

# The least-privilege proof: removes each rule of the chart's RBAC in turn and records what
# breaks (long: one control plane per rule; `e2e/rbac-proof.sh verbs` goes verb by verb).
.PHONY: rbac-proof
rbac-proof:
	$(CARGO) build -p khaibao --features operator --bin khaibao-operator
	e2e/rbac-proof.sh

# The national chaos run (RELIABILITY.md): 10,114 tenants on the release operator through 26
# faults (kill -9 of the operator and of the leader, API server and etcd restarts), after the
# same run without faults as the baseline; 10 to 20 minutes on two cores, by the day.
# KHAIBAO_CHAOS_SEED replays a fault plan, KHAIBAO_CHAOS_TENANTS=n runs a smaller fleet.
.PHONY: chaos
chaos: tools
	$(CARGO) build --release -p khaibao --features operator --bin khaibao-operator
	e2e/build-controlplane.sh
	KHAIBAO_OPERATOR_BIN=$(abspath $(or $(CARGO_TARGET_DIR),target))/release/khaibao-operator \
	$(CARGO) test -p khaibao-e2e --test chaos_national -- --ignored --nocapture --test-threads=1

# The scale benchmark: baseline, khaibao, Helm (and kro) side by side on the local control plane,
# the reform of a fleet and time to online (the dichvucong portal);
# prints tables, rewrites the results sections of BENCHMARKS.md and the plots in docs/bench/.
# BENCH_ARGS, e.g. BENCH_ARGS="--sizes 1k --runs 1", picks a part.
bench: tools
	KHAIBAO_BENCH_TOOLS=1 scripts/ensure-tools.sh
	$(CARGO) build --release -p khaibao -p khaibao-cli -p khaibao-bench -p dichvucong-portal --features khaibao/operator
	e2e/build-controlplane.sh
	$${CARGO_TARGET_DIR:-target}/release/khaibao-bench $(BENCH_ARGS)

# The libFuzzer targets of fuzz/ (its own crate, nightly), FUZZ_RUNS runs each (1,000,000 took
# 20 min for render_values on the 2-core machine; recorded runs are in SECURITY.md). Not part
# of `make test`. Installs the nightly toolchain and cargo-fuzz when missing.
# FUZZ_FLAGS="-s none" builds without AddressSanitizer (tenantset_expansion: 85 → ~400 exec/s).
FUZZ_TARGETS ?= render_values yaml_reader tenantset_expansion
FUZZ_RUNS ?= 1000000
FUZZ_FLAGS ?=
.PHONY: fuzz
fuzz:
	@if command -v rustup >/dev/null && ! rustup toolchain list | grep -q '^nightly'; then \
	  rustup toolchain install nightly --profile minimal; fi
	@$(CARGO) +nightly fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  $(CARGO) +nightly fuzz run $(FUZZ_FLAGS) $$t -- -runs=$(FUZZ_RUNS) -max_len=4096 || exit 1; \
	done
