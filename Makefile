# kvm-hotplug. `make` builds, `make check` runs every test (`make
# check-loaded` the same on a busy machine), `make demo` shows the tool
# on a throw-away VM, `make bench` prints timings.
# check, demo and bench install the Debian packages they miss (as root).

VERSION = 0.1.0
# bash: the fuzz target reads PIPESTATUS
SHELL = /bin/bash
CC ?= gcc
PKGS = yaml-0.1 jansson
# Recursive (=) so that pkg-config runs after `make deps` installed it.
# HARDENING: a distribution's flags (debian/rules gives dpkg-buildflags')
CFLAGS = -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror \
	-DKH_VERSION='"$(VERSION)"' $(shell pkg-config --cflags $(PKGS)) $(HARDENING)
LDLIBS = $(shell pkg-config --libs $(PKGS))
SANITIZE = -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS = $(shell pkg-config --libs check)

FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	$(shell pkg-config --cflags $(PKGS))

UNIT_TESTS = test_model test_monitor test_pci test_bus test_proc test_ready test_runtime test_tap test_ganeti test_sync \
	test_flow test_plan
B = build

# What each program links, bottom up (docs/design.md, "Where things
# live"): a unit test or fuzzer gets the objects of what it tests and of
# what those depend on, nothing else, so these lists are the layering
# and the linker checks them.
MODEL = model error clock
CODECS = formats native yamltree ganeti $(MODEL)
RUNTIME = runtime fileio fault $(CODECS)
QMP = monitor error clock
OBJS_test_model = $(MODEL)
OBJS_test_monitor = $(QMP)
OBJS_test_pci = pci
OBJS_test_bus = bus pci $(QMP)
OBJS_test_proc = proc
# the wait with tests/fake_clock: time moves only in its pauses
OBJS_test_ready = ready monitor error tests/fake_clock
OBJS_test_tap = tap $(MODEL)
OBJS_test_runtime = $(RUNTIME)
OBJS_test_ganeti = $(RUNTIME)
OBJS_test_sync = sync $(RUNTIME)
OBJS_fuzz_runtime = $(RUNTIME)
OBJS_fuzz_qmp = $(QMP)
OBJS_qmpcmd = monitor tap $(MODEL)
# The flow and the device kinds, above the file and the QMP client; the
# commands and main on top (docs/design.md, Layers).
FLOW = flow settle disk nic kind session proc qdev plan request output log ready bus pci \
	tap monitor $(RUNTIME)
OBJS_test_flow = $(FLOW)
# the executor alone: the QMP client and what it says on stderr
OBJS_test_plan = plan log monitor fault error tests/fake_clock
OBJS_kvm-hotplug = hotplug cmd cmd-check cmd-cmdline cmd-device cmd-list cmd-supported \
	cmd-sync sync $(FLOW)
# $(call objs,FLAVOUR,NAMES): their objects in that flavour
objs = $(addprefix $(B)/$(1)/,$(addsuffix .o,$(2)))

# Everything `make check`, `make demo` and `make bench` need on a fresh Debian 12.
DEBS = gcc make pkg-config libyaml-dev libjansson-dev check valgrind \
	qemu-system-x86 qemu-utils iproute2 iputils-ping util-linux cpio busybox-static \
	xz-utils kmod jq clang libclang-rt-14-dev ganeti openssh-server socat \
	man-db dpkg-dev debhelper fakeroot lintian python3-jsonschema \
	gnuplot-nox time

all: kvm-hotplug

# Each source is compiled once per flavour, into $(B)/FLAVOUR/: plain
# (the tool as installed, qmpcmd), asan (ASan+UBSan with the fault points:
# the tool the integration tests run, and the unit tests), vg (the unit
# tests without sanitizers, for valgrind) and fz (clang's libFuzzer
# targets). -MMD records each object's headers in a .d beside it.
$(B)/plain/%.o: %.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# KH_FAULT=NAME kills the tool at the fault point NAME; release builds
# have none.
$(B)/asan/%.o: %.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SANITIZE) -DKH_FAULT_INJECTION $(TEST_CFLAGS) \
		-MMD -MP -c -o $@ $<

