# Unit tests of src/router/security: the password file, the ACL, and `psos passwd`, which the
# passwd tests run as a real process.
add_executable(psos_router_security_tests
  ${CMAKE_CURRENT_LIST_DIR}/password_file_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/acl_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/passwd_command_test.cpp)
target_link_libraries(psos_router_security_tests PRIVATE
  psos_security psos_mqtt psos_warnings GTest::gtest GTest::gtest_main)
target_compile_definitions(psos_router_security_tests PRIVATE PSOS_BINARY_DIR="${PROJECT_BINARY_DIR}")
add_dependencies(psos_router_security_tests psos)
gtest_discover_tests(psos_router_security_tests DISCOVERY_TIMEOUT 60)
