# Unit tests of src/system (reading, checking and expanding definitions, the schema) and of
# `psos check`, `psos modules` and `psos schema`, which the command tests run as the real binary.
file(GLOB PSOS_SYSTEM_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.cpp)
add_executable(psos_system_tests ${PSOS_SYSTEM_TEST_SOURCES})
target_link_libraries(psos_system_tests PRIVATE
  psos_system psos_modules psos_warnings GTest::gtest GTest::gtest_main GTest::gmock)
target_compile_definitions(psos_system_tests PRIVATE
  PSOS_SOURCE_DIR="${PROJECT_SOURCE_DIR}" PSOS_BINARY_DIR="${PROJECT_BINARY_DIR}")
add_dependencies(psos_system_tests psos)
gtest_discover_tests(psos_system_tests DISCOVERY_TIMEOUT 60)
