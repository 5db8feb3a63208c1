# Unit tests of src/router: the broker state driven directly (packets and timer events in,
# actions out), the router's Asio shell (real timers, recording links), the in-process session,
# retained messages and the session store; security/ mirrors src/router/security.
add_executable(psos_router_tests ${CMAKE_CURRENT_LIST_DIR}/broker_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/router_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/local_client_test.cpp ${CMAKE_CURRENT_LIST_DIR}/persistence_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/retained_test.cpp)
target_link_libraries(psos_router_tests PRIVATE psos_router psos_warnings GTest::gtest GTest::gtest_main)
gtest_discover_tests(psos_router_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 30)

include(${CMAKE_CURRENT_LIST_DIR}/security/tests.cmake)
