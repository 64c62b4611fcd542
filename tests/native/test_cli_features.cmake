# test_cli_features.cmake — `cellcam features` end to end: on the shipped model folder (models/malaria) and
# on a run folder it trains here in seconds (1 epoch, 16 px), it writes input.png, filters.png, one PNG per
# default layer and report.md; --list names the layers; an unknown layer and an unreadable image are
# one-line errors with exit 1.
file(REMOVE_RECURSE ${OUT})
set(cell ${DATA}/malaria/parasitized_P61_cell_164.png)
function(run_ok)
  execute_process(COMMAND ${CELLCAM} ${ARGN} RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cellcam ${ARGN}: exit ${rc}\n${err}")
  endif()
  set(last_out "${out}" PARENT_SCOPE)
endfunction()
function(expect_files dir)
  foreach(f input.png filters.png report.md ${ARGN})
    if(NOT EXISTS ${dir}/${f})
      message(FATAL_ERROR "${dir}/${f} was not written")
    endif()
  endforeach()
endfunction()

run_ok(features ${MODELS}/malaria ${cell} --out ${OUT}/model --threads 1)
expect_files(${OUT}/model features.2.png features.7.png features.12.png)
file(READ ${OUT}/model/report.md report)
if(NOT report MATCHES "\\| features\\.12 \\| relu \\| \\(128,16,16\\)")
  message(FATAL_ERROR "report.md lacks the features.12 row:\n${report}")
endif()
run_ok(features ${MODELS}/malaria --list)
if(NOT last_out MATCHES "features\\.7 +relu +\\(64,32,32\\) +yes \\(default\\)")
  message(FATAL_ERROR "--list does not mark features.7 as a default layer:\n${last_out}")
endif()

run_ok(train ${DATA}/train_smoke --out ${OUT}/run --preset malaria_base --image-size 16 --epochs 1 --batch-size 16 --threads 2)
run_ok(features ${OUT}/run ${cell} --out ${OUT}/run_features --layers features.0 --threads 1)
expect_files(${OUT}/run_features features.0.png)

foreach(bad "--layers;features.999" "--layers;nonsense")
  execute_process(COMMAND ${CELLCAM} features ${MODELS}/malaria ${cell} --out ${OUT}/bad ${bad}
                  RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
  if(NOT rc EQUAL 1 OR NOT err MATCHES "choose from: features\\.0")
    message(FATAL_ERROR "an unknown layer: exit ${rc}, '${err}'")
  endif()
endforeach()
execute_process(COMMAND ${CELLCAM} features ${MODELS}/malaria ${DATA}/malformed/compression_webp.tif --out ${OUT}/bad
                RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
string(STRIP "${err}" err)
if(NOT rc EQUAL 1 OR err MATCHES "\n" OR NOT err MATCHES "^cellcam features: ")
  message(FATAL_ERROR "an unreadable image: exit ${rc}, '${err}'")
endif()
