# Integration tests of the control plane with real processes (tests/integration/control/): the
# Python example psos_call.py against `psos broker` and a stand-in node; the fleet commands
# against nodes over Mosquitto and over a node's embedded broker; refused requests. One CTest
# entry per test file, named control.<file>. Run with /usr/bin/python3 (see broker.cmake).
find_program(PSOS_SYSTEM_PYTHON python3 PATHS /usr/bin NO_DEFAULT_PATH)

set(PSOS_CONTROL_TEST_DIR ${CMAKE_CURRENT_LIST_DIR}/control)
foreach(name test_psos_call test_fleet test_refusals test_deploy)
  if(PSOS_SYSTEM_PYTHON)
    add_test(NAME control.${name}
      COMMAND ${PSOS_SYSTEM_PYTHON} ${PSOS_CONTROL_TEST_DIR}/${name}.py
      WORKING_DIRECTORY ${PSOS_CONTROL_TEST_DIR})
  else()
    # No /usr/bin/python3: fail loudly rather than skip.
    add_test(NAME control.${name}
      COMMAND ${CMAKE_COMMAND} -E echo "control tests: /usr/bin/python3 not found (scripts/setup)")
    set_tests_properties(control.${name} PROPERTIES FAIL_REGULAR_EXPRESSION "not found")
  endif()
  set_tests_properties(control.${name} PROPERTIES
    ENVIRONMENT "PSOS_BINARY=$<TARGET_FILE:psos>;PYTHONDONTWRITEBYTECODE=1"
    LABELS "control;integration"
    TIMEOUT 90)
endforeach()
