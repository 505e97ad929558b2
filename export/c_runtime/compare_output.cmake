# compare_output.cmake: run a program (RUN, arguments separated by "|"; stdin from INPUT if given),
# save its stdout to ACTUAL and fail unless it exits with 0 and the output equals the file EXPECTED
# byte for byte.
string(REPLACE "|" ";" _cmd "${RUN}")
list(FILTER _cmd EXCLUDE REGEX "^$")
if(INPUT)
  execute_process(COMMAND ${_cmd} INPUT_FILE "${INPUT}" OUTPUT_VARIABLE _out RESULT_VARIABLE _rc TIMEOUT 120)
else()
  execute_process(COMMAND ${_cmd} OUTPUT_VARIABLE _out RESULT_VARIABLE _rc TIMEOUT 120)
endif()
file(WRITE "${ACTUAL}" "${_out}")
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "program exited with ${_rc}: ${_cmd}")
endif()
file(READ "${EXPECTED}" _expected)
if(NOT _out STREQUAL _expected)
  message(FATAL_ERROR "output differs from ${EXPECTED}; see ${ACTUAL}")
endif()
message(STATUS "output equals ${EXPECTED}")
