# Integration tests of `psos broker` with real processes (tests/integration/broker/): Mosquitto's
# clients, python3-paho-mqtt, MQTT.js and a raw socket client against the broker, each test on
# its own broker on a free loopback port. One CTest entry per test file.
# Debian's python3-paho-mqtt belongs to /usr/bin/python3, which need not be the first python3
# on the PATH; node finds MQTT.js in tools/npm (scripts/setup installs it).
find_program(PSOS_SYSTEM_PYTHON python3 PATHS /usr/bin NO_DEFAULT_PATH)
find_program(NODE node)

set(PSOS_BROKER_TEST_DIR ${CMAKE_CURRENT_LIST_DIR}/broker)
# test file -> timeout in seconds (each bounds a run on a loaded 2-core machine)
set(PSOS_BROKER_TESTS
  test_protocol 60
  test_paho 150
  test_mosquitto_clients 90
  test_mqttjs 150
  test_security 90
  test_lifecycle 60
  test_connections 120
  test_delivery 60
  test_tls 60)

list(LENGTH PSOS_BROKER_TESTS count)
math(EXPR last "${count} - 1")
foreach(i RANGE 0 ${last} 2)
  math(EXPR j "${i} + 1")
  list(GET PSOS_BROKER_TESTS ${i} name)
  list(GET PSOS_BROKER_TESTS ${j} timeout)
  # A sanitized psos is a binary of some 800 MB that takes about 2 s to start, and these tests
  # start a broker per test: the same bound, three times over.
  if(PSOS_SANITIZE)
    math(EXPR timeout "${timeout} * 3")
  endif()
  if(PSOS_SYSTEM_PYTHON)
    add_test(NAME broker.${name}
      COMMAND ${PSOS_SYSTEM_PYTHON} ${PSOS_BROKER_TEST_DIR}/${name}.py
      WORKING_DIRECTORY ${PSOS_BROKER_TEST_DIR})
  else()
    # No /usr/bin/python3: fail loudly rather than skip.
    add_test(NAME broker.${name}
      COMMAND ${CMAKE_COMMAND} -E echo "broker tests: /usr/bin/python3 not found (scripts/setup)")
    set_tests_properties(broker.${name} PROPERTIES FAIL_REGULAR_EXPRESSION "not found")
  endif()
  set_tests_properties(broker.${name} PROPERTIES
    ENVIRONMENT "PSOS_BINARY=$<TARGET_FILE:psos>;NODE=${NODE};PYTHONDONTWRITEBYTECODE=1"
    LABELS "broker;integration"
    TIMEOUT ${timeout})
endforeach()
