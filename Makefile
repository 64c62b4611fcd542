# cellcam — the two commands of the README, and the steps they are made of.
#
#   make serve   install what is missing, build the page, serve it on http://127.0.0.1:8080
#   make test    install what is missing, build natively and to wasm, run every test
#
# Other targets: native, wasm, site, bench-web (the page in headless Chromium, BENCH_N=256, BENCH_ARGS e.g. --before REV), fuzz
# (fuzz_decode, FUZZ_SECONDS=600), fuzz-all (every fuzz target, FUZZ_SECONDS each, one after the other), clean.
.PHONY: all setup native wasm site serve test test-native test-wasm test-node bench-web fuzz fuzz-all fuzz-build clean

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
	node bench/browser_bench.mjs --n $(BENCH_N) $(BENCH_ARGS)

# libFuzzer targets, each with its own growing corpus (build/fuzz/corpus_<target>) seeded from the fixtures.
FUZZ_TARGETS := decode tiff_probe model_card csv
FUZZ_FLAGS    = -max_total_time=$(FUZZ_SECONDS) -max_len=262144 -rss_limit_mb=4096 -print_final_stats=1

fuzz-build: setup
	CC=clang CXX=clang++ cmake -S . -B $(BUILD)/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCELLCAM_BUILD_TESTS=OFF -DCELLCAM_BUILD_FUZZERS=ON
	cmake --build $(BUILD)/fuzz --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do mkdir -p $(BUILD)/fuzz/corpus_$$t $(BUILD)/fuzz/seed_$$t; done
	find tests/data -type f ! -name '*.onnx' ! -name '*.json' ! -name '*.csv' -size -256k \
	  -exec cp {} $(BUILD)/fuzz/seed_decode/ \;
	find tests/data -type f \( -iname '*.tif' -o -iname '*.tiff' \) -exec cp {} $(BUILD)/fuzz/seed_tiff_probe/ \;
	for f in models/*/model.json models/*/members/*/model.json tests/specs/*.json tests/data/golden/*/*.json; do \
	  cp $$f $(BUILD)/fuzz/seed_model_card/$$(echo $$f | tr / _); done
	find tests -name '*.csv' -exec cp {} $(BUILD)/fuzz/seed_csv/ \;

fuzz: fuzz-build
	$(BUILD)/fuzz/tests/fuzz/fuzz_decode $(BUILD)/fuzz/corpus_decode $(BUILD)/fuzz/seed_decode $(FUZZ_FLAGS)

fuzz-all: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz_$$t ($(FUZZ_SECONDS) s)"; \
	  $(BUILD)/fuzz/tests/fuzz/fuzz_$$t $(BUILD)/fuzz/corpus_$$t $(BUILD)/fuzz/seed_$$t $(FUZZ_FLAGS) || exit 1; \
	done

clean:
	rm -rf $(BUILD)
