# A thin wrapper over CMake so nobody needs to know it. The CLI lands at
# build/agent-auth.
#   make          build (installing missing Debian packages first)
#   make demo     build the CLI only (no tests, no benchmarks), then decide a
#                 few requests on the enterprise example
#   make test     build, then run the whole test suite (ctest)
#   make asan     the test suite built with AddressSanitizer + UBSan
#   make tsan     the multi-threaded tests under ThreadSanitizer
#   make bench    build optimised and print the benchmark table
#   make fuzz-smoke   run every fuzz target briefly
#   make install PREFIX=/usr/local
#   make format       apply clang-format;  make format-check: check it, change nothing
#   make werror       build with -Werror under gcc and under clang
# SKIP_DEPS=1 (e.g. `make SKIP_DEPS=1 test`) skips the Debian package check:
# for other systems, where the packages are installed by other means.

MAKEFLAGS += --no-print-directory
PREFIX ?= /usr/local
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 30
CMAKE_FLAGS ?=

.PHONY: all deps dev-deps build demo test asan tsan bench fuzz fuzz-smoke install format format-check werror clean

all: build

deps:
	@[ -n "$(SKIP_DEPS)" ] || scripts/deps.sh

dev-deps:
	@[ -n "$(SKIP_DEPS)" ] || scripts/deps.sh --dev

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

demo: deps
	@cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) --target agent-auth
	@scripts/demo.sh $(BUILD)/agent-auth

test: build
	@ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

asan: dev-deps
	@cmake -S . -B build-asan -DCMAKE_C_COMPILER=clang -DAA_SANITIZE=address,undefined -DAA_BUILD_BENCH=OFF >/dev/null
	@cmake --build build-asan -j$(JOBS)
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir build-asan --output-on-failure -j$(JOBS)

tsan: dev-deps
	@cmake -S . -B build-tsan -DCMAKE_C_COMPILER=clang -DAA_SANITIZE=thread -DAA_BUILD_BENCH=OFF >/dev/null
	@cmake --build build-tsan -j$(JOBS)
	@ctest --test-dir build-tsan --output-on-failure -L threads

bench: deps
	@cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DAA_BUILD_TESTS=OFF >/dev/null
	@cmake --build build-bench -j$(JOBS)
	@bench/run.sh build-bench

fuzz: dev-deps
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DAA_BUILD_FUZZ=ON -DAA_BUILD_TESTS=OFF -DAA_BUILD_BENCH=OFF \
	  -DAA_SANITIZE=address,undefined >/dev/null
	@cmake --build build-fuzz -j$(JOBS)

fuzz-smoke: fuzz
	@scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

FORMAT_FILES = $(wildcard include/*.h src/*.[ch] cli/*.[ch] tests/unit/*.[ch] bench/*.c fuzz/*.c python/src/*.c server/*.c)

format:
	@clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format: clean"

werror: dev-deps
	@for cc in gcc clang; do \
	  cmake -S . -B build-werror-$$cc -DCMAKE_C_COMPILER=$$cc -DAA_WERROR=ON >/dev/null && \
	  cmake --build build-werror-$$cc -j$(JOBS) >/dev/null && echo "-Werror build with $$cc: clean" || exit 1; \
	done

clean:
	@rm -rf build build-asan build-tsan build-bench build-fuzz build-werror-gcc build-werror-clang
