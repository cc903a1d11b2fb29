# COW page tables per memory cgroup: build, boot and test.
#
#   make demo        boot the patched kernel and show the feature
#   make test        quick suite (what CI runs)
#   make test-full   every suite
#   make help        everything else
#
# Fresh Debian 12 machine: the targets install what they need (as root).

BUILD      ?= build
FLAVOUR    ?= test
KSRC       := $(BUILD)/linux
KOBJ       := $(BUILD)/obj-$(FLAVOUR)
# BASELINE=1: the same flavour without kernel/patches (tools/kernel/build-baseline)
ifeq ($(BASELINE),1)
KOBJ       := $(BUILD)/obj-$(FLAVOUR)-baseline
endif
BZIMAGE    := $(KOBJ)/arch/x86/boot/bzImage
PATCHES    := kernel/patches
# The KASAN kernel is the debug (test) kernel plus KASAN.
CONFIGS    := kernel/configs/base.config $(if $(filter kasan,$(FLAVOUR)),kernel/configs/test.config) \
	      kernel/configs/$(FLAVOUR).config
SUITE      ?= quick
FUZZ_MINUTES ?= 30
FUZZ_SEED  ?= $(shell date +%s)
COWPTE_SRC := cgroup/cowpte
COWPTE_OUT := $(abspath $(BUILD)/cowpte)
OCIHOOK_OUT := $(abspath $(BUILD)/oci-hook)

export KERNEL_PKG_VERSION ?= 6.12.117-1~deb12u1

.PHONY: all help deps kernel-tree kernel selftests test test-full demo vm \
	export-patches reset-tree checkpatch cowpte test-host clean distclean \
	oci-hook fork-shares userspace bench bench-report fuzz test-kasan \
	systemd test-systemd

all: kernel

help:
	@sed -n '1,/^$$/p' Makefile | sed 's/^# \{0,1\}//'
	@echo 'Other targets:'
	@echo '  deps            install the Debian packages the project needs'
	@echo '  kernel          build $$(BZIMAGE) (FLAVOUR=test|bench, default test;'
	@echo '                  BASELINE=1: without the patches, in obj-FLAVOUR-baseline)'
	@echo '  kernel-tree     unpack the kernel and apply kernel/patches/series'
	@echo '  export-patches  write the build tree commits back to kernel/patches'
	@echo '  reset-tree      drop unexported work in the build tree'
	@echo '  checkpatch      run checkpatch.pl on kernel/patches'
	@echo '  selftests       build the kselftests against the build tree'
	@echo '  vm CMD="..."    run one command in the VM (no CMD: interactive shell)'
	@echo '  cowpte          build the cowpte command ($(BUILD)/cowpte/cowpte)'
	@echo '  test-host       build cowpte and run its unit tests on this host (no VM)'
	@echo '  oci-hook        build the OCI hook ($(BUILD)/oci-hook/cowpte-oci-hook)'
	@echo '  fork-shares     build $(BUILD)/fork-shares (static; the user-space tests)'
	@echo '  userspace       all three'
	@echo '  bench           build the bench and baseline kernels, run every benchmark'
	@echo '                  in the VM, write docs/results.md, docs/bench/, docs/plots/'
	@echo '  bench-report    redo docs/results.md and the plots from docs/bench/*.csv'
	@echo '  fuzz            the COW PTE fuzzer for FUZZ_MINUTES (30) from FUZZ_SEED;'
	@echo '                  FUZZ_KERNEL=bzImage FUZZ_TESTS=kselftests: no build'
	@echo '  test-kasan      the KASAN kernel (FLAVOUR=kasan) and the kasan suite'
	@echo '  systemd         Debian'"'"'s systemd 252 with MemoryCOWPTE= (systemd-units/'
	@echo '                  patches) in $(BUILD)/systemd-build, and its unit tests'
	@echo '  test-systemd    that systemd as PID 1 in the VM (the systemd-patched'
	@echo '                  suite alone; make test runs it too)'

deps:
	tools/deps.sh

kernel-tree: deps
	tools/kernel/prepare-tree $(KSRC) $(PATCHES)

