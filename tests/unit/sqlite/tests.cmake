# Unit tests of src/sqlite: statements, transactions and what the errors say.
add_executable(psos_sqlite_tests ${CMAKE_CURRENT_LIST_DIR}/database_test.cpp)
target_link_libraries(psos_sqlite_tests PRIVATE psos_sqlite psos_warnings GTest::gtest GTest::gtest_main)
gtest_discover_tests(psos_sqlite_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 30)
