# The dashboard with real processes (tests/integration/dashboard/): its HTTP/WebSocket server
# against a node over Mosquitto (dashboard.test_server), and the page in Debian's Chromium driven
# by playwright-core (dashboard.test_browser, which writes screenshots of every view to
# <build>/dashboard-screenshots). Run with /usr/bin/python3 (see broker.cmake).
find_program(PSOS_SYSTEM_PYTHON python3 PATHS /usr/bin NO_DEFAULT_PATH)

set(PSOS_DASHBOARD_TEST_DIR ${CMAKE_CURRENT_LIST_DIR}/dashboard)
foreach(name test_server test_browser test_node_dashboard)
  if(PSOS_SYSTEM_PYTHON)
    add_test(NAME dashboard.${name}
      COMMAND ${PSOS_SYSTEM_PYTHON} ${PSOS_DASHBOARD_TEST_DIR}/${name}.py
      WORKING_DIRECTORY ${PSOS_DASHBOARD_TEST_DIR})
  else()
    add_test(NAME dashboard.${name}
      COMMAND ${CMAKE_COMMAND} -E echo "dashboard tests: /usr/bin/python3 not found (scripts/setup)")
    set_tests_properties(dashboard.${name} PROPERTIES FAIL_REGULAR_EXPRESSION "not found")
  endif()
  set_tests_properties(dashboard.${name} PROPERTIES
    ENVIRONMENT "PSOS_BINARY=$<TARGET_FILE:psos>;PYTHONDONTWRITEBYTECODE=1;PSOS_SCREENSHOTS=${PROJECT_BINARY_DIR}/dashboard-screenshots"
    LABELS "dashboard;integration"
    TIMEOUT 180)
endforeach()