$(B)/vg/%.o: %.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(TEST_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/fz/%.o: %.c Makefile
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

# the unit tests' own sources use check
$(B)/asan/tests/test_%.o $(B)/vg/tests/test_%.o: TEST_CFLAGS = $(CHECK_CFLAGS)

-include $(wildcard $(B)/*/*.d $(B)/*/tests/*.d)
# The objects a pattern rule links are kept, not deleted as intermediate.
.SECONDARY:

kvm-hotplug: $(call objs,plain,$(OBJS_kvm-hotplug))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The tool as the integration tests run it.
$(B)/asan/kvm-hotplug: $(call objs,asan,$(OBJS_kvm-hotplug))
	$(CC) $(CFLAGS) $(SANITIZE) -o $@ $^ $(LDLIBS)

$(B)/qmpcmd: $(call objs,plain,tests/qmpcmd $(OBJS_qmpcmd))
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# A unit test or fuzzer: its own source and OBJS_<its name>.
.SECONDEXPANSION:
$(B)/test_%: $$(call objs,asan,tests/test_$$* $$(OBJS_test_$$*))
	$(CC) $(CFLAGS) $(SANITIZE) $(CHECK_CFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)

# The same unit tests without sanitizers, for valgrind.
$(B)/vg/test_%: $$(call objs,vg,tests/test_$$* $$(OBJS_test_$$*))
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)

# libFuzzer targets (clang): the runtime file loader and the QMP reader.
FUZZ_SECONDS = 60
$(B)/fuzz_%: $$(call objs,fz,tests/fuzz_$$* $$(OBJS_fuzz_$$*))
	clang $(FUZZ_CFLAGS) -o $@ $^ $(LDLIBS)

# Each target for FUZZ_SECONDS from the seeds in tests/fuzz/; a crash or
# a sanitizer report fails.
fuzz: $(B)/fuzz_runtime $(B)/fuzz_qmp
	@for t in runtime qmp; do \
		mkdir -p $(B)/corpus/$$t && cp tests/fuzz/$$t/* $(B)/corpus/$$t/ && \
		echo "== fuzz_$$t for $(FUZZ_SECONDS) s" && \
		$(B)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
			-print_final_stats=1 -artifact_prefix=$(B)/fuzz_$$t- \
			$(B)/corpus/$$t 2>&1 | grep -E '^(stat::number_of_executed_units|==|SUMMARY|INFO: Done)|ERROR' ; \
		[ $${PIPESTATUS[0]} -eq 0 ] || exit 1; \
	done

$(B)/guest/vmlinux: tests/guest/build.sh tests/guest/init
	tests/guest/build.sh $(B)/guest

deps:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Each under ASan+UBSan and under valgrind; a failing assertion is what
# is printed last, not valgrind's report of what the failed test left.
unit: $(addprefix $(B)/,$(UNIT_TESTS)) $(addprefix $(B)/vg/,$(UNIT_TESTS))
	python3 tests/messages.py
	tests/unit.sh $(B) $(UNIT_TESTS)

integration: kvm-hotplug $(B)/asan/kvm-hotplug $(B)/qmpcmd $(B)/guest/vmlinux
	KH=$(B)/asan/kvm-hotplug KH_PLAIN=./kvm-hotplug QMPCMD=$(B)/qmpcmd \
		GUEST=$(B)/guest tests/integration.sh

# kvm-hotplug against a real Ganeti 3.0 cluster (1 node, then 2 with live
# migration) in namespaces on this machine; leaves the host as it was.
ganeti: kvm-hotplug $(B)/asan/kvm-hotplug $(B)/qmpcmd $(B)/guest/vmlinux
	KH=$(B)/asan/kvm-hotplug QMPCMD=$(B)/qmpcmd GUEST=$(B)/guest tests/ganeti.sh

check: deps
	$(MAKE) kvm-hotplug
	$(MAKE) unit
	$(MAKE) fuzz FUZZ_SECONDS=30
	$(MAKE) integration
	$(MAKE) ganeti
	$(MAKE) deb-check

# The Debian package built, lintian-clean, installed, run and purged.
deb-check: deps
	tests/deb-check.sh

# The same beside LOAD busy processes, RUNS times in a row: no test's
# outcome may depend on the machine's speed (issue 15). `make
# check-loaded TARGET=unit RUNS=20` repeats the unit tests alone.
TARGET = check
RUNS = 3
LOAD = 2
check-loaded: deps
	tests/loaded.sh $(TARGET) $(RUNS) $(LOAD)

demo: deps
	$(MAKE) kvm-hotplug $(B)/guest/vmlinux
	tests/demo.sh ./kvm-hotplug $(B)/guest

bench: deps
	$(MAKE) kvm-hotplug $(B)/guest/vmlinux bench/qmp-floor $(B)/qmpcmd
	bench/run.sh ./kvm-hotplug bench/qmp-floor $(B)/guest

# 1000 mixed operations on one VM, then check and QEMU's fd count.
soak: deps
	$(MAKE) kvm-hotplug $(B)/guest/vmlinux
	bench/soak.sh ./kvm-hotplug $(B)/guest 1000

bench/qmp-floor: bench/qmp-floor.c
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

PREFIX = /usr/local
# What install puts where (under DESTDIR), and uninstall takes away.
INSTALLED = sbin/kvm-hotplug share/man/man8/kvm-hotplug.8 \
	share/man/man5/kvm-hotplug-runtime.5 \
	share/bash-completion/completions/kvm-hotplug \
	share/doc/kvm-hotplug/examples/instance-modify-post \
	share/doc/kvm-hotplug/examples/instance-migrate-pre
install: kvm-hotplug
	install -D -m 0755 kvm-hotplug $(DESTDIR)$(PREFIX)/sbin/kvm-hotplug
	install -D -m 0644 docs/kvm-hotplug.8 $(DESTDIR)$(PREFIX)/share/man/man8/kvm-hotplug.8
	install -D -m 0644 docs/kvm-hotplug-runtime.5 \
		$(DESTDIR)$(PREFIX)/share/man/man5/kvm-hotplug-runtime.5
	install -D -m 0644 contrib/kvm-hotplug.bash \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/kvm-hotplug
	install -d $(DESTDIR)$(PREFIX)/share/doc/kvm-hotplug/examples
	for h in instance-modify-post instance-migrate-pre; do \
		sed 's|/usr/local/sbin/|$(PREFIX)/sbin/|g' docs/hooks/$$h \
			>$(DESTDIR)$(PREFIX)/share/doc/kvm-hotplug/examples/$$h && \
		chmod 0755 $(DESTDIR)$(PREFIX)/share/doc/kvm-hotplug/examples/$$h || exit 1; \
	done

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/,$(INSTALLED))
	-rmdir $(DESTDIR)$(PREFIX)/share/doc/kvm-hotplug/examples \
		$(DESTDIR)$(PREFIX)/share/doc/kvm-hotplug 2>/dev/null

clean:
	rm -rf kvm-hotplug bench/qmp-floor $(B)/plain $(B)/asan $(B)/vg $(B)/fz \
		$(B)/test_* $(B)/qmpcmd

.PHONY: all deps unit integration ganeti check check-loaded demo bench soak fuzz \
	install uninstall deb-check clean
