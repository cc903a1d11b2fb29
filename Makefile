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

export KERNEL_PKG_VERSION ?= 6.12.117-1~deb12u1

.PHONY: all help deps kernel-tree kernel selftests test test-full demo vm \
	fuzz test-kasan \
	export-patches reset-tree checkpatch cowpte test-host clean distclean

all: kernel

help:
	@sed -n '1,/^$$/p' Makefile | sed 's/^# \{0,1\}//'
	@echo 'Other targets:'
	@echo '  deps            install the Debian packages the project needs'
	@echo '  kernel          build $$(BZIMAGE) (FLAVOUR=test|bench, default test)'
	@echo '  kernel-tree     unpack the kernel and apply kernel/patches/series'
	@echo '  export-patches  write the build tree commits back to kernel/patches'
	@echo '  reset-tree      drop unexported work in the build tree'
	@echo '  checkpatch      run checkpatch.pl on kernel/patches'
	@echo '  selftests       build the kselftests against the build tree'
	@echo '  vm CMD="..."    run one command in the VM (no CMD: interactive shell)'
	@echo '  cowpte          build the cowpte command ($(BUILD)/cowpte/cowpte)'
	@echo '  test-host       build cowpte and run its unit tests on this host (no VM)'
	@echo '  fuzz            the COW PTE fuzzer for FUZZ_MINUTES (30) from FUZZ_SEED;'
	@echo '                  FUZZ_KERNEL=bzImage FUZZ_TESTS=kselftests: no build'
	@echo '  test-kasan      the KASAN kernel (FLAVOUR=kasan) and the kasan suite'

deps:
	tools/deps.sh

kernel-tree: deps
	tools/kernel/prepare-tree $(KSRC) $(PATCHES)

kernel: kernel-tree
	tools/kernel/build-kernel $(KSRC) $(KOBJ) $(CONFIGS)

selftests: kernel
	tools/test/build-selftests $(KSRC) $(KOBJ) $(BUILD)/kselftest

test: cowpte selftests
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

test-host: cowpte
	$(MAKE) -C $(COWPTE_SRC) O=$(COWPTE_OUT) test

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
	rm -rf $(BUILD)/obj-* $(BUILD)/kselftest $(BUILD)/results $(BUILD)/cowpte

distclean:
	rm -rf $(BUILD)
