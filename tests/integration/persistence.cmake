# `psos broker --data`: SIGKILL and restart in the middle of QoS 1 and QoS 2 streams, counted.
find_program(PSOS_SYSTEM_PYTHON python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(PSOS_SYSTEM_PYTHON)
  add_test(NAME broker.persistence
    COMMAND ${PSOS_SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/persistence/test_persistence.py
    WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR}/persistence)
  set_tests_properties(broker.persistence PROPERTIES TIMEOUT 240
    ENVIRONMENT "PSOS_BINARY=$<TARGET_FILE:psos>")
endif()
