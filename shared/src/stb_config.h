// stb_config.h — the one place that configures stb for cellcam (private to shared/src).
//
// STBI_NO_SIMD: stb's SSE2 and scalar JPEG paths are not promised to agree to the bit, and the WASM
// build has no SSE2, so both builds use the scalar code. Only the formats cellcam accepts are compiled.
#pragma once

#define STBI_NO_SIMD
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_TGA
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_MAX_DIMENSIONS 65536

#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>
