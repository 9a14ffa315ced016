# Two commands for a newcomer: `make run` and `make test`. Everything else is a convenience.
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
CMAKE_ARGS ?=
JOBS       ?= $(shell nproc)
HOST       ?= 127.0.0.1
PORT       ?= 8080
DB         ?= ./llmtrace.db

.PHONY: all deps deps-test deps-fuzz configure build run test bench stress fuzz asan package wheel format clean

all: build

deps:
	@scripts/install-deps.sh build

deps-test:
	@scripts/install-deps.sh test

deps-fuzz:
	@scripts/install-deps.sh fuzz

configure:
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS) > /dev/null

build: deps configure
	@cmake --build $(BUILD) -j $(JOBS)

run: deps configure
	@cmake --build $(BUILD) -j $(JOBS) --target llmtrace-collector
	$(BUILD)/collector/llmtrace-collector --host $(HOST) --port $(PORT) --db $(DB)

test: deps-test configure
	@cmake --build $(BUILD) -j $(JOBS)
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

bench: deps-test configure
	@cmake --build $(BUILD) -j $(JOBS)
	@scripts/bench.sh $(BUILD)

stress: deps-fuzz configure
	@cmake --build $(BUILD) -j $(JOBS)
	@scripts/stress.sh $(BUILD)

fuzz: deps-fuzz
	@scripts/fuzz.sh

# Every C++, C API, bindings and component suite under AddressSanitizer + UndefinedBehaviorSanitizer (the browser
# suite needs the embedded UI and runs in `make test`; its server side is the same collector code tested here).
asan: deps-test
	@$(MAKE) test BUILD=build-asan BUILD_TYPE=Debug \
	  CMAKE_ARGS="-DLLMTRACE_SANITIZE=ON -DLLMTRACE_BUILD_UI=OFF -DLLMTRACE_BUILD_BENCH=OFF"

# A .deb (CPack) with the collector, both libraries, headers, CMake/pkg-config files and the systemd unit.
package: deps configure
	@cmake --build $(BUILD) -j $(JOBS)
	@cd $(BUILD) && cpack -G DEB
	@ls $(BUILD)/llmtrace_*.deb

# A Python wheel that carries libllmtrace_c.so, for machines without the library installed.
wheel: deps-test configure
	@cmake --build $(BUILD) -j $(JOBS) --target llmtrace_c
	@packaging/build-wheel.sh $(BUILD)/libtrace/libllmtrace_c.so $(BUILD)/dist

format:
	@git ls-files '*.cpp' '*.hpp' '*.h' '*.c' | xargs clang-format -i

clean:
	@rm -rf $(BUILD)
