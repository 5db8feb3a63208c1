# Integration tests of recovery (tests/integration/recovery/): psos run's supervisor, the crash
# log, the watchdog, safe mode and systemd notifications, with real processes and a Mosquitto on
# free loopback ports. Run with /usr/bin/python3.
find_program(PSOS_SYSTEM_PYTHON python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(PSOS_SYSTEM_PYTHON)
  add_test(NAME recovery.test_recovery
    COMMAND ${PSOS_SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/recovery/test_recovery.py
    WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR}/recovery)
  set_tests_properties(recovery.test_recovery PROPERTIES
    ENVIRONMENT "PSOS_BINARY=$<TARGET_FILE:psos>;PYTHONDONTWRITEBYTECODE=1"
    LABELS "recovery;integration" TIMEOUT 240)
else()
  add_test(NAME recovery.test_recovery
    COMMAND ${CMAKE_COMMAND} -E echo "recovery tests: /usr/bin/python3 not found (scripts/setup)")
  set_tests_properties(recovery.test_recovery PROPERTIES FAIL_REGULAR_EXPRESSION "not found")
endif()
