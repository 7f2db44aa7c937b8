# Entry points: `make demo` runs the offline demo, `make test` builds and runs the suite.
# Each target first installs the Debian packages the build needs, if any are missing.

BUILD_DIR ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DEB_PACKAGES = build-essential cmake pkg-config ccache libcurl4-openssl-dev nlohmann-json3-dev \
  libsqlite3-dev libyaml-cpp-dev libcli11-dev libspdlog-dev libcpp-httplib-dev libgtest-dev libginac-dev \
  libssl-dev zlib1g-dev libbrotli-dev bubblewrap python3 libseccomp-dev

.PHONY: all deps build test demo bench clean

all: build

deps:
	@./scripts/install-deps.sh $(DEB_PACKAGES)

$(BUILD_DIR)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

demo: build
	$(BUILD_DIR)/tfgrpo demo

bench: build
	./scripts/run-bench.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR)
