# Tests of src/client: the pure session state, and the client against real brokers (Mosquitto and
# psos broker as child processes on free loopback ports).
file(GLOB PSOS_CLIENT_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.cpp)
add_executable(psos_client_tests ${PSOS_CLIENT_TEST_SOURCES})
target_link_libraries(psos_client_tests PRIVATE psos_client psos_warnings GTest::gtest GTest::gtest_main)
target_compile_definitions(psos_client_tests PRIVATE PSOS_BINARY="$<TARGET_FILE:psos>")
add_dependencies(psos_client_tests psos)
gtest_discover_tests(psos_client_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 60)
