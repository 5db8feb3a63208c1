# Unit tests of the Lua layer (src/script): sandbox, limits, conversions, errors with lines.
add_executable(psos_script_tests ${CMAKE_CURRENT_LIST_DIR}/script_test.cpp)
target_link_libraries(psos_script_tests PRIVATE psos_script psos_warnings GTest::gtest GTest::gtest_main)
gtest_discover_tests(psos_script_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 30)
