# cellcam.cmake — helpers shared by every CMakeLists in the project.

# Header-only system libraries (stb, nlohmann) live in /usr/include, which must never be on an
# Emscripten include path (it would pull glibc headers into a wasm build). Expose just their folders
# through symlinks in the build tree: `#include <stb/stb_image.h>`, `#include <nlohmann/json.hpp>`.
set(CELLCAM_SYSTEM_INCLUDE ${CMAKE_BINARY_DIR}/system_include)
foreach(dir stb nlohmann)
  if(NOT EXISTS /usr/include/${dir})
    message(FATAL_ERROR "/usr/include/${dir} is missing: run scripts/setup.sh (it installs libstb-dev and nlohmann-json3-dev)")
  endif()
  if(NOT EXISTS ${CELLCAM_SYSTEM_INCLUDE}/${dir})
    file(MAKE_DIRECTORY ${CELLCAM_SYSTEM_INCLUDE})
    file(CREATE_LINK /usr/include/${dir} ${CELLCAM_SYSTEM_INCLUDE}/${dir} SYMBOLIC)
  endif()
endforeach()

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
