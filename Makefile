# wirespan build.
#
#   make            build build/wirespan
#   make demo       install dependencies, build, record a small scenario, print spans
#   make test       install dependencies, build, run every test (one summary line)
#
# The rule chain follows libbpf-bootstrap: bpftool dumps the running kernel's
# BTF into vmlinux.h, clang compiles the kernel half for BPF, bpftool turns
# the object into a skeleton header that the loader includes. Everything
# generated lives in build/.

CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
B        := build

CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Wshadow -Wno-missing-field-initializers
CPPFLAGS := -D_GNU_SOURCE -Isrc -I$(B)
LDLIBS   := -lbpf -ldw -lelf -lz -lsqlite3 -lpcap -lcapstone -lcap -lseccomp -lsodium -lm -lpthread

# Pipeline code shared by the binary, the tests and the fuzzers. It knows
# nothing of eBPF, so tests and fuzzers link it without the kernel half.
CORE_SRCS := \
	src/util/util.c src/util/hashmap.c src/util/json.c src/util/privfile.c \
	src/stream/conntrack.c src/stream/reorder.c \
	src/proto/detect.c src/proto/http1.c src/proto/redis.c src/proto/redact.c src/proto/mask.c \
	src/span/exchange.c src/span/span_json.c \
	src/store/store.c src/capture/kevent.c src/trace/lset.c src/trace/link.c src/trace/inproc.c src/trace/loop.c src/trace/phases.c \
	src/pcap/decode.c src/pcap/tcpan.c src/pcap/offline.c src/pcap/pktmatch.c \
	src/capture/budget.c src/capture/gobin.c src/capture/pyasync.c

BIN_SRCS := src/cli/main.c src/cli/pipeline.c src/cli/record.c src/cli/spans.c src/cli/traces.c src/cli/tcp.c src/cli/pcap.c src/cli/status.c src/capture/live.c src/capture/runtimes.c src/capture/sandbox.c

CORE_OBJS := $(CORE_SRCS:%.c=$(B)/%.o)
BIN_OBJS  := $(BIN_SRCS:%.c=$(B)/%.o)

UNIT_TESTS := test_http1 test_redis test_mask test_conntrack test_store test_reorder test_link test_phases test_pcap test_budget test_gobin test_pyasync
FUZZERS    := fuzz_http1 fuzz_redis fuzz_mask fuzz_stream fuzz_pcap fuzz_gobin fuzz_pyasync fuzz_store

.PHONY: all deps demo test unit asan fuzz fuzz-long e2e clean format
all: $(B)/wirespan

deps:
	@scripts/deps.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

test: deps
	@$(MAKE) --no-print-directory all tests
	@tests/run.sh

# ---- kernel half ----
$(B)/vmlinux.h:
	@mkdir -p $(B)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(B)/capture.bpf.o: src/bpf/capture.bpf.c src/bpf/capture_abi.h $(B)/vmlinux.h
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(B) -Isrc/bpf \
		-Wall -Wno-unused-function -c $< -o $@.tmp.o
	$(BPFTOOL) gen object $@ $@.tmp.o && rm -f $@.tmp.o

$(B)/capture.skel.h: $(B)/capture.bpf.o
	$(BPFTOOL) gen skeleton $< name capture_bpf > $@

# ---- user half ----
$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -MMD -MP -c $< -o $@

$(B)/src/capture/live.o: $(B)/capture.skel.h

$(B)/wirespan: $(BIN_OBJS) $(CORE_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# ---- tests ----
tests: $(UNIT_TESTS:%=$(B)/%) $(B)/wsdrop

# wsdrop: a tc program that drops chosen TCP segments (fault-injection
# tests). It uses UAPI headers, not vmlinux.h, so clang needs the
# multiarch asm/ directory.
$(B)/wsdrop.bpf.o: tests/tools/wsdrop.bpf.c
	@mkdir -p $(B)
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) \
		-I/usr/include/$(shell uname -m)-linux-gnu -Wall -c $< -o $@

$(B)/wsdrop.skel.h: $(B)/wsdrop.bpf.o
	$(BPFTOOL) gen skeleton $< name wsdrop_bpf > $@

$(B)/wsdrop: tests/tools/wsdrop.c $(B)/wsdrop.skel.h
	$(CC) $(CFLAGS) $(WARN) -I$(B) -o $@ $< -lbpf -lelf -lz

