# `psos bench` against `psos broker` on a free loopback port (tests/integration/bench/): every
# message of a short QoS 1 and QoS 2 run arrives exactly once. Measures nothing: speed is for
# scripts/bench_broker.
find_program(PSOS_SYSTEM_PYTHON python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(PSOS_SYSTEM_PYTHON)
  add_test(NAME bench.psos_broker
    COMMAND ${PSOS_SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/bench/bench_against_psos_broker.py
            $<TARGET_FILE:psos>)
else()
  # No /usr/bin/python3: fail loudly rather than skip.
  add_test(NAME bench.psos_broker
    COMMAND ${CMAKE_COMMAND} -E echo "bench test: /usr/bin/python3 not found: run scripts/setup")
  set_tests_properties(bench.psos_broker PROPERTIES FAIL_REGULAR_EXPRESSION "not found")
endif()
set_tests_properties(bench.psos_broker PROPERTIES
  ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1" LABELS "bench;integration" TIMEOUT 120)
