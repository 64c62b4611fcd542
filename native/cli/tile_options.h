// tile_options.h — the tile options of predict, gradcam and preprocess, checked against the page's
// limits (cellcam/limits.h) when they are parsed.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <string>

#include "cellcam/limits.h"

namespace cellcam::cli {

// A tile side: 0 (the command's default) or kMinTile..kMaxTile pixels.
inline CLI::Validator tile_side() {
  const std::string range = "0 or " + std::to_string(kMinTile) + " to " + std::to_string(kMaxTile);
  return CLI::Validator(
      [range](std::string& input) -> std::string {
        char* end = nullptr;
        const long value = std::strtol(input.c_str(), &end, 10);
        if (end == input.c_str() || *end != '\0') return "\"" + input + "\" is not a whole number";
        return value == 0 || (value >= kMinTile && value <= kMaxTile) ? "" : input + " is outside " + range;
      },
      "in " + range);
}

}  // namespace cellcam::cli
