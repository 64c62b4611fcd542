// fixtures.cpp — see fixtures.h.
#include "fixtures.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

namespace cellcam::test {

std::string data_path(const std::string& relative) { return std::string(CELLCAM_TEST_DATA_DIR) + "/" + relative; }

std::vector<std::uint8_t> read_fixture(const std::string& relative) {
  std::ifstream in(data_path(relative), std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << data_path(relative) << " (regenerate: scripts/make_fixtures.sh)";
  return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace cellcam::test
