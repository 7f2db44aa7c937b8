# Entry points: `make demo` runs the offline demo, `make test` builds and runs the suite.
# Each target first installs the Debian packages the build needs, if any are missing.

BUILD_DIR ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DEB_PACKAGES = build-essential cmake pkg-config ccache libcurl4-openssl-dev nlohmann-json3-dev \
  libsqlite3-dev libyaml-cpp-dev libcli11-dev libspdlog-dev libcpp-httplib-dev libgtest-dev libginac-dev \
  libssl-dev zlib1g-dev libbrotli-dev bubblewrap python3 libseccomp-dev libgumbo-dev libjs-chart.js
# Only `make fuzz` / `make fuzz-ci` need these: clang with libFuzzer and the sanitizer runtimes.
FUZZ_DEB_PACKAGES = clang libclang-rt-14-dev
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
ASAN_BUILD_DIR ?= build-asan
SANITIZE_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

.PHONY: all deps build test demo bench clean fuzz-deps fuzz-build fuzz fuzz-ci test-asan

all: build

deps:
	@./scripts/install-deps.sh $(DEB_PACKAGES)

# Benchmarks are left out of the default build (they add minutes to `make test` on 2 cores);
# `make bench` switches them on in the same build dir.
$(BUILD_DIR)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DTFGRPO_BUILD_BENCH=OFF

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The real MCP servers tests/mcp runs against (npm, pinned) live outside the tree.
MCP_NPM_DIR ?= $(HOME)/.cache/tfgrpo-npm

test: build
	./scripts/install-test-npm.sh $(MCP_NPM_DIR)
	./scripts/install-test-browser.sh
	cd $(BUILD_DIR) && TFGRPO_MCP_NPM_DIR=$(MCP_NPM_DIR) ctest --output-on-failure -j $(JOBS)

# The demo needs the program only, not the test suite.
demo: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS) --target tfgrpo
	$(BUILD_DIR)/tfgrpo demo

bench: deps $(BUILD_DIR)/CMakeCache.txt
	cmake -S . -B $(BUILD_DIR) -DTFGRPO_BUILD_BENCH=ON
	cmake --build $(BUILD_DIR) -j $(JOBS)
	./scripts/run-bench.sh $(BUILD_DIR)

# libFuzzer targets (fuzz/): each runs FUZZ_SECONDS over its seed corpus and kept crashers;
# fails on any crash, leak, timeout or out-of-memory. `make fuzz-ci` is the short pass CI runs.
fuzz-deps: deps
	@./scripts/install-deps.sh $(FUZZ_DEB_PACKAGES)

$(FUZZ_BUILD_DIR)/CMakeCache.txt: | fuzz-deps
	cmake -S . -B $(FUZZ_BUILD_DIR) -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -gline-tables-only" \
	  -DTFGRPO_BUILD_FUZZ=ON -DTFGRPO_BUILD_TESTS=OFF -DTFGRPO_BUILD_BENCH=OFF

fuzz-build: fuzz-deps $(FUZZ_BUILD_DIR)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS) --target fuzz_all

fuzz: fuzz-build
	./scripts/run-fuzz.sh $(FUZZ_BUILD_DIR) $(FUZZ_SECONDS)

fuzz-ci:
	$(MAKE) fuzz FUZZ_SECONDS=3

# The whole test suite built with AddressSanitizer and UBSan (gcc), in its own build dir.
$(ASAN_BUILD_DIR)/CMakeCache.txt: | deps
	cmake -S . -B $(ASAN_BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
	  -DCMAKE_CXX_FLAGS="$(SANITIZE_FLAGS)" -DTFGRPO_BUILD_BENCH=OFF

# The build runs each test binary once to list its tests, so it needs the same suppressions.
test-asan: deps $(ASAN_BUILD_DIR)/CMakeCache.txt
	LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan.supp:print_suppressions=0 cmake --build $(ASAN_BUILD_DIR) -j $(JOBS)
	cd $(ASAN_BUILD_DIR) && ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_BUILD_DIR) $(ASAN_BUILD_DIR)
