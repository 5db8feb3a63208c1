// Writes the seed corpus of fuzz/fuzz_decoder.cpp: valid packets of every type in v3.1.1 and v5,
// each file a control byte (see the harness) followed by the encoding. Run once from the
// repository root after a build, and commit the files:
//   g++-12 -std=c++20 -Isrc tools/fuzz/make_decoder_seeds.cpp build/release/src/mqtt/libpsos_mqtt.a
//       -o /tmp/make_decoder_seeds && /tmp/make_decoder_seeds fuzz/corpus/fuzz_decoder
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "mqtt/codec.hpp"

using namespace psos::mqtt;

namespace {

struct Seed {
  std::string name;
  Version version;
  std::vector<Packet> packets;  // one stream
};

std::vector<Seed> seeds() {
  Properties connect_properties;
  connect_properties.session_expiry_interval = 3600;
  connect_properties.receive_maximum = 20;
  connect_properties.maximum_packet_size = 65536;
  connect_properties.topic_alias_maximum = 10;
  connect_properties.user_properties = {{"site", "north"}};
  Will will{"psos/greenhouse/e01/$state", "lost", QoS::AtLeastOnce, true, {}};
  Will will5 = will;
  will5.properties.will_delay_interval = 5;
  will5.properties.payload_format_indicator = 1;
  will5.properties.content_type = "text/plain";
  Connect connect5{Version::v5, "e01", true, 30, "user", "secret", will5, connect_properties};
  Connect connect3{Version::v311, "e01", false, 60, "user", "secret", will, {}};

  Properties connack_properties;
  connack_properties.assigned_client_identifier = "auto-1";
  connack_properties.topic_alias_maximum = 16;
  connack_properties.retain_available = 1;
  connack_properties.server_keep_alive = 120;
  Connack connack5{true, ReasonCode::Success, connack_properties};

  Properties publish_properties;
  publish_properties.payload_format_indicator = 1;
  publish_properties.message_expiry_interval = 60;
  publish_properties.topic_alias = 3;
  publish_properties.response_topic = "e01/reply";
  publish_properties.correlation_data = std::string_view("\x01\x02\x03", 3);
  publish_properties.subscription_identifiers = {7, 300};
  publish_properties.content_type = "application/json";
  publish_properties.user_properties = {{"unit", "C"}, {"unit", "F"}};
  const Publish publish0{
      "sensors/e01/dht", R"({"temp":21.5})", QoS::AtMostOnce, false, false, 0, {}};
  const Publish publish1{"sensors/e01/dht", "21.5", QoS::AtLeastOnce, true, false, 17, {}};
  const Publish publish2{"a/b", "", QoS::ExactlyOnce, false, true, 65535, {}};
  const Publish publish5{"sensors/e01/dht", "21.5", QoS::AtLeastOnce, false, false, 2,
                         publish_properties};

  Properties ack_properties;
  ack_properties.reason_string = "no one listens";
  ack_properties.user_properties = {{"k", "v"}};

  Properties subscribe_properties;
  subscribe_properties.subscription_identifier_available = std::nullopt;
  subscribe_properties.subscription_identifiers = {42};
  const std::vector<SubscribeTopic> topics3 = {{"+/dht", QoS::AtLeastOnce},
                                               {"sensors/#", QoS::AtMostOnce}};
  const std::vector<SubscribeTopic> topics5 = {
      {"+/dht", QoS::ExactlyOnce, true, true, RetainHandling::SendIfNewSubscription},
      {"$share/g/sensors/#", QoS::AtLeastOnce, false, false, RetainHandling::DoNotSend}};

  Properties disconnect_properties;
  disconnect_properties.reason_string = "bye";
  disconnect_properties.session_expiry_interval = 0;
  Properties auth_properties;
  auth_properties.authentication_method = "SCRAM-SHA-1";
  auth_properties.authentication_data = "client-first";

  return {
      {"v5-connect", Version::v5, {connect5}},
      {"v5-connect-minimal", Version::v5, {Connect{Version::v5, "", true, 0, {}, {}, {}, {}}}},
      {"v5-connack", Version::v5, {connack5}},
      {"v5-connack-refused", Version::v5, {Connack{false, ReasonCode::NotAuthorized, {}}}},
      {"v5-publish-qos0", Version::v5, {publish0}},
      {"v5-publish-qos1-properties", Version::v5, {publish5}},
      {"v5-publish-qos2", Version::v5, {publish2}},
      {"v5-puback", Version::v5, {Puback{17, ReasonCode::Success, {}}}},
      {"v5-puback-reason",
       Version::v5,
       {Puback{17, ReasonCode::NoMatchingSubscribers, ack_properties}}},
      {"v5-pubrec", Version::v5, {Pubrec{18, ReasonCode::Success, {}}}},
      {"v5-pubrel", Version::v5, {Pubrel{18, ReasonCode::PacketIdentifierNotFound, {}}}},
      {"v5-pubcomp", Version::v5, {Pubcomp{18, ReasonCode::Success, ack_properties}}},
      {"v5-subscribe", Version::v5, {Subscribe{3, topics5, subscribe_properties}}},
      {"v5-suback",
       Version::v5,
       {Suback{3, {ReasonCode::GrantedQos2, ReasonCode::NotAuthorized}, ack_properties}}},
      {"v5-unsubscribe", Version::v5, {Unsubscribe{4, {"+/dht", "sensors/#"}, {}}}},
      {"v5-unsuback",
       Version::v5,
       {Unsuback{4, {ReasonCode::Success, ReasonCode::NoSubscriptionExisted}, {}}}},
      {"v5-pingreq", Version::v5, {Pingreq{}}},
      {"v5-pingresp", Version::v5, {Pingresp{}}},
      {"v5-disconnect", Version::v5, {Disconnect{}}},
      {"v5-disconnect-reason",
       Version::v5,
       {Disconnect{ReasonCode::DisconnectWithWill, disconnect_properties}}},
      {"v5-auth", Version::v5, {Auth{ReasonCode::ContinueAuthentication, auth_properties}}},
      {"v5-stream",
       Version::v5,
       {connect5, Subscribe{3, topics5, {}}, publish0, publish1, Pingreq{}, Disconnect{}}},
      {"v311-connect", Version::v311, {connect3}},
      {"v311-connect-minimal",
       Version::v311,
       {Connect{Version::v311, "c", true, 0, {}, {}, {}, {}}}},
      {"v311-connack", Version::v311, {Connack{true, ReasonCode::Success, {}}}},
      {"v311-publish-qos0", Version::v311, {publish0}},
      {"v311-publish-qos1", Version::v311, {publish1}},
      {"v311-publish-qos2", Version::v311, {publish2}},
      {"v311-puback", Version::v311, {Puback{17, ReasonCode::Success, {}}}},
      {"v311-pubrec", Version::v311, {Pubrec{18, ReasonCode::Success, {}}}},
      {"v311-pubrel", Version::v311, {Pubrel{18, ReasonCode::Success, {}}}},
      {"v311-pubcomp", Version::v311, {Pubcomp{18, ReasonCode::Success, {}}}},
      {"v311-subscribe", Version::v311, {Subscribe{5, topics3, {}}}},
      {"v311-suback",
       Version::v311,
       {Suback{5, {ReasonCode::GrantedQos1, ReasonCode::UnspecifiedError}, {}}}},
      {"v311-unsubscribe", Version::v311, {Unsubscribe{6, {"+/dht"}, {}}}},
      {"v311-unsuback", Version::v311, {Unsuback{6, {}, {}}}},
      {"v311-pingreq", Version::v311, {Pingreq{}}},
      {"v311-pingresp", Version::v311, {Pingresp{}}},
      {"v311-disconnect", Version::v311, {Disconnect{}}},
      {"v311-stream",
       Version::v311,
       {connect3, Subscribe{5, topics3, {}}, publish1, Puback{1, ReasonCode::Success, {}},
        Pingreq{}, Disconnect{}}},
  };
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIRECTORY\n", argv[0]);
    return 2;
  }
  int index = 0;
  for (const Seed& seed : seeds()) {
    // Control byte: the version, and the four chunkings in turn (see fuzz/fuzz_decoder.cpp).
    std::string bytes(
        1, static_cast<char>((seed.version == Version::v5 ? 1 : 0) | ((index++ % 4) << 1)));
    for (const Packet& packet : seed.packets) {
      if (const Error error = encode(packet, seed.version, bytes)) {
        std::fprintf(stderr, "%s: %s\n", seed.name.c_str(), to_string(error).c_str());
        return 1;
      }
    }
    const std::string path = std::string(argv[1]) + "/" + seed.name;
    std::FILE* file = std::fopen(path.c_str(), "wb");
    if (file == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), file) != bytes.size() ||
        std::fclose(file) != 0) {
      std::perror(path.c_str());
      return 1;
    }
  }
  return 0;
}
