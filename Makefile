# cellcam — the two commands of the README, and the steps they are made of.
#
#   make serve   install what is missing, build the page, serve it on http://127.0.0.1:8080
#   make test    install what is missing, build natively and to wasm, run every test
#
# Other targets: native, wasm, site, bench-web (the page in headless Chromium, BENCH_N=256), fuzz
# (FUZZ_SECONDS=600), clean.
.PHONY: all setup native wasm site serve test test-native test-wasm test-node bench-web fuzz clean

BUILD        := build
EMSDK_ENV    := NODE_PATH=/usr/share/nodejs
CMAKE_FLAGS  := -G Ninja -DCMAKE_BUILD_TYPE=Release
FUZZ_SECONDS ?= 600
BENCH_N      ?= 256

all: native site

setup:
	@scripts/setup.sh

native: setup
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)
	cmake --build $(BUILD)

wasm: setup
	$(EMSDK_ENV) emcmake cmake -S . -B $(BUILD)/wasm $(CMAKE_FLAGS) -DCELLCAM_WEB_DIR=$(CURDIR)/$(BUILD)/web
	$(EMSDK_ENV) cmake --build $(BUILD)/wasm

site: wasm
	node scripts/build_site.mjs $(BUILD)/web

serve: site
	node scripts/serve.mjs $(BUILD)/web

test: native site
	$(MAKE) --no-print-directory test-native test-wasm test-node

test-native:
	ctest --test-dir $(BUILD) --output-on-failure

test-wasm:
	ctest --test-dir $(BUILD)/wasm --output-on-failure

test-node:
	CELLCAM_CLI=$(CURDIR)/$(BUILD)/cellcam CELLCAM_WEB_DIR=$(CURDIR)/$(BUILD)/web node --test tests/node/ tests/browser/

bench-web: site
	node bench/browser_bench.mjs --n $(BENCH_N)

fuzz: setup
	CC=clang CXX=clang++ cmake -S . -B $(BUILD)/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCELLCAM_BUILD_TESTS=OFF -DCELLCAM_BUILD_FUZZERS=ON
	cmake --build $(BUILD)/fuzz --target fuzz_decode
	mkdir -p $(BUILD)/fuzz/corpus && cp -r tests/data/*/* $(BUILD)/fuzz/corpus/
	$(BUILD)/fuzz/tests/fuzz/fuzz_decode $(BUILD)/fuzz/corpus -max_total_time=$(FUZZ_SECONDS) -max_len=262144 \
	  -rss_limit_mb=4096 -print_final_stats=1

clean:
	rm -rf $(BUILD)
