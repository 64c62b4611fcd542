// tiff_lzw.cpp — walks one LZW-compressed TIFF strip or tile the way libtiff 4.5 decodes it
// (tif_lzw.c), counting the bytes it yields instead of storing them. probe_tiff() runs it over every
// LZW chunk of the first page, so a stream libtiff would refuse is refused by both builds before any
// decoder sees it (utif2 loops for as long as the page lets it on some of them).
//
// What libtiff 4.5 does, and so what this does:
//   - codes are 9 to 12 bits, most significant bit first; the width grows one code early ("early
//     change": after the table's free slot passes 2^n - 2), and stays 12 once there;
//   - a strip must start with Clear (256): the table is "full" until the first one;
//   - a code above the next free slot is "not yet in table"; the next free slot itself is KwKwK;
//   - after Clear, codes above 257 are refused, repeated Clears are skipped;
//   - the table takes 5119 entries (4095 + 1024 for old files); past that only Clear or EOI;
//   - decoding stops as soon as the strip's bytes are out (data after that is never read); EOI
//     before then, or data ending before then, is an error ("Not enough data", "not terminated").
// Old-style ("compat") streams, written by libtiff before 1991: least significant bit first, no early
// change. libtiff recognises them by the first chunk's first two bytes (0x00, then an odd byte) and
// decodes every chunk of the file that way; so does probe_tiff().
// Cost: a handful of operations per code, no allocation beyond a 10 KB table on the stack.
#include <array>
#include <cstdint>
#include <string>

#include "cellcam/tiff_probe.h"

namespace cellcam {
namespace {

constexpr int kClear = 256;
constexpr int kEoi = 257;
constexpr int kFirst = 258;
constexpr int kTableSize = 4095 + 1024;  // libtiff's CSIZE with LZW_COMPAT

constexpr std::array<std::uint8_t, 256> make_reversed() {
  std::array<std::uint8_t, 256> t{};
  for (int i = 0; i < 256; ++i) {
    int r = 0;
    for (int b = 0; b < 8; ++b) r |= ((i >> b) & 1) << (7 - b);
    t[i] = static_cast<std::uint8_t>(r);
  }
  return t;
}
constexpr std::array<std::uint8_t, 256> kReversed = make_reversed();

// Codes of `bits` bits from a byte span, through a 64-bit buffer refilled eight bytes at a time;
// FillOrder 2 bytes are bit-reversed on the fly, as libtiff reverses the raw strip before decoding it.
template <bool kOldStyle, bool kReversedBits>
class CodeReader {
 public:
  CodeReader(const std::uint8_t* data, std::size_t size) : d_(data), n_(size) {}

  // False when fewer than `bits` bits are left.
  bool next(int bits, int* code) {
    if (held_ < bits) {
      refill();
      if (held_ < bits) return false;
    }
    if (kOldStyle) {
      *code = static_cast<int>(buf_ & ((1u << bits) - 1));
      buf_ >>= bits;
    } else {
      *code = static_cast<int>(buf_ >> (64 - bits));
      buf_ <<= bits;
    }
    held_ -= bits;
    return true;
  }
  std::uint64_t byte_position() const { return (static_cast<std::uint64_t>(at_) * 8 - static_cast<unsigned>(held_)) >> 3; }

