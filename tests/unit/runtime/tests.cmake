# Unit tests of src/runtime's recovery parts that need no running node: the black box written and
# read back, crash records from it, the crash log's keeping, safe mode's decision.
add_executable(psos_runtime_tests ${CMAKE_CURRENT_LIST_DIR}/crash_log_test.cpp)
target_link_libraries(psos_runtime_tests PRIVATE psos_runtime psos_warnings GTest::gtest GTest::gtest_main)
gtest_discover_tests(psos_runtime_tests DISCOVERY_TIMEOUT 60 TEST_PREFIX recovery. PROPERTIES TIMEOUT 30)
