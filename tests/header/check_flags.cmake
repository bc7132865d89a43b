# Run by ctest (tests/header/CMakeLists.txt): flags_ok.c compiles cleanly
# with -Werror, flags_misuse.c (an open flag passed as an insertion flag)
# does not, and the reason given is the enum conversion, not something else.
foreach(v CC INC SRC)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "check_flags.cmake: -D${v}= missing")
  endif()
endforeach()
set(flags -std=gnu11 -fsyntax-only -Wall -Wextra -Wenum-conversion -Werror -I${INC})

execute_process(COMMAND ${CC} ${flags} ${SRC}/flags_ok.c
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "flags_ok.c should compile cleanly:\n${out}")
endif()

execute_process(COMMAND ${CC} ${flags} ${SRC}/flags_misuse.c
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "flags_misuse.c compiled: SHARENA_CREATE passed as an "
          "insertion flag drew no warning")
endif()
if(NOT out MATCHES "enum-conversion")
  message(FATAL_ERROR "flags_misuse.c failed, but not for the enum "
          "conversion:\n${out}")
endif()
message(STATUS "misuse rejected:\n${out}")
