// version.h — the library version, set by CMake from project(VERSION).
#pragma once

namespace cellcam {
const char* version_string();
}  // namespace cellcam
