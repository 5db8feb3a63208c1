# Unit tests of src/bridge: the forwarding core alone (messages in, decisions out), and the
# uplink joined to a real Mosquitto or psos broker child process.
add_executable(psos_bridge_tests ${CMAKE_CURRENT_LIST_DIR}/forward_test.cpp)
target_link_libraries(psos_bridge_tests PRIVATE psos_bridge psos_warnings GTest::gtest GTest::gtest_main)
gtest_discover_tests(psos_bridge_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 30)

add_executable(psos_uplink_tests ${CMAKE_CURRENT_LIST_DIR}/uplink_test.cpp)
target_include_directories(psos_uplink_tests PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../client)
target_link_libraries(psos_uplink_tests PRIVATE psos_bridge psos_warnings GTest::gtest GTest::gtest_main)
target_compile_definitions(psos_uplink_tests PRIVATE PSOS_BINARY="$<TARGET_FILE:psos>")
add_dependencies(psos_uplink_tests psos)
gtest_discover_tests(psos_uplink_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 60)
