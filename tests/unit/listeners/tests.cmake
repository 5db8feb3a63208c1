# Unit tests of src/listeners: a router's connections over real loopback sockets.
add_executable(psos_listeners_tests ${CMAKE_CURRENT_LIST_DIR}/connection_test.cpp)
target_link_libraries(psos_listeners_tests PRIVATE psos_listeners psos_warnings GTest::gtest GTest::gtest_main)
gtest_discover_tests(psos_listeners_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 30)
