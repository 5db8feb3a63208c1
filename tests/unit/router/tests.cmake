# Unit tests of the router core (src/router/router.cpp) without sockets: fake links, real timers.
add_executable(psos_broker_tests ${CMAKE_CURRENT_LIST_DIR}/router_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/local_client_test.cpp ${CMAKE_CURRENT_LIST_DIR}/store_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/retained_test.cpp)
target_link_libraries(psos_broker_tests PRIVATE psos_router psos_warnings GTest::gtest GTest::gtest_main)
gtest_discover_tests(psos_broker_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 30)
