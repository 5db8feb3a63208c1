# Modules running for real: a router and a runtime::Service on an io_context, fed and watched
# through in-process sessions.
file(GLOB PSOS_MODULES_IO_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*_test.cpp)
add_executable(psos_modules_io_tests ${PSOS_MODULES_IO_TEST_SOURCES})
target_link_libraries(psos_modules_io_tests PRIVATE psos_runtime psos_warnings GTest::gtest GTest::gtest_main)
gtest_discover_tests(psos_modules_io_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 30)
# The module README.md shows ("Writing a module in C++"), compiled here so that it cannot rot.
target_sources(psos_modules_io_tests PRIVATE ${PROJECT_SOURCE_DIR}/examples/modules/counter.cpp)
target_compile_definitions(psos_modules_io_tests PRIVATE PSOS_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
