# Thin wrapper over CMake. The real build lives in CMakeLists.txt.
#   make / make build   configure build/ (gcc by default) and build
#   make test           deps, build, ctest in build/, then the same suite under ASan+UBSan
#   make test-fast      build and ctest in build/ only
#   make test-asan      build-asan/ (clang, -DSWARM_SANITIZE=ON) and ctest there
#   make demo           deps, build, scripts/demo.sh
#   make format         clang-format -i over the C sources
#   make clean          remove the build folders
# CC=clang make ... picks the compiler of build/; ASAN_CC picks the one of build-asan/.

ifeq ($(origin CC),default)
CC := gcc
endif
ASAN_CC ?= clang
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
ASAN_BUILD ?= build-asan
CMAKE_FLAGS ?=

.PHONY: all build test test-fast test-asan demo deps format clean

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_C_COMPILER=$(CC) $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

test: deps
	$(MAKE) test-fast
	$(MAKE) test-asan

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j2

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_C_COMPILER=$(ASAN_CC) -DCMAKE_BUILD_TYPE=Debug \
		-DSWARM_SANITIZE=ON $(CMAKE_FLAGS)

test-asan: $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j2

demo: deps build
	@bash scripts/demo.sh

format:
	@command -v clang-format >/dev/null || { echo "clang-format not found: apt-get install clang-format" >&2; exit 1; }
	find $(wildcard src tests bench examples) -name '*.[ch]' -print0 | xargs -0 -r clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
