// csv.cpp — CSV cells: formula neutralisation and RFC 4180 quoting (cellcam/csv.h).
#include "cellcam/csv.h"

namespace cellcam {

namespace {
bool is_digit(char c) { return c >= '0' && c <= '9'; }
}  // namespace

bool csv_is_number(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
  size_t digits = 0;
  while (i < n && is_digit(s[i])) { ++i; ++digits; }
  if (i < n && s[i] == '.') {
    ++i;
    while (i < n && is_digit(s[i])) { ++i; ++digits; }
  }
  if (digits == 0) return false;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    size_t exponent = 0;
    while (i < n && is_digit(s[i])) { ++i; ++exponent; }
    if (exponent == 0) return false;
  }
  return i == n;
}

std::string csv_neutralise(std::string_view s) {
  const bool formula = !s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r');
  if (!formula || csv_is_number(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 1);
  out += '\'';
  out += s;
  return out;
}

std::string csv_quote(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string csv_cell(std::string_view s) { return csv_quote(csv_neutralise(s)); }

}  // namespace cellcam
