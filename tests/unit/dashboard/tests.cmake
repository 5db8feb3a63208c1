# Unit tests of src/dashboard's pure part: the model (sampling, bounds, catching up).
file(GLOB PSOS_DASHBOARD_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.cpp)
add_executable(psos_dashboard_tests ${PSOS_DASHBOARD_TEST_SOURCES})
target_link_libraries(psos_dashboard_tests PRIVATE
  psos_dashboard_model psos_warnings GTest::gtest GTest::gtest_main)
gtest_discover_tests(psos_dashboard_tests DISCOVERY_TIMEOUT 60 TEST_PREFIX dashboard.)
