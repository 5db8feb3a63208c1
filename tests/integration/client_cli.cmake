# Integration tests of `psos pub` and `psos sub` with real processes (tests/integration/client_cli/):
# against `psos broker` and a Mosquitto the tests start on free loopback ports. One CTest entry per
# test file, named client_cli.<file>. Run with /usr/bin/python3 (see broker.cmake).
find_program(PSOS_SYSTEM_PYTHON python3 PATHS /usr/bin NO_DEFAULT_PATH)

set(PSOS_CLIENT_CLI_TEST_DIR ${CMAKE_CURRENT_LIST_DIR}/client_cli)
# test file -> timeout in seconds (each bounds a run on a loaded 2-core machine)
set(PSOS_CLIENT_CLI_TESTS
  test_pubsub 90
  test_security 60
  test_sessions 90)

list(LENGTH PSOS_CLIENT_CLI_TESTS count)
math(EXPR last "${count} - 1")
foreach(i RANGE 0 ${last} 2)
  math(EXPR j "${i} + 1")
  list(GET PSOS_CLIENT_CLI_TESTS ${i} name)
  list(GET PSOS_CLIENT_CLI_TESTS ${j} timeout)
  if(PSOS_SYSTEM_PYTHON)
    add_test(NAME client_cli.${name}
      COMMAND ${PSOS_SYSTEM_PYTHON} ${PSOS_CLIENT_CLI_TEST_DIR}/${name}.py
      WORKING_DIRECTORY ${PSOS_CLIENT_CLI_TEST_DIR})
  else()
    add_test(NAME client_cli.${name}
      COMMAND ${CMAKE_COMMAND} -E echo "client_cli tests: /usr/bin/python3 not found (scripts/setup)")
    set_tests_properties(client_cli.${name} PROPERTIES FAIL_REGULAR_EXPRESSION "not found")
  endif()
  set_tests_properties(client_cli.${name} PROPERTIES
    ENVIRONMENT "PSOS_BINARY=$<TARGET_FILE:psos>;PYTHONDONTWRITEBYTECODE=1"
    LABELS "client;integration"
    TIMEOUT ${timeout})
endforeach()
