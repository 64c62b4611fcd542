// jpeg_corruption.cpp — how many corrupt JPEGs does decode_image() refuse, and does it refuse any good one?
//
//   build/shared-only/tests/jpeg_corruption [--bytes 40] [--seed 1] [--keep DIR] [--messages] FILE.jpg...
//
// For each file: decode it as it is (it must decode, to exactly stb_image's own pixels: the stream
// check may refuse a file, never change one), then overwrite --bytes random bytes (seeded, with random
// values) between the end of the first scan header and the end-of-image marker, and decode that.
// Each corrupt copy falls in one of: refused by the probe or by stb (as before), refused by the stream
// check ("decoded with errors", new), or decoded silently. For the silent ones and the refused ones it
// also prints how far the pixels are from the clean decode (mean absolute difference per sample).
// --messages prints decode_image()'s answer for every corrupt copy (diff a native and an em++ build's
// output to check that both refuse the same files with the same words).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include <stb/stb_image.h>

#include "cellcam/decode.h"

namespace {

std::uint64_t splitmix(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// [first byte after the first SOS segment, position of the last EOI)
bool scan_range(const std::vector<std::uint8_t>& b, std::size_t* begin, std::size_t* end) {
  std::size_t pos = 2;
  while (pos + 4 <= b.size()) {
    if (b[pos] != 0xFF) return false;
    const int m = b[pos + 1];
    if (m == 0xFF) { ++pos; continue; }
    const std::size_t len = static_cast<std::size_t>(b[pos + 2] << 8 | b[pos + 3]);
    if (m == 0xDA) {
      *begin = pos + 2 + len;
      *end = b.size() - 2;
      return *end > *begin + 1 && b[*end] == 0xFF && b[*end + 1] == 0xD9;
    }
    pos += 2 + len;
  }
  return false;
}

double mean_abs_diff(const cellcam::Image& a, const std::vector<std::uint8_t>& clean) {
  if (a.samples.size() != clean.size() || clean.empty()) return -1;
  double total = 0;
  for (std::size_t i = 0; i < clean.size(); ++i) total += std::abs(int(a.samples[i]) - int(clean[i]));
  return total / static_cast<double>(clean.size());
}

}  // namespace

int main(int argc, char** argv) {
  int nbytes = 40;
  std::uint64_t seed = 1;
  std::vector<std::string> files;
  std::string keep;  // where to write the corrupt copies that still decode
  bool messages = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--bytes" && i + 1 < argc) nbytes = std::atoi(argv[++i]);
    else if (a == "--seed" && i + 1 < argc) seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--keep" && i + 1 < argc) keep = argv[++i];
    else if (a == "--messages") messages = true;
    else files.push_back(a);
  }
  int clean_ok = 0, clean_refused = 0, clean_differs = 0, skipped = 0;
  int probe_or_stb = 0, flagged = 0, silent = 0;
  double silent_diff = 0, flagged_diff = 0;
  int flagged_with_pixels = 0;
  std::map<std::string, int> reasons;
  for (std::size_t f = 0; f < files.size(); ++f) {
    std::ifstream in(files[f], std::ios::binary);
    const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    cellcam::Result<cellcam::Image> clean = cellcam::decode_image(bytes.data(), bytes.size());
    if (!clean.ok()) {
      ++clean_refused;
      std::printf("REFUSED %s: %s\n", files[f].c_str(), clean.error().message.c_str());
      continue;
    }
    int w = 0, h = 0, c = 0;
    stbi_uc* raw = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &c, 0);
    const std::vector<std::uint8_t> stb_pixels(raw, raw ? raw + static_cast<std::size_t>(w) * h * c : raw);
    stbi_image_free(raw);
    if (stb_pixels != clean.value().samples) {
      ++clean_differs;
      std::printf("DIFFERS %s\n", files[f].c_str());
    }
    ++clean_ok;

    std::size_t begin = 0, end = 0;
    if (!scan_range(bytes, &begin, &end)) {
      ++skipped;
      continue;
    }
    std::uint64_t state = seed * 1000003u + f;
    std::vector<std::uint8_t> bad = bytes;
    for (int k = 0; k < nbytes; ++k) bad[begin + splitmix(state) % (end - begin)] = static_cast<std::uint8_t>(splitmix(state));
    // What decode_image() did before the stream check: the probe, then stb.
    int bw = 0, bh = 0, bc = 0;
    stbi_uc* old = cellcam::probe_image(bad.data(), bad.size()).ok()
                       ? stbi_load_from_memory(bad.data(), static_cast<int>(bad.size()), &bw, &bh, &bc, 0)
                       : nullptr;
    cellcam::Result<cellcam::Image> now = cellcam::decode_image(bad.data(), bad.size());
    if (messages) {
      // FNV-1a of what stb decoded before (0: nothing): shows whether the two builds decoded the same garbage.
      std::uint64_t hash = 0;
      if (old) {
        hash = 1469598103934665603ull;
        for (std::size_t i = 0; i < static_cast<std::size_t>(bw) * bh * bc; ++i) hash = (hash ^ old[i]) * 1099511628211ull;
      }
      std::printf("MESSAGE %s: %s [stb before: %016llx]\n", files[f].c_str(), now.ok() ? "ok" : now.error().message.c_str(),
                  static_cast<unsigned long long>(hash));
    }
    if (!old) {
      ++probe_or_stb;
      if (now.ok()) std::printf("BUG %s: refused before, decoded now\n", files[f].c_str());
    } else if (!now.ok()) {
      ++flagged;
      std::string why = now.error().message;
      const std::size_t at = why.find(" in scan");
      why = why.substr(0, at);
      if (why.find("left over") != std::string::npos) why = "data left over after the last MCU";
      if (why.rfind("JPEG decoded with errors: DC coefficient", 0) == 0) why = "JPEG decoded with errors: DC coefficient out of range";
      ++reasons[why];
      cellcam::Image pixels;
      pixels.samples.assign(old, old + static_cast<std::size_t>(bw) * bh * bc);
      const double d = mean_abs_diff(pixels, clean.value().samples);
      if (d >= 0) flagged_diff += d, ++flagged_with_pixels;
    } else {
      ++silent;
      const double d = mean_abs_diff(now.value(), clean.value().samples);
      silent_diff += d;
      std::printf("SILENT %s (mean abs diff %.2f)\n", files[f].c_str(), d);
      if (!keep.empty()) {
        const std::string name = files[f].substr(files[f].find_last_of('/') + 1);
        std::ofstream(keep + "/" + name, std::ios::binary).write(reinterpret_cast<const char*>(bad.data()), bad.size());
      }
    }
    stbi_image_free(old);
  }
  std::printf("clean files: %d decoded (%d differ from stb's own pixels), %d refused\n", clean_ok, clean_differs, clean_refused);
  std::printf("corrupted (%d bytes, seed %llu): %d refused by the probe or stb as before; of the %d stb decoded "
              "silently before, %d are now refused as decoded with errors, %d still decode (%d without a scan)\n",
              nbytes, static_cast<unsigned long long>(seed), probe_or_stb, flagged + silent, flagged, silent, skipped);
  if (flagged_with_pixels) std::printf("mean abs diff of the refused ones (as stb decoded them): %.2f\n", flagged_diff / flagged_with_pixels);
  if (silent) std::printf("mean abs diff of the ones still decoded: %.2f\n", silent_diff / silent);
  for (const auto& r : reasons) std::printf("  %5d  %s\n", r.second, r.first.c_str());
  return clean_refused || clean_differs ? 1 : 0;
}
