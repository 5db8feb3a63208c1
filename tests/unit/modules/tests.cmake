# Unit tests of the modules' code: the pure parts (schedules, switch rules, payload values) and
# each module run for real as a service on an in-process router.
file(GLOB PSOS_MODULES_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.cpp)
add_executable(psos_modules_tests ${PSOS_MODULES_TEST_SOURCES})
target_link_libraries(psos_modules_tests PRIVATE
  psos_runtime psos_system psos_modules psos_warnings GTest::gtest GTest::gtest_main)
gtest_discover_tests(psos_modules_tests DISCOVERY_TIMEOUT 60)
