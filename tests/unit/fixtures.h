// fixtures.h — read test fixtures from tests/data (absolute path baked in at build time; under node the
// wasm tests reach the real disk through NODERAWFS).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cellcam::test {

std::string data_path(const std::string& relative);
std::vector<std::uint8_t> read_fixture(const std::string& relative);  // fails the test if missing

}  // namespace cellcam::test
