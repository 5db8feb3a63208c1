# Unit tests of src/control: keys, trust files, signed requests and the gate's checks, replies;
# `psos keygen` run as the real binary; the Python example's requests checked by the C++ gate.
# NodeDirectory and node names (the fleet commands' pure parts); planning a deploy (deploy_plan).
file(GLOB PSOS_CONTROL_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.cpp)
add_executable(psos_control_tests ${PSOS_CONTROL_TEST_SOURCES})
target_link_libraries(psos_control_tests PRIVATE
  psos_control psos_control_caller psos_control_deploy psos_security psos_warnings GTest::gtest
  GTest::gtest_main)
target_compile_definitions(psos_control_tests PRIVATE
  PSOS_SOURCE_DIR="${PROJECT_SOURCE_DIR}" PSOS_BINARY_DIR="${PROJECT_BINARY_DIR}")
add_dependencies(psos_control_tests psos)
gtest_discover_tests(psos_control_tests DISCOVERY_TIMEOUT 60 TEST_PREFIX control.)
