#!/usr/bin/env bash
# setup.sh — install what cellcam needs on Debian 12 / Ubuntu, and nothing that is already there.
#
# Idempotent: each apt package is installed only when `dpkg -s` says it is missing, and `npm ci`
# runs only when node_modules/ is older than package-lock.json. Uses sudo when not root.
# Only Debian's archive and the npm registry are used; nothing is downloaded from elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config
  # shared/ (header-only, also compiled by em++)
  libstb-dev nlohmann-json3-dev
  # native/
  libtiff-dev libcli11-dev libtorch-dev libonnx-dev libssl-dev
  # the page's reviewed-set ZIPs (`cellcam train|finetune REVIEWED.zip`)
  libzip-dev
  # distributed training: the Gloo headers behind LibTorch's c10d (libtorch_cpu already links libgloo)
  libgloo-dev
  # tests and fuzzing
  googletest libgtest-dev clang libclang-rt-14-dev
  # the WASM build (its tests run under node) and the page's browser test
  emscripten chromium
)

# `setup.sh --bench` also installs what bench/ compares against (PyTorch for Python, PIL).
if [ "${1:-}" = "--bench" ]; then
  APT_PACKAGES+=(python3-torch python3-pil python3-numpy)
fi

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# node and npm: Debian's packages unless a node is already installed (NodeSource's nodejs bundles npm
# and conflicts with Debian's npm package).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: apt packages present"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  echo "setup: npm ci"
  # onnxruntime-node's postinstall would try to download CUDA files; its CPU binaries ship inside.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
  touch node_modules
else
  echo "setup: node_modules up to date"
fi
