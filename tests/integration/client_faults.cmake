# Fault tests of the client (issue 3), counted: broker killed and restarted 20 times under
# 10,000 QoS 1 + 10,000 QoS 2 messages, a half-open connection through a silent proxy, tc netem
# loss and delay in a network namespace (skipped where not permitted), and the durable queue
# across SIGKILL of the publishing process (psos_client_durable_driver).
add_executable(psos_client_durable_driver ${CMAKE_CURRENT_LIST_DIR}/client_faults/durable_driver.cpp)
target_link_libraries(psos_client_durable_driver PRIVATE psos_client psos_warnings)

add_executable(psos_client_fault_tests ${CMAKE_CURRENT_LIST_DIR}/client_faults/fault_test.cpp)
target_include_directories(psos_client_fault_tests PRIVATE ${PROJECT_SOURCE_DIR}/tests/unit/client)
target_link_libraries(psos_client_fault_tests PRIVATE psos_client psos_warnings GTest::gtest
                      GTest::gtest_main)
target_compile_definitions(psos_client_fault_tests PRIVATE
  PSOS_BINARY="$<TARGET_FILE:psos>"
  PSOS_DURABLE_DRIVER="$<TARGET_FILE:psos_client_durable_driver>")
add_dependencies(psos_client_fault_tests psos psos_client_durable_driver)
gtest_discover_tests(psos_client_fault_tests TEST_PREFIX "client_faults." DISCOVERY_TIMEOUT 60
  PROPERTIES TIMEOUT 150 RUN_SERIAL TRUE)
