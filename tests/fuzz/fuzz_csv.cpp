// fuzz_csv.cpp — libFuzzer target for the CSV reader behind every manifest, labels.csv and split.csv
// (parse_csv in native/data/dataset.h). Any bytes give rows or the one typed error (an open quote);
// rows written back with csv_field() read back to the same fields.
//   make fuzz-all FUZZ_SECONDS=600     (seeds: the fixtures' .csv files)
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using cellcam::data::CsvRow;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const cellcam::Result<std::vector<CsvRow>> rows = cellcam::data::parse_csv(text, "fuzz.csv");
  if (!rows.ok()) {
    if (rows.error().message.empty()) __builtin_trap();
    return 0;
  }
  // Write the rows back (skipping a row of one empty field: it is a blank line, which the reader drops).
  std::string written = "\xEF\xBB\xBF";  // a BOM, which the reader drops: a first field may start like one
  std::vector<const CsvRow*> kept;
  for (const CsvRow& row : rows.value()) {
    if (row.fields.empty() || (row.fields.size() == 1 && row.fields[0].empty())) continue;
    for (std::size_t i = 0; i < row.fields.size(); ++i) written += (i ? "," : "") + cellcam::data::csv_field(row.fields[i]);
    written += '\n';
    kept.push_back(&row);
  }
  const cellcam::Result<std::vector<CsvRow>> again = cellcam::data::parse_csv(written, "fuzz.csv");
  if (!again.ok() || again.value().size() != kept.size()) __builtin_trap();
  for (std::size_t r = 0; r < kept.size(); ++r)
    if (again.value()[r].fields != kept[r]->fields) __builtin_trap();
  return 0;
}
