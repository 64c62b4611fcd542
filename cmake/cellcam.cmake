# cellcam.cmake — helpers shared by every CMakeLists in the project.

# Header-only system libraries (stb, nlohmann) live in /usr/include, which must never be on an
# Emscripten include path (it would pull glibc headers into a wasm build). Expose just their folders
# through symlinks in the build tree: `#include <stb/stb_image.h>`, `#include <nlohmann/json.hpp>`.
set(CELLCAM_SYSTEM_INCLUDE ${CMAKE_BINARY_DIR}/system_include)
foreach(header stb/stb_image.h stb/stb_image_resize.h stb/stb_image_write.h stb/stb_easy_font.h nlohmann/json.hpp)
  if(NOT EXISTS /usr/include/${header})
    message(FATAL_ERROR "/usr/include/${header} is missing: run scripts/setup.sh (it installs libstb-dev and nlohmann-json3-dev)")
  endif()
endforeach()
file(MAKE_DIRECTORY ${CELLCAM_SYSTEM_INCLUDE}/stb)
if(NOT EXISTS ${CELLCAM_SYSTEM_INCLUDE}/nlohmann)
  file(CREATE_LINK /usr/include/nlohmann ${CELLCAM_SYSTEM_INCLUDE}/nlohmann SYMBOLIC)
endif()
foreach(header stb_image_resize.h stb_image_write.h stb_easy_font.h)
  if(NOT EXISTS ${CELLCAM_SYSTEM_INCLUDE}/stb/${header})
    file(CREATE_LINK /usr/include/stb/${header} ${CELLCAM_SYSTEM_INCLUDE}/stb/${header} SYMBOLIC)
  endif()
endforeach()

# stb_image.h 2.27, as Debian 12 ships it, reads out of bounds in stbi__jpeg_huff_decode on crafted
# progressive JPEGs (found by our fuzzer: tests/data/malformed/fuzz_jpeg_huffman_oob.jpg). Upstream
# bounds the symbol index since 2.28. Until Debian ships that, the build uses Debian's header with
# that one check added; a header that already has it is used as it is.
file(READ /usr/include/stb/stb_image.h stb_image_text)
set(stb_anchor "   c = ((j->code_buffer >> (32 - k)) & stbi__bmask[k]) + h->delta[k];\n")
if(stb_image_text MATCHES "symbol id out of bounds")
  set(stb_image_patched "${stb_image_text}")
else()
  string(REPLACE "${stb_anchor}"
         "${stb_anchor}   if (c < 0 || c >= 256) return -1;  // cellcam: bound the symbol index (upstream 2.28)\n"
         stb_image_patched "${stb_image_text}")
  if(stb_image_patched STREQUAL stb_image_text)
    message(FATAL_ERROR "stb_image.h: the Huffman decode line to bound was not found; check cmake/cellcam.cmake")
  endif()
endif()
if(IS_SYMLINK ${CELLCAM_SYSTEM_INCLUDE}/stb OR IS_SYMLINK ${CELLCAM_SYSTEM_INCLUDE}/stb/stb_image.h)
  file(REMOVE ${CELLCAM_SYSTEM_INCLUDE}/stb ${CELLCAM_SYSTEM_INCLUDE}/stb/stb_image.h)
endif()
set(stb_image_current "")
if(EXISTS ${CELLCAM_SYSTEM_INCLUDE}/stb/stb_image.h)
  file(READ ${CELLCAM_SYSTEM_INCLUDE}/stb/stb_image.h stb_image_current)
endif()
if(NOT stb_image_current STREQUAL stb_image_patched)  # rewrite only on change: no needless rebuilds
  file(WRITE ${CELLCAM_SYSTEM_INCLUDE}/stb/stb_image.h "${stb_image_patched}")
endif()

# Compile flags every cellcam target gets. Strict floating point is what makes the native and the
# wasm tensors bit-identical: no FMA contraction, no fast-math.
function(cellcam_target_defaults target)
  target_compile_features(${target} PUBLIC cxx_std_17)
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
  target_compile_options(${target} PRIVATE -Wall -Wextra -ffp-contract=off -fno-fast-math)
  if(EMSCRIPTEN)
    target_compile_options(${target} PRIVATE -fexceptions)
  endif()
  if(CELLCAM_SANITIZE_ADDRESS)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

# cellcam_add_test(test_name SOURCES a.cpp ... [LIBS lib ...] [LABELS unit ...])
# The same test source runs natively and, in the Emscripten build, under node.
function(cellcam_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  cellcam_target_defaults(${name})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE CELLCAM_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data")
  if(EMSCRIPTEN)
    # NODERAWFS: tests read fixtures straight from the disk; exceptions must be catchable for gtest.
    target_link_options(${name} PRIVATE -sNODERAWFS=1 -sALLOW_MEMORY_GROWTH=1 -fexceptions -sEXIT_RUNTIME=1)
    # .cjs: the repository's package.json says "type": "module", and these runners are CommonJS.
    set_target_properties(${name} PROPERTIES SUFFIX ".cjs"
                          CROSSCOMPILING_EMULATOR "${CELLCAM_NODE};--no-experimental-fetch")
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set(labels ${ARG_LABELS})
  if(EMSCRIPTEN)
    list(APPEND labels wasm)
  else()
    list(APPEND labels native)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${labels}")
endfunction()
