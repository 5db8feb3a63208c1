# Entry points for people and CI. `make run` and `make test` install what is missing first.
.PHONY: all setup build run test asan clang portable bench fuzz format ci

PRESET ?= dev
JOBS ?= $(shell nproc)
# ccache hits across clones of the repository (CI builds a fresh clone every time).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

all: build

setup:
	@bash scripts/setup

build: setup
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET) -j $(JOBS)

# The example system on the embedded default broker (mqtt://127.0.0.1:1883); Ctrl-C stops it.
run: build
	./build/$(PRESET)/src/cli/psos run examples/hello.json

test: build
	ctest --preset $(PRESET)

# The unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer, then the broker's
# protocol, delivery, lifecycle, connection and persistence tests against the sanitized broker
# (a sanitizer report in its log fails the test).
asan: setup
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -LE integration -E '^((broker|bench|crosscheck|client_cli|client_faults|runtime|persistence)\.|control\.test_)'
	ctest --preset asan -R '^broker\.(test_protocol|test_delivery|test_lifecycle|test_connections|persistence)$$'

# Everything built and tested with clang 14 as well as g++ 12.
clang: setup
	@cmake --preset clang >/dev/null
	@cmake --build --preset clang -j $(JOBS)
	ctest --preset clang -LE integration -E '^((broker|bench|crosscheck|client_cli|client_faults|runtime|persistence)\.|control\.test_)'

# The protocol core alone with -fno-exceptions -fno-rtti, as a microcontroller toolchain would.
portable: setup
	@cmake --preset portable >/dev/null
	@cmake --build --preset portable -j $(JOBS)

bench: setup
	@bash scripts/bench

# Every libFuzzer harness for FUZZ_SECONDS (default 60) seconds, FUZZ_JOBS (default nproc) at a time.
fuzz: setup
	@bash scripts/fuzz

format:
	@clang-format -i $$(git ls-files '*.cpp' '*.hpp')

ci: test asan clang portable fuzz
