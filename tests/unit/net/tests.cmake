# Unit tests of src/net: URL parsing, and every transport over real loopback sockets.
file(GLOB PSOS_NET_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.cpp)
add_executable(psos_net_tests ${PSOS_NET_TEST_SOURCES})
target_link_libraries(psos_net_tests PRIVATE psos_net psos_warnings GTest::gtest GTest::gtest_main)
gtest_discover_tests(psos_net_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 20)