 private:
  std::uint64_t byte(std::size_t i) const { return kReversedBits ? kReversed[d_[i]] : d_[i]; }
  // Tops the buffer up to at least 57 bits, or to the end of the data.
  void refill() {
    if (!kReversedBits && at_ + 8 <= n_) {
      std::uint64_t w = 0;
      for (int i = 0; i < 8; ++i) w |= static_cast<std::uint64_t>(d_[at_ + i]) << (kOldStyle ? 8 * i : 56 - 8 * i);
      buf_ |= kOldStyle ? w << held_ : w >> held_;
      const int taken = (63 - held_) >> 3;
      at_ += static_cast<std::size_t>(taken);
      held_ += 8 * taken;
      return;
    }
    while (held_ <= 56 && at_ < n_) {
      buf_ |= kOldStyle ? byte(at_) << held_ : byte(at_) << (56 - held_);
      ++at_;
      held_ += 8;
    }
  }
  const std::uint8_t* d_;
  std::size_t n_;
  std::size_t at_ = 0;     // next byte to load
  std::uint64_t buf_ = 0;  // held bits: the top ones (MSB first) or the bottom ones (old style)
  int held_ = 0;
};

template <bool kOldStyle, bool kReversedBits>
TiffLzwCheck walk(const std::uint8_t* data, std::size_t size, std::uint64_t expected) {
  TiffLzwCheck r;
  CodeReader<kOldStyle, kReversedBits> in(data, size);
  // Only lengths are kept: the walk needs how many bytes a code yields, never which.
  std::array<std::uint16_t, kTableSize> length;
  for (int c = 0; c < 256; ++c) length[c] = 1;
  int free = -1;            // next free slot; -1 (or kTableSize) means "full": only Clear or EOI may follow
  int bits = 9;
  int max_free = 510;       // the width grows once `free` passes this
  int old = 0;
  bool cleared = false;
  std::uint64_t out = 0;

  auto fail = [&](const std::string& what) {
    r.ok = false;
    r.problem = what;
    r.decoded = out;
    return r;
  };
  // Fewer bytes than the chunk needs: libtiff's "Not enough data" / "not terminated with EOI code".
  auto short_of = [&](bool data_ended) {
    r.truncated = data_ended;
    return fail(data_ended ? "data end after " + std::to_string(out) + " of " + std::to_string(expected) +
                                 " bytes, without an EOI code"
                           : "EOI code after " + std::to_string(out) + " of " + std::to_string(expected) + " bytes");
  };
  auto not_in_table = [&](int code, std::uint64_t at) {
    return fail("code " + std::to_string(code) + " at byte " + std::to_string(at) + " not yet in table");
  };

  while (out < expected) {
    std::uint64_t at = in.byte_position();
    int code;
    if (!in.next(bits, &code)) return short_of(true);
    if (code == kEoi) return short_of(false);
    if (code == kClear) {
      cleared = true;
      free = kFirst;
      bits = 9;
      max_free = kOldStyle ? 511 : 510;
      do {
        at = in.byte_position();
        if (!in.next(bits, &code)) return short_of(true);
      } while (code == kClear);
      if (code == kEoi) return short_of(false);
      if (code > kEoi) return not_in_table(code, at);
      out += 1;
      old = code;
      continue;
    }
    if (free < 0 || free >= kTableSize)
      return fail(cleared ? "code " + std::to_string(code) + " at byte " + std::to_string(at) +
                                " after the code table filled, without a Clear code"
                          : "does not start with a Clear code");
    if (code > free) return not_in_table(code, at);
    length[free] = static_cast<std::uint16_t>(length[old] + 1);  // code == free: KwKwK, this very entry
    if (++free > max_free) {
      if (bits < 12) ++bits;
      max_free = kOldStyle ? (1 << bits) - 1 : (1 << bits) - 2;
      if (!kOldStyle && free >= kTableSize) free = -1;
    }
    old = code;
    out += length[code];
  }
  r.decoded = expected;
  return r;
}

}  // namespace

bool tiff_lzw_is_old_style(const std::uint8_t* first_chunk, std::size_t size, bool reversed_bits) {
  if (size < 2) return false;
  const std::uint8_t b0 = reversed_bits ? kReversed[first_chunk[0]] : first_chunk[0];
  const std::uint8_t b1 = reversed_bits ? kReversed[first_chunk[1]] : first_chunk[1];
  return b0 == 0 && (b1 & 1) != 0;
}

TiffLzwCheck check_tiff_lzw_chunk(const std::uint8_t* data, std::size_t size, std::uint64_t expected, bool old_style,
                                  bool reversed_bits) {
  if (old_style) return reversed_bits ? walk<true, true>(data, size, expected) : walk<true, false>(data, size, expected);
  return reversed_bits ? walk<false, true>(data, size, expected) : walk<false, false>(data, size, expected);
}

}  // namespace cellcam