kernel: kernel-tree
ifeq ($(BASELINE),1)
	tools/kernel/build-baseline $(KSRC) $(BUILD)/linux-baseline $(KOBJ) $(CONFIGS)
else
	tools/kernel/build-kernel $(KSRC) $(KOBJ) $(CONFIGS)
endif

selftests: kernel
	tools/test/build-selftests $(KSRC) $(KOBJ) $(BUILD)/kselftest

test: userspace systemd selftests
	tools/test/run-suite --kernel $(BZIMAGE) --tests $(BUILD)/kselftest \
		--out $(BUILD)/results --suite $(SUITE)

test-full:
	$(MAKE) --no-print-directory test SUITE=full

# FUZZ_KERNEL and FUZZ_TESTS: a kernel and kselftests already built.
fuzz: $(if $(FUZZ_KERNEL),,selftests)
	tools/test/run-fuzz --kernel $(or $(FUZZ_KERNEL),$(BZIMAGE)) \
		--tests $(or $(FUZZ_TESTS),$(BUILD)/kselftest) --out $(BUILD)/fuzz \
		--minutes $(FUZZ_MINUTES) --seed $(FUZZ_SEED) -- $(FUZZ_ARGS)

test-kasan:
	$(MAKE) --no-print-directory test FLAVOUR=kasan SUITE=kasan

demo: kernel
	tools/vm/run-vm --kernel $(BZIMAGE) --quiet -- tools/demo.sh

vm: kernel
	tools/vm/run-vm --kernel $(BZIMAGE) $(if $(CMD),-- sh -c '$(CMD)',--interactive)

cowpte:
	tools/deps.sh userspace
	$(MAKE) -C $(COWPTE_SRC) O=$(COWPTE_OUT)

test-host: cowpte oci-hook
	$(MAKE) -C $(COWPTE_SRC) O=$(COWPTE_OUT) test
	$(MAKE) -C cgroup/oci-hook O=$(OCIHOOK_OUT) test

oci-hook:
	tools/deps.sh userspace
	$(MAKE) -C cgroup/oci-hook O=$(OCIHOOK_OUT)

fork-shares: $(BUILD)/fork-shares

$(BUILD)/fork-shares: tools/test/fork-shares.c
	@mkdir -p $(BUILD)
	$(CC) -static -O2 -g -Wall -Wextra -Werror -o $@ $<

userspace: cowpte oci-hook fork-shares
	tools/deps.sh containers

bench:
	tools/deps.sh bench
	$(MAKE) --no-print-directory kernel FLAVOUR=bench
	$(MAKE) --no-print-directory kernel FLAVOUR=bench BASELINE=1
	tools/bench/run-bench --kernel $(BUILD)/obj-bench/arch/x86/boot/bzImage \
		--baseline $(BUILD)/obj-bench-baseline/arch/x86/boot/bzImage \
		--work $(BUILD)/bench --out docs/bench
	tools/bench/report docs/bench docs

bench-report:
	tools/deps.sh bench
	tools/bench/report docs/bench docs

systemd:
	systemd-units/build-systemd $(BUILD)

test-systemd: systemd fork-shares selftests
	tools/test/run-suite --kernel $(BZIMAGE) --tests $(BUILD)/kselftest \
		--out $(BUILD)/results-systemd --suite systemd-patched

export-patches:
	tools/kernel/export-patches $(KSRC) $(PATCHES)

reset-tree:
	rm -f $(KSRC)/.git/cowpte-series
	$(MAKE) kernel-tree

checkpatch: kernel-tree
	# /usr/bin first: spdxcheck.py needs Debian's python3-ply and python3-git.
	cd $(KSRC) && export PATH=/usr/bin:$$PATH && for p in $(addprefix $(CURDIR)/$(PATCHES)/,$(shell grep -v '^#' $(PATCHES)/series)); do \
		scripts/checkpatch.pl --strict -q $$p || exit 1; done

clean:
	rm -rf $(BUILD)/obj-* $(BUILD)/kselftest $(BUILD)/results $(BUILD)/cowpte \
		$(BUILD)/oci-hook $(BUILD)/fork-shares

distclean:
	rm -rf $(BUILD)