$(B)/test_%: tests/unit/test_%.c tests/unit/harness.h $(CORE_OBJS)
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) $(WARN) -o $@ $< $(CORE_OBJS) $(LDLIBS)

# Go executables for test_gobin, built from tests/data/go/ (binaries are not
# committed) into $(B)/go/: the system Go's build of a small server as is,
# without DWARF (-w), stripped (-s -w), as a stripped PIE linked by the
# system linker (no pclntab section), and for arm64; `go tool objdump` of
# the runtime functions probed; tiny synthetic ones of other Go versions;
# esbuild's (other Go versions, stripped) from npm when the registry answers.
GO       ?= go
GO_ENV   := GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-buildvcs=false
GO_BINS  := httpd httpd-nodwarf httpd-stripped httpd-extpie-stripped httpd-arm64 noselect
GO_BUILD  = cd tests/data/go/httpd && $(GO_ENV) $(GO_XENV) $(GO) build -o $(abspath $@)

$(B)/go/httpd: tests/data/go/httpd/main.go tests/data/go/httpd/go.mod
	@mkdir -p $(dir $@)
	$(GO_BUILD) .
$(B)/go/httpd-nodwarf: $(B)/go/httpd
	$(GO_BUILD) -ldflags=-w .
$(B)/go/httpd-stripped: $(B)/go/httpd
	$(GO_BUILD) -ldflags="-s -w" .
$(B)/go/httpd-extpie-stripped: $(B)/go/httpd
	$(GO_BUILD) -buildmode=pie -ldflags="-linkmode=external -s -w" .
$(B)/go/httpd-arm64: GO_XENV := GOARCH=arm64 CGO_ENABLED=0
$(B)/go/httpd-arm64: $(B)/go/httpd
	$(GO_BUILD) .
$(B)/go/noselect: tests/data/go/noselect/main.go tests/data/go/noselect/go.mod
	@mkdir -p $(dir $@)
	cd tests/data/go/noselect && $(GO_ENV) $(GO) build -o $(abspath $@) .
$(B)/go/httpd.objdump: $(B)/go/httpd
	$(GO) tool objdump -s '^runtime\.(newproc1|newproc\.func1|chansend|chanrecv|selectgo|goexit1)$$' $< > $@.tmp && mv $@.tmp $@
$(B)/go/synth.stamp: tests/data/go/synth.py
	python3 $< $(dir $@) && touch $@
$(B)/go/esbuild.stamp: tests/data/go/fetch-esbuild.sh
	$< $(dir $@)

$(B)/test_gobin: $(GO_BINS:%=$(B)/go/%) $(B)/go/httpd.objdump $(B)/go/synth.stamp $(B)/go/esbuild.stamp

# The same unit tests under AddressSanitizer and UBSan.
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
asan:
	@$(MAKE) --no-print-directory B=build-asan CFLAGS="$(ASAN_FLAGS)" LDFLAGS="$(ASAN_FLAGS)" \
		$(UNIT_TESTS:%=build-asan/%) build-asan/wirespan

# libFuzzer targets, built with clang.
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
fuzz: $(FUZZERS:%=build-fuzz/%)

# Each fuzzer for 10 minutes (FUZZ_SECONDS), inputs up to 1 MiB; not in CI.
FUZZ_SECONDS ?= 600
fuzz-long: all fuzz
	python3 tests/fuzz/seed.py build-fuzz/corpus
	python3 tests/data/go/synth.py build-fuzz/corpus/gobin
	tests/fuzz/seed_store.sh $(B)/wirespan build-fuzz/corpus
	@for f in $(FUZZERS); do echo "$$f:"; FUZZ_MAX_LEN=1048576 tests/fuzz/run_fuzzer.sh $$f $(FUZZ_SECONDS) || exit 1; done

build-fuzz/%: tests/fuzz/%.c $(CORE_SRCS) $(wildcard src/*/*.h)
	@mkdir -p build-fuzz
	$(CLANG) $(CPPFLAGS) $(FUZZ_FLAGS) -o $@ $< $(CORE_SRCS) -lsqlite3 -lpcap -ldw -lelf -lcapstone -lsodium -lm -lpthread

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(B) -name '*.d' 2>/dev/null)
