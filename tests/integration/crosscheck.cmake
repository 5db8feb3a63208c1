# Cross-check of the codec against MQTT.js's mqtt-packet (an independent implementation), three
# chained tests: mqtt-packet generates the vectors, psos decodes and re-encodes them, mqtt-packet
# reads psos's encodings back. mqtt-packet comes from tools/npm (scripts/setup installs it).
find_package(nlohmann_json 3 REQUIRED)

add_executable(psos_crosscheck_tests ${PROJECT_SOURCE_DIR}/tests/crosscheck/crosscheck_test.cpp)
target_link_libraries(psos_crosscheck_tests PRIVATE
  psos_mqtt psos_warnings GTest::gtest nlohmann_json::nlohmann_json)

set(PSOS_CROSSCHECK_DIR ${CMAKE_BINARY_DIR}/crosscheck)
set(PSOS_CROSSCHECK_VECTORS ${PSOS_CROSSCHECK_DIR}/vectors.json)
set(PSOS_CROSSCHECK_OURS ${PSOS_CROSSCHECK_DIR}/psos_encodings.json)

find_program(NODE node)
if(NODE)
  # The scripts load mqtt-packet from tools/npm/node_modules themselves and fail, naming
  # scripts/setup, when it is not installed.
  add_test(NAME crosscheck.generate_vectors
    COMMAND ${NODE} ${PROJECT_SOURCE_DIR}/tools/interop/mqtt_packet_vectors.js ${PSOS_CROSSCHECK_VECTORS})
  add_test(NAME crosscheck.mqtt_packet_readback
    COMMAND ${NODE} ${PROJECT_SOURCE_DIR}/tools/interop/mqtt_packet_readback.js
            ${PSOS_CROSSCHECK_VECTORS} ${PSOS_CROSSCHECK_OURS})
else()
  # No node: fail loudly rather than skip.
  foreach(name generate_vectors mqtt_packet_readback)
    add_test(NAME crosscheck.${name}
      COMMAND ${CMAKE_COMMAND} -E echo "crosscheck: node not found (Node.js 20): run scripts/setup")
    set_tests_properties(crosscheck.${name} PROPERTIES FAIL_REGULAR_EXPRESSION "node not found")
  endforeach()
endif()

add_test(NAME crosscheck.psos_codec
  COMMAND psos_crosscheck_tests --vectors ${PSOS_CROSSCHECK_VECTORS} --out ${PSOS_CROSSCHECK_OURS})

set_tests_properties(crosscheck.generate_vectors PROPERTIES
  FIXTURES_SETUP crosscheck_vectors)
set_tests_properties(crosscheck.psos_codec PROPERTIES
  FIXTURES_REQUIRED crosscheck_vectors FIXTURES_SETUP crosscheck_encodings)
set_tests_properties(crosscheck.mqtt_packet_readback PROPERTIES
  FIXTURES_REQUIRED "crosscheck_vectors;crosscheck_encodings")
set_tests_properties(crosscheck.generate_vectors crosscheck.psos_codec crosscheck.mqtt_packet_readback
  PROPERTIES LABELS "crosscheck;integration" TIMEOUT 300)
