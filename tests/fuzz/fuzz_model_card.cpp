// fuzz_model_card.cpp — libFuzzer target for the JSON readers of shared/: model.json (model_card.h),
// the preprocess spec (spec.h) and the architecture spec (model_spec.h), all fed the same bytes.
// Each must answer a typed error with a message or a value; a value must survive its own canonical
// writer: write(parse(x)) parses again, to the same canonical text.
//   make fuzz-all FUZZ_SECONDS=600     (seeds: models/*/model.json, tests/specs/*.json)
#include <cstddef>
#include <cstdint>
#include <string>

#include "cellcam/model_card.h"
#include "cellcam/model_spec.h"
#include "cellcam/spec.h"

namespace {

// A failure must explain itself; a success must round-trip through the canonical writer.
template <typename T, typename Parse, typename Write>
void check(const cellcam::Result<T>& parsed, Parse parse, Write write) {
  if (!parsed.ok()) {
    if (parsed.error().message.empty()) __builtin_trap();
    return;
  }
  const std::string canonical = write(parsed.value());
  const cellcam::Result<T> again = parse(canonical);
  if (!again.ok() || write(again.value()) != canonical) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (const bool require_onnx : {true, false}) {
    auto parse = [require_onnx](const std::string& t) { return cellcam::parse_model_card(t, require_onnx); };
    check(parse(text), parse, [](const cellcam::ModelCard& c) { return cellcam::model_card_to_json(c); });
  }
  check(cellcam::parse_preprocess_spec(text), cellcam::parse_preprocess_spec,
        [](const cellcam::PreprocessSpec& s) { return cellcam::preprocess_spec_to_json(s); });
  check(cellcam::parse_model_spec(text), cellcam::parse_model_spec,
        [](const cellcam::ModelSpec& s) { return cellcam::model_spec_to_json(s); });
  return 0;
}
