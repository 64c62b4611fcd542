// jpeg_check.h — does every scan of a JPEG decode to exactly its MCUs? (private to shared/src)
//
// stb_image 2.27 decodes some corrupt JPEG streams without a word, and the result is blocky garbage:
// when a scan's data runs out it decodes zeros; at a marker it did not expect (a missing or non-RST
// marker where a restart was due) it stops the scan and leaves the rest of the image undecoded
// (uninitialised memory, so not even the same garbage in both builds); it never checks restart numbers;
// a run of zeros may carry a coefficient past the end of its block; and it accepts DC and AC magnitudes
// that no 8-bit encoder writes. A few bytes changed in the entropy-coded data throw the Huffman decoder
// off its code boundaries, and such a stream almost never decodes to exactly its MCU count, so these
// checks catch most corruption, as libjpeg's "Corrupt JPEG data" warnings do.
//
// check_jpeg_stream() walks the markers, rebuilds the Huffman tables, and decodes every scan's
// entropy-coded data symbol by symbol (no dequantisation, no IDCT): baseline and extended sequential,
// and progressive (DC and AC, first and refinement scans, EOB runs). It reports the first of:
//   - premature end of data: a scan's data (or one restart interval's) ends before its last MCU;
//   - data left over after the last MCU of a scan or restart interval (zero bytes are tolerated:
//     some cameras pad with them, and stb's own comments name one);
//   - a missing, misnumbered or stray restart marker (RSTn must count 0..7 in order, one per interval);
//   - a bit pattern that is no code of the scan's Huffman table;
//   - a coefficient placed past the end of its block (or spectral band);
//   - a DC difference of category > 11, an AC coefficient of size > 10, or a DC coefficient beyond
//     ±2047: the limits of 8-bit data (ITU T.81 F.1.2, and what libjpeg's encoder enforces);
//   - an AC symbol a sequential scan cannot contain (a zero run with no coefficient);
//   - a progressive refinement (or AC scan) of coefficients never sent, as libjpeg's progression check;
//   - a component that no scan covers (sequential), or whose DC no scan sends (progressive).
// Padding bits are not checked (encoders write 1s, but a 0 changes no pixel).
//
// Run it on streams stb has already decoded: it changes nothing about the pixels of a stream it accepts,
// only whether decode_image() returns them. Integer-only and deterministic, as both builds need.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "cellcam/error.h"

namespace cellcam {

// nullopt when every scan decodes cleanly; else kCorrupt "JPEG decoded with errors: <what>", or
// kOutOfMemory (a progressive stream needs one bit per coefficient of the image to be checked).
std::optional<Error> check_jpeg_stream(const std::uint8_t* bytes, std::size_t size);

}  // namespace cellcam
