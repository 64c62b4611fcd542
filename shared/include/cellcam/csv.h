// cellcam/csv.h — one CSV cell as cellcam writes it, for every CSV a person may open in a spreadsheet:
// the page's CSV export and reviewed-set manifest note (through the wasm module) and `cellcam predict`.
// One rule, so the page and the CLI cannot disagree.
//
// Basic usage:
//   out << cellcam::csv_cell(file_name) << ',' << cellcam::csv_cell(label) << '\n';
//
// Formula neutralisation (CSV injection): a text beginning with '=', '+', '-', '@', a tab or a carriage
// return would be run as a formula by a spreadsheet, so csv_cell prefixes it with a single quote.
// A number ("-0.5", "+1", "1e-7", ".5") is a value, not a formula, and is left alone.
// Then RFC 4180: a cell holding a quote, comma, CR or LF is quoted, its quotes doubled.
// Pure functions, thread-safe, no errors.
#pragma once

#include <string>
#include <string_view>

namespace cellcam {

// True when text is a decimal number: [+-] digits [. digits] or [+-] . digits, then [eE [+-] digits].
bool csv_is_number(std::string_view text);

// The text with a leading ' when a spreadsheet would read it as a formula (see above); else unchanged.
std::string csv_neutralise(std::string_view text);

// RFC 4180 quoting only (fields that are data read back by cellcam itself, such as manifest paths).
std::string csv_quote(std::string_view text);

// csv_quote(csv_neutralise(text)): what every cell a person may open should be written as.
std::string csv_cell(std::string_view text);

}  // namespace cellcam
