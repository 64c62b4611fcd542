// version.cpp — CELLCAM_VERSION comes from CMake's project(VERSION).
#include "cellcam/version.h"

namespace cellcam {
const char* version_string() { return CELLCAM_VERSION; }
}  // namespace cellcam
