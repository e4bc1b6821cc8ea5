# SPDX-License-Identifier: GPL-2.0
#
# copy_range: build, boot and test.  Every target does its own set-up
# ("deps" is a quick no-op once satisfied), so on a fresh machine
#
#   make run      boots the VM and shows copy_range at work (main job)
#   make check    runs every test and ends with "N passed, N failed"
#
# Kernels and module builds are cached in $(CACHE), outside the checkout.

CACHE ?= $(HOME)/.cache/copy_range
export COPY_RANGE_CACHE := $(CACHE)

# Kernel for "make vm": debug (KASAN, lockdep) or plain.
KERNEL ?= debug
# Extra make arguments for the module build, e.g. CLIPPY=1.
KBUILD_ARGS ?=

.PHONY: all deps kernel kernel-debug kernel-plain module module-debug module-plain \
	vm run check bench fuzz clean

all: module

deps:
	@bash tools/deps.sh

kernel: kernel-debug kernel-plain

kernel-debug kernel-plain: kernel-%: deps
	@tools/kernel/build.sh $*

module: module-debug module-plain

module-debug module-plain: module-%: deps
	@tools/kernel/module.sh $* $(KBUILD_ARGS) >/dev/null

# make vm               an interactive shell in the VM (exit it to power off)
# make vm CMD='...'     runs one command in the VM; its exit status is make's
export CMD
vm: deps
	@kdir=$$(tools/kernel/module.sh $(KERNEL)) && \
	if [ -n "$$CMD" ]; then \
		tools/vm/run-vm --kdir "$$kdir" -- bash -c "$$CMD"; \
	else \
		tools/vm/run-vm --kdir "$$kdir" --interactive; \
	fi

DEMO_TOOL := $(CURDIR)/samples/target/release/examples/copy-range

run: deps
	@cargo build -q --release --examples --manifest-path samples/Cargo.toml
	@kdir=$$(tools/kernel/module.sh plain) && \
	tools/vm/run-vm --kdir "$$kdir" -- $(CURDIR)/tools/vm/demo.sh $(DEMO_TOOL)

check: deps
	@tools/testing/check.sh

# make bench: every copy method side by side, one boot of the plain kernel;
# writes results/bench.{csv,md,svg}. BENCH_MAX caps the largest size.
# Then the cost of one small call, copy_range against copy_file_range(2)
# (results/bench-calls.csv and a section of bench.md).
# Then the tree copy, crcp against cp -R (results/bench-tree.csv and a
# section of bench.md): BENCH_TREE_FILES files, BENCH_TREE_RUNS runs per
# method (empty: tree-bench.sh's defaults, 2000 and 3).  The pipe to tee
# hides the VM's status from make, hence bench-status: a run that failed
# part-way must not become a report.
BENCH_MAX ?= 268435456
BENCH_TREE_FILES ?=
BENCH_TREE_RUNS ?=
CRCP := $(CURDIR)/samples/target/release/crcp
bench: deps
	@$(MAKE) -s -C tools/bench
	@cargo build -q --release --manifest-path samples/Cargo.toml
	@rm -f $(CACHE)/bench-status
	@kdir=$$(tools/kernel/module.sh plain) && \
	{ tools/vm/run-vm --kdir "$$kdir" --timeout 5400 -- \
		$(CURDIR)/tools/bench/run-bench.sh $(CURDIR)/tools/bench/copy_bench $(BENCH_MAX) \
		$(CRCP) "$(BENCH_TREE_FILES)" "$(BENCH_TREE_RUNS)"; \
	  echo $$? > $(CACHE)/bench-status; } | tee $(CACHE)/bench-output.txt
	@status=$$(cat $(CACHE)/bench-status); [ "$$status" = 0 ] || { \
		echo "bench: the VM run failed (status $$status); its output: $(CACHE)/bench-output.txt" >&2; \
		exit 1; }
	@grep -E '^(fs,|btrfs,|xfs,|ext4,|tmpfs,)' $(CACHE)/bench-output.txt > $(CACHE)/bench-raw.csv
	@grep -E '^tree,' $(CACHE)/bench-output.txt > $(CACHE)/bench-tree-raw.csv || true
	@grep -E '^call,' $(CACHE)/bench-output.txt > $(CACHE)/bench-call-raw.csv || true
	@python3 tools/bench/report.py $(CACHE)/bench-raw.csv results --tree $(CACHE)/bench-tree-raw.csv \
		--calls $(CACHE)/bench-call-raw.csv \
		"Machine: $$(nproc) cores, $$(free -g | awk '/Mem:/{print $$2}') GiB; guest: QEMU TCG, 2 vCPUs, 3 GiB, plain kernel $$(basename $$(tools/kernel/build.sh plain)); $$(date -u +%Y-%m-%d)."

# make fuzz SECONDS=600 SEED=7: the ioctl fuzzer on the debug kernel, as
# root and then as nobody, for as long as asked (TAP; non-zero on a failure).
SECONDS ?= 300
SEED := $(or $(SEED),$(shell date +%s))
fuzz: deps
	@$(MAKE) -s -C tools/testing/fuzz
	@kdir=$$(tools/kernel/module.sh debug) && \
	tools/vm/run-vm --kdir "$$kdir" --timeout $$(( 2 * $(SECONDS) + 1200 )) -- \
		env SELFTEST_TIMEOUT=$$(( $(SECONDS) + 600 )) $(CURDIR)/tools/testing/run-selftests.sh \
		-- $(CURDIR)/tools/testing/fuzz/copy_range_fuzz --seed $(SEED) --seconds $(SECONDS) \
		-- $(CURDIR)/tools/testing/fuzz/copy_range_fuzz --seed $(SEED) --seconds $(SECONDS) --user nobody

clean:
	rm -f rust/uapi_generated.rs
	$(MAKE) -C tools/bench clean
	$(MAKE) -C tools/testing/fuzz clean
	$(MAKE) -C tools/testing/selftests/copy_range clean KSFT_DIR=.
