# Unit tests of src/modules: the pure parts (schedules, switch rules, payload values) and each
# module run for real as a service on an in-process router (module_harness.hpp).
file(GLOB PSOS_MODULES_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.cpp)
add_executable(psos_modules_tests ${PSOS_MODULES_TEST_SOURCES})
target_link_libraries(psos_modules_tests PRIVATE
  psos_runtime psos_system psos_modules psos_warnings GTest::gtest GTest::gtest_main)
target_compile_definitions(psos_modules_tests PRIVATE PSOS_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
gtest_discover_tests(psos_modules_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 30)
# The module README.md shows ("Writing a module in C++"), compiled here so that it cannot rot.
target_sources(psos_modules_tests PRIVATE ${PROJECT_SOURCE_DIR}/examples/modules/counter.cpp)
