// jpeg_check.cpp — Huffman-decode every scan of a JPEG and check it ends exactly where its data does.
// See jpeg_check.h for what is checked and why. Follows ITU T.81 (Annexes F and G) and, where the
// standard leaves a corrupt case open, libjpeg's decoder (jdhuff.c, jdphuff.c).
#include "jpeg_check.h"

#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "byte_reader.h"

namespace cellcam {
namespace {

constexpr int kMaxDcCategory = 11;  // 8-bit samples: DC differences need at most 11 bits
constexpr int kMaxAcSize = 10;      // ... AC coefficients at most 10
constexpr int kMaxDc = 2047;        // a DC coefficient is within ±1024 (quantised by >= 1); twice that is corrupt

std::string marker_name(int m) {
  if (m < 0) return "the end of the file";
  if (m >= 0xD0 && m <= 0xD7) return "marker RST" + std::to_string(m - 0xD0);
  switch (m) {
    case 0xD9: return "marker EOI";
    case 0xDA: return "marker SOS";
    case 0xC4: return "marker DHT";
    case 0xDB: return "marker DQT";
    case 0xDD: return "marker DRI";
    case 0xFE: return "marker COM";
    default: break;
  }
  static const char* hex = "0123456789ABCDEF";
  return std::string("marker 0xFF") + hex[(m >> 4) & 15] + hex[m & 15];
}

// ---------------------------------------------------------------------------------------------
// Huffman table: canonical codes from the 16 BITS counts (T.81 C.2), decoded as F.2.2.3 DECODE.
struct HuffTable {
  bool defined = false;
  int maxcode[17] = {};  // largest code of each length, -1 when there is none
  int valptr[17] = {};   // values index of a code of this length = valptr[l] + code
  int count = 0;
  std::uint8_t values[256] = {};
};

bool build_table(HuffTable& t, const std::uint8_t* bits, const std::uint8_t* values, int count) {
  int code = 0, k = 0;
  for (int l = 1; l <= 16; ++l) {
    t.valptr[l] = k - code;
    code += bits[l - 1];
    k += bits[l - 1];
    if (code > (1 << l)) return false;  // more codes than this length has room for
    t.maxcode[l] = bits[l - 1] ? code - 1 : -1;
    code <<= 1;
  }
  t.count = count;
  std::memcpy(t.values, values, static_cast<std::size_t>(count));
  t.defined = true;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Bits of one entropy-coded segment, most significant first, 0xFF00 unstuffed. The segment ends at the
// first 0xFF not followed by 0x00 (a marker, with any fill bytes before it) or at the end of the file.
class BitReader {
 public:
  BitReader(ByteSpan b, std::size_t pos) : b_(b), pos_(pos) {}

  // Fewer bits than asked for means the segment ended: the caller reports premature end of data.
  int bit() {
    if (count_ < 1 && !fill(1)) return -1;
    const int v = static_cast<int>(acc_ >> 63);
    take(1);
    return v;
  }
  int bits(int n) {  // 1..16
    if (count_ < n && !fill(n)) return -1;
    const int v = static_cast<int>(acc_ >> (64 - n));
    take(n);
    return v;
  }
  // -1: no code of the table; -2: the segment ends inside the code.
  int huff(const HuffTable& t) {
    if (count_ < 16) fill(16);
    int code = 0;
    for (int l = 1; l <= 16; ++l) {
      if (l > count_) return -2;
      code = static_cast<int>(acc_ >> (64 - l));
      if (code <= t.maxcode[l]) {
        const int index = t.valptr[l] + code;
        if (index < 0 || index >= t.count) return -1;
        take(l);
        return t.values[index];
      }
    }
    return -1;
  }

  // After the last MCU of a segment: the whole bytes between the bits read and the marker (the rest
  // of the current byte is padding), and whether any of them is not zero.
  void leftover(std::size_t* bytes, bool* nonzero) {
    *bytes = static_cast<std::size_t>(count_ / 8);
    const int whole_bits = count_ / 8 * 8;
    *nonzero = whole_bits > 0 && ((acc_ << (count_ % 8)) >> (64 - whole_bits)) != 0;
    while (!ended_) {
      const std::uint8_t byte = next_byte();
      if (ended_) break;
      ++*bytes;
      *nonzero = *nonzero || byte != 0;
    }
  }
  // Where the marker that ends the segment starts (its first 0xFF), or the file size.
  std::size_t end() const { return pos_; }

 private:
  bool fill(int need) {
    while (count_ <= 56 && !ended_) {
      const std::uint8_t byte = next_byte();
      if (ended_) break;
      acc_ |= static_cast<std::uint64_t>(byte) << (56 - count_);
      count_ += 8;
    }
    return count_ >= need;
  }
  std::uint8_t next_byte() {
    if (pos_ >= b_.size) {
      ended_ = true;
      return 0;
    }
    const std::uint8_t byte = b_.u8(pos_);
    if (byte == 0xFF) {
      if (pos_ + 1 < b_.size && b_.u8(pos_ + 1) == 0x00) {
        pos_ += 2;
        return 0xFF;
      }
      ended_ = true;  // a marker: pos_ stays on it
      return 0;
    }
    ++pos_;
    return byte;
  }
  void take(int n) {
    acc_ = n == 64 ? 0 : acc_ << n;
    count_ -= n;
  }

  ByteSpan b_;
  std::size_t pos_;
  std::uint64_t acc_ = 0;
  int count_ = 0;  // real bits in acc_, from the top
  bool ended_ = false;
};

int extend(int v, int s) { return v < (1 << (s - 1)) ? v - (1 << s) + 1 : v; }  // T.81 F.2.2.1

// ---------------------------------------------------------------------------------------------
struct Component {
  int id = 0, h = 1, v = 1;
  int blocks_w = 0, blocks_h = 0;  // the component's own block grid (a non-interleaved scan's MCUs)
  int scans = 0;                   // sequential: how many scans cover it
  int coef_al[64];                 // progressive: Al of the last scan that sent each coefficient, -1: none
  std::vector<std::uint64_t> nonzero;  // progressive: bit k of block b: coefficient k (zigzag) is not zero
  // Per scan:
  const HuffTable* dc = nullptr;
  const HuffTable* ac = nullptr;
  int pred = 0;
};

class Checker {
 public:
  explicit Checker(ByteSpan b) : b_(b) {}
  std::optional<Error> run();

 private:
  std::optional<Error> corrupt(const std::string& what) const {
    return make_error(ErrorCode::kCorrupt, "JPEG decoded with errors: " + what);
  }
  std::optional<Error> frame(std::size_t pos, int marker);
  std::optional<Error> scan(std::size_t pos, std::size_t length, std::size_t* end);
  // One block of the current scan; false with problem_ set. `block` indexes a component's own grid
  // (used by the progressive AC scans, which are never interleaved).
  bool block(Component& c, std::size_t block);
  bool sequential_block(Component& c);
  bool dc_first(Component& c);
  bool ac_first(Component& c, std::size_t block);
  bool ac_refine(Component& c, std::size_t block);
  bool no_data() { return fail("premature end of data"); }
  bool fail(const std::string& what) {
    problem_ = what;
    return false;
  }
  int marker_at(std::size_t pos) const {  // the marker code at pos (after fill bytes), -1 at the end
    while (pos + 1 < b_.size && b_.u8(pos) == 0xFF && b_.u8(pos + 1) == 0xFF) ++pos;
    return pos + 1 < b_.size && b_.u8(pos) == 0xFF ? b_.u8(pos + 1) : -1;
  }

  ByteSpan b_;
  HuffTable dc_tables_[4], ac_tables_[4];
  int restart_interval_ = 0;
  bool have_frame_ = false, progressive_ = false;
  int mcus_x_ = 0, mcus_y_ = 0;
  std::vector<Component> components_;
  int scan_number_ = 0;
  // Current scan.
  std::vector<Component*> in_scan_;
  int ss_ = 0, se_ = 63, ah_ = 0, al_ = 0;
  unsigned eobrun_ = 0;
  BitReader* bits_ = nullptr;
  std::string problem_;
};

std::optional<Error> Checker::run() {
  std::size_t pos = 2;  // after SOI
  while (true) {
    if (!b_.has(pos, 2) || b_.u8(pos) != 0xFF) return std::nullopt;  // the probe reports these
    while (b_.has(pos, 2) && b_.u8(pos + 1) == 0xFF) ++pos;
    if (!b_.has(pos, 2)) return std::nullopt;
    const int marker = b_.u8(pos + 1);
    pos += 2;
    if (marker == 0xD9) break;  // EOI
    if (marker >= 0xD0 && marker <= 0xD7) return corrupt(marker_name(marker) + " outside scan data");
    if (marker == 0x01) continue;
    if (!b_.has(pos, 2)) return std::nullopt;
    const std::size_t length = b_.be16(pos);
    if (length < 2 || !b_.has(pos, length)) return std::nullopt;
    if (marker == 0xC4) {  // DHT
      std::size_t p = pos + 2;
      while (p + 17 <= pos + length) {
        const int id = b_.u8(p);
        int count = 0;
        for (int i = 1; i <= 16; ++i) count += b_.u8(p + i);
        if ((id >> 4) > 1 || (id & 15) > 3 || count > 256 || p + 17 + count > pos + length)
          return corrupt("bad Huffman table");
        HuffTable& t = (id >> 4) ? ac_tables_[id & 15] : dc_tables_[id & 15];
        if (!build_table(t, b_.data + p + 1, b_.data + p + 17, count)) return corrupt("bad Huffman table");
        p += 17 + static_cast<std::size_t>(count);
      }
    } else if (marker == 0xDD) {  // DRI
      if (length != 4) return corrupt("bad restart interval");
      restart_interval_ = b_.be16(pos + 2);
    } else if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
      if (std::optional<Error> e = frame(pos, marker)) return e;
    } else if (marker == 0xDA) {
      std::size_t end = 0;
      if (std::optional<Error> e = scan(pos, length, &end)) return e;
      pos = end;
      continue;
    }
    pos += length;
  }
  if (!have_frame_) return std::nullopt;
  for (std::size_t i = 0; i < components_.size(); ++i) {
    const Component& c = components_[i];
    if (!progressive_ && c.scans == 0) return corrupt("component " + std::to_string(i + 1) + " is in no scan");
    if (progressive_ && c.coef_al[0] < 0)
      return corrupt("no scan sends the DC coefficients of component " + std::to_string(i + 1));
  }
  return std::nullopt;
}

std::optional<Error> Checker::frame(std::size_t pos, int marker) {
  if (have_frame_) return corrupt("a second frame header");
  if (marker != 0xC0 && marker != 0xC1 && marker != 0xC2) return std::nullopt;  // refused before this runs
  const std::size_t length = b_.be16(pos);
  if (length < 8) return corrupt("bad frame header");
  const int height = b_.be16(pos + 3), width = b_.be16(pos + 5), n = b_.u8(pos + 7);
  if (b_.u8(pos + 2) != 8 || n < 1 || n > 4 || length != 8 + 3u * n || width == 0 || height == 0)
    return corrupt("bad frame header");
  components_.resize(static_cast<std::size_t>(n));
  int hmax = 1, vmax = 1;
  for (int i = 0; i < n; ++i) {
    Component& c = components_[static_cast<std::size_t>(i)];
    c.id = b_.u8(pos + 8 + 3 * i);
    c.h = b_.u8(pos + 9 + 3 * i) >> 4;
    c.v = b_.u8(pos + 9 + 3 * i) & 15;
    if (c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4) return corrupt("bad sampling factors");
    hmax = c.h > hmax ? c.h : hmax;
    vmax = c.v > vmax ? c.v : vmax;
    for (int& al : c.coef_al) al = -1;
  }
  for (Component& c : components_) {
    const int cw = (width * c.h + hmax - 1) / hmax, ch = (height * c.v + vmax - 1) / vmax;  // T.81 A.1.1
    c.blocks_w = (cw + 7) / 8;
    c.blocks_h = (ch + 7) / 8;
  }
  mcus_x_ = (width + 8 * hmax - 1) / (8 * hmax);
  mcus_y_ = (height + 8 * vmax - 1) / (8 * vmax);
  progressive_ = marker == 0xC2;
  have_frame_ = true;
  return std::nullopt;
}

std::optional<Error> Checker::scan(std::size_t pos, std::size_t length, std::size_t* end) {
  ++scan_number_;
  const std::string where = "scan " + std::to_string(scan_number_);
  if (!have_frame_ || length < 6) return corrupt("bad scan header");
  const std::size_t ns = b_.u8(pos + 2);
  if (ns < 1 || ns > 4 || length != 6 + 2 * ns) return corrupt("bad scan header");
  in_scan_.clear();
  for (std::size_t k = 0; k < ns; ++k) {
    const int id = b_.u8(pos + 3 + 2 * k), tables = b_.u8(pos + 4 + 2 * k);
    Component* c = nullptr;
    for (Component& candidate : components_)
      if (candidate.id == id) c = &candidate;
    if (!c || (tables >> 4) > 3 || (tables & 15) > 3) return corrupt("bad scan header");
    c->dc = &dc_tables_[tables >> 4];
    c->ac = &ac_tables_[tables & 15];
    c->pred = 0;
    in_scan_.push_back(c);
  }
  ss_ = b_.u8(pos + 3 + 2 * ns);
  se_ = b_.u8(pos + 4 + 2 * ns);
  ah_ = b_.u8(pos + 5 + 2 * ns) >> 4;
  al_ = b_.u8(pos + 5 + 2 * ns) & 15;
  if (!progressive_) {
    ss_ = 0, se_ = 63, ah_ = 0, al_ = 0;  // as stb and libjpeg read a sequential scan
  } else {
    if (ss_ > se_ || se_ > 63 || (ss_ == 0 && se_ != 0) || (ss_ > 0 && ns != 1) || al_ > 13 ||
        (ah_ != 0 && al_ != ah_ - 1))
      return corrupt(where + " has inconsistent progression parameters");
  }
  // Every table this scan decodes with must exist (the probe refuses this too).
  const bool uses_dc = !progressive_ || (ss_ == 0 && ah_ == 0);
  const bool uses_ac = !progressive_ || ss_ > 0;
  for (Component* c : in_scan_)
    if ((uses_dc && !c->dc->defined) || (uses_ac && !c->ac->defined))
      return corrupt(where + " uses an undefined Huffman table");
  // Progression bookkeeping (libjpeg's coef_bits): a refinement must follow the scan it refines.
  for (Component* c : in_scan_) {
    const std::string which = "component " + std::to_string(c - components_.data() + 1);
    if (!progressive_) {
      if (++c->scans > 1) return corrupt(which + " is in more than one scan");
      continue;
    }
    if (ss_ > 0 && c->coef_al[0] < 0) return corrupt(where + " sends AC coefficients of " + which + " before its DC");
    for (int k = ss_; k <= se_; ++k) {
      const int expected = c->coef_al[k] < 0 ? 0 : c->coef_al[k];
      if (ah_ != expected)
        return corrupt(where + " refines coefficient " + std::to_string(k) + " of " + which +
                       (c->coef_al[k] < 0 ? " before it was sent" : " out of order"));
      c->coef_al[k] = al_;
    }
    if (ss_ > 0 && c->nonzero.empty()) {
      try {
        c->nonzero.assign(static_cast<std::size_t>(c->blocks_w) * static_cast<std::size_t>(c->blocks_h), 0);
      } catch (const std::bad_alloc&) {
        return make_error(ErrorCode::kOutOfMemory, "out of memory checking a progressive JPEG");
      }
    }
  }

  // MCUs: one block each when the scan has one component, else every component's h x v blocks.
  const bool single = ns == 1;
  const std::size_t total = single ? static_cast<std::size_t>(in_scan_[0]->blocks_w) * in_scan_[0]->blocks_h
                                   : static_cast<std::size_t>(mcus_x_) * mcus_y_;
  const std::size_t interval = restart_interval_ > 0 ? static_cast<std::size_t>(restart_interval_) : total;
  std::size_t p = pos + length, mcu = 0;
  for (int restart = 0;; ++restart) {
    BitReader reader(b_, p);
    bits_ = &reader;
    eobrun_ = 0;
    for (Component* c : in_scan_) c->pred = 0;
    const std::size_t stop = total - mcu < interval ? total : mcu + interval;
    for (; mcu < stop; ++mcu) {
      bool ok = true;
      if (single) {
        ok = block(*in_scan_[0], mcu);
      } else {
        for (Component* c : in_scan_)
          for (int n = 0; ok && n < c->h * c->v; ++n) ok = block(*c, 0);
      }
      if (!ok) {
        std::string what = problem_ + " in " + where + " at MCU " + std::to_string(mcu + 1) + " of " + std::to_string(total);
        if (problem_ == "premature end of data") {
          std::size_t left = 0;
          bool nonzero = false;
          reader.leftover(&left, &nonzero);
          what += " (the data stops at " + marker_name(marker_at(reader.end())) + ")";
        }
        return corrupt(what);
      }
    }
    std::size_t left = 0;
    bool nonzero = false;
    reader.leftover(&left, &nonzero);
    const std::size_t at = reader.end();
    const int marker = marker_at(at);
    if (left > 0 && nonzero)
      return corrupt(std::to_string(left) + (left == 1 ? " byte" : " bytes") + " of data left over after MCU " +
                     std::to_string(mcu) + " of " + std::to_string(total) + " in " + where);
    if (mcu == total) {
      if (marker >= 0xD0 && marker <= 0xD7)
        return corrupt(marker_name(marker) + " after the last MCU of " + where);
      *end = at;
      return std::nullopt;
    }
    const int expected = 0xD0 + restart % 8;
    if (marker != expected)
      return corrupt((marker >= 0xD0 && marker <= 0xD7 ? marker_name(marker) + " where RST" + std::to_string(restart % 8) +
                                                             " was expected"
                                                       : "missing restart marker RST" + std::to_string(restart % 8) +
                                                             " (found " + marker_name(marker) + ")") +
                     " after MCU " + std::to_string(mcu) + " of " + std::to_string(total) + " in " + where);
    p = at;
    while (p < b_.size && b_.u8(p) == 0xFF) ++p;
    ++p;  // the RST code byte
  }
}

bool Checker::block(Component& c, std::size_t index) {
  if (!progressive_) return sequential_block(c);
  if (ss_ == 0) {
    if (ah_ == 0) return dc_first(c);
    return bits_->bit() >= 0 || no_data();  // DC refinement: one bit per block
  }
  if (index >= c.nonzero.size()) return fail("block outside the image");
  return ah_ == 0 ? ac_first(c, index) : ac_refine(c, index);
}

bool Checker::dc_first(Component& c) {
  const int t = bits_->huff(*c.dc);
  if (t == -2) return no_data();
  if (t < 0) return fail("bad Huffman code");
  if (t > kMaxDcCategory) return fail("DC difference of category " + std::to_string(t) + " (at most 11)");
  int diff = 0;
  if (t > 0) {
    const int v = bits_->bits(t);
    if (v < 0) return no_data();
    diff = extend(v, t);
  }
  c.pred += diff;
  const long long dc = static_cast<long long>(c.pred) * (1LL << al_);
  if (dc > kMaxDc || dc < -kMaxDc) return fail("DC coefficient " + std::to_string(dc) + " out of range");
  return true;
}

bool Checker::sequential_block(Component& c) {
  if (!dc_first(c)) return false;
  for (int k = 1; k <= 63; ++k) {
    const int rs = bits_->huff(*c.ac);
    if (rs == -2) return no_data();
    if (rs < 0) return fail("bad Huffman code");
    const int r = rs >> 4, s = rs & 15;
    if (s == 0) {
      if (r == 0) return true;  // EOB
      if (r != 15) return fail("AC symbol 0x" + std::string(1, "0123456789ABCDEF"[r]) + "0 (a run with no coefficient)");
      k += 15;  // ZRL: 16 zeros
      if (k > 63) return fail("a run of zeros past the end of a block");
      continue;
    }
    k += r;
    if (k > 63) return fail("a run of zeros past the end of a block");
    if (s > kMaxAcSize) return fail("AC coefficient of size " + std::to_string(s) + " (at most 10)");
    if (bits_->bits(s) < 0) return no_data();
  }
  return true;
}

bool Checker::ac_first(Component& c, std::size_t index) {
  if (eobrun_ > 0) {
    --eobrun_;
    return true;
  }
  std::uint64_t& nz = c.nonzero[index];
  for (int k = ss_; k <= se_; ++k) {
    const int rs = bits_->huff(*c.ac);
    if (rs == -2) return no_data();
    if (rs < 0) return fail("bad Huffman code");
    const int r = rs >> 4, s = rs & 15;
    if (s == 0) {
      if (r == 15) {
        k += 15;
        if (k > se_) return fail("a run of zeros past the end of a band");
        continue;
      }
      unsigned run = 1u << r;
      if (r > 0) {
        const int extra = bits_->bits(r);
        if (extra < 0) return no_data();
        run += static_cast<unsigned>(extra);
      }
      eobrun_ = run - 1;
      return true;
    }
    k += r;
    if (k > se_) return fail("a run of zeros past the end of a band");
    if (s > kMaxAcSize) return fail("AC coefficient of size " + std::to_string(s) + " (at most 10)");
    if (bits_->bits(s) < 0) return no_data();
    nz |= 1ull << k;
  }
  return true;
}

bool Checker::ac_refine(Component& c, std::size_t index) {
  std::uint64_t& nz = c.nonzero[index];
  int k = ss_;
  if (eobrun_ == 0) {
    for (; k <= se_; ++k) {
      const int rs = bits_->huff(*c.ac);
      if (rs == -2) return no_data();
      if (rs < 0) return fail("bad Huffman code");
      int r = rs >> 4;
      const int s = rs & 15;
      if (s != 0) {
        if (s != 1) return fail("bad Huffman code");  // a refinement adds coefficients of magnitude 1
        if (bits_->bit() < 0) return no_data();
      } else if (r != 15) {
        eobrun_ = 1u << r;
        if (r > 0) {
          const int extra = bits_->bits(r);
          if (extra < 0) return no_data();
          eobrun_ += static_cast<unsigned>(extra);
        }
        break;
      }
      // Skip r coefficients that are still zero (correcting the nonzero ones on the way), then place s.
      bool placed = false;
      for (; k <= se_; ++k) {
        if (nz >> k & 1) {
          if (bits_->bit() < 0) return no_data();
        } else if (--r < 0) {
          placed = true;
          break;
        }
      }
      if (!placed) return fail("a run of zeros past the end of a band");
      if (s != 0) nz |= 1ull << k;
    }
  }
  if (eobrun_ > 0) {
    for (; k <= se_; ++k)
      if ((nz >> k & 1) && bits_->bit() < 0) return no_data();
    --eobrun_;
  }
  return true;
}

}  // namespace

std::optional<Error> check_jpeg_stream(const std::uint8_t* bytes, std::size_t size) {
  if (bytes == nullptr || size < 4) return std::nullopt;
  return Checker(ByteSpan{bytes, size}).run();
}

}  // namespace cellcam
