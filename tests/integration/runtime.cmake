# Integration tests of `psos run` (tests/integration/runtime/): nodes as real processes, with
# `psos sub`/`psos pub` and a Mosquitto on free loopback ports. Run with /usr/bin/python3.
find_program(PSOS_SYSTEM_PYTHON python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(PSOS_SYSTEM_PYTHON)
  add_test(NAME runtime.test_run
    COMMAND ${PSOS_SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/runtime/test_run.py
    WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR}/runtime)
  set_tests_properties(runtime.test_run PROPERTIES
    ENVIRONMENT "PSOS_BINARY=$<TARGET_FILE:psos>;PYTHONDONTWRITEBYTECODE=1"
    LABELS "runtime;integration" TIMEOUT 120)
endif()
if(PSOS_SYSTEM_PYTHON)
  add_test(NAME runtime.test_modules
    COMMAND ${PSOS_SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/runtime/test_modules.py
    WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR}/runtime)
  set_tests_properties(runtime.test_modules PROPERTIES
    ENVIRONMENT "PSOS_BINARY=$<TARGET_FILE:psos>;PYTHONDONTWRITEBYTECODE=1"
    LABELS "runtime;integration" TIMEOUT 180)
endif()
if(PSOS_SYSTEM_PYTHON)
  add_test(NAME runtime.test_multinode
    COMMAND ${PSOS_SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/runtime/test_multinode.py
    WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR}/runtime)
  set_tests_properties(runtime.test_multinode PROPERTIES
    ENVIRONMENT "PSOS_BINARY=$<TARGET_FILE:psos>;PYTHONDONTWRITEBYTECODE=1"
    LABELS "runtime;integration" TIMEOUT 240)
endif()
