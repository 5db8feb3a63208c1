// StreamDecoder: the same stream cut every way decodes to the same packets; packets inside one
// chunk are views into it (zero copy); packets split across chunks are assembled; the maximum
// packet size is enforced from the fixed header; errors are final.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "codec_test_util.hpp"
#include "mqtt/codec.hpp"
#include "mqtt/stream_decoder.hpp"

namespace psos::mqtt {
namespace {

using test::encode_ok;
using test::hex;
using test::to_hex;
using Status = StreamDecoder::Status;

// Calls `f` on every non-empty string view a packet holds.
template <typename F>
void for_each_view(const Properties& p, F&& f) {
  for (const auto& view :
       {p.content_type, p.response_topic, p.correlation_data, p.assigned_client_identifier,
        p.authentication_method, p.authentication_data, p.response_information, p.server_reference,
        p.reason_string}) {
    if (view) f(*view);
  }
  for (const auto& user : p.user_properties) {
    f(user.name);
    f(user.value);
  }
}
template <typename F>
void for_each_view(const Packet& packet, F&& f) {
  std::visit(
      [&f](const auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, Connect>) {
          f(p.client_id);
          if (p.username) f(*p.username);
          if (p.password) f(*p.password);
          if (p.will) {
            f(p.will->topic);
            f(p.will->payload);
            for_each_view(p.will->properties, f);
          }
        } else if constexpr (std::is_same_v<T, Publish>) {
          f(p.topic);
          f(p.payload);
        } else if constexpr (std::is_same_v<T, Subscribe>) {
          for (const auto& topic : p.topics)
            f(topic.filter);
        } else if constexpr (std::is_same_v<T, Unsubscribe>) {
          for (const auto& filter : p.filters)
            f(filter);
        }
        if constexpr (!std::is_same_v<T, Pingreq> && !std::is_same_v<T, Pingresp>) {
          for_each_view(p.properties, f);
        }
      },
      packet);
}

bool inside(std::string_view view, std::string_view range) {
  return view.data() >= range.data() && view.data() + view.size() <= range.data() + range.size();
}

// ~50 packets of every type, small and large (one needs a three-byte remaining length and is
// larger than the biggest chunk), v5.
class CodecStreamDecoder : public ::testing::Test {
 protected:
  void SetUp() override {
    big_payload_.assign(70'000, 'b');
    for (std::size_t i = 0; i < big_payload_.size(); ++i) {
      big_payload_[i] = static_cast<char>('a' + i % 23);
    }
    medium_payload_.assign(300, 'm');

    for (std::uint16_t round = 1; round <= 4; ++round) {
      Publish qos0;
      qos0.topic = "sensors/temp";
      qos0.payload = "21.5";
      Publish qos1;
      qos1.topic = "a/b";
      qos1.payload = medium_payload_;
      qos1.qos = QoS::AtLeastOnce;
      qos1.packet_id = round;
      qos1.properties.user_properties = {{"k", "v"}};
      qos1.properties.subscription_identifiers = {round, 1000};
      Publish qos2;
      qos2.topic = "";
      qos2.properties.topic_alias = 3;
      qos2.payload = round % 2 ? std::string_view(big_payload_) : std::string_view("x");
      qos2.qos = QoS::ExactlyOnce;
      qos2.packet_id = static_cast<std::uint16_t>(100 + round);
      qos2.retain = true;
      Puback puback;
      puback.packet_id = round;
      Pubrec pubrec;
      pubrec.packet_id = static_cast<std::uint16_t>(100 + round);
      pubrec.reason = ReasonCode::NoMatchingSubscribers;
      Pubrel pubrel;
      pubrel.packet_id = static_cast<std::uint16_t>(100 + round);
      pubrel.properties.reason_string = "released";
      Pubcomp pubcomp;
      pubcomp.packet_id = static_cast<std::uint16_t>(100 + round);
      Subscribe subscribe;
      subscribe.packet_id = static_cast<std::uint16_t>(200 + round);
      subscribe.topics = {{"a/+", QoS::AtLeastOnce}, {"$share/g/b/#", QoS::ExactlyOnce}};
      Suback suback;
      suback.packet_id = subscribe.packet_id;
      suback.reasons = {ReasonCode::GrantedQos1, ReasonCode::NotAuthorized};
      Unsubscribe unsubscribe;
      unsubscribe.packet_id = static_cast<std::uint16_t>(300 + round);
      unsubscribe.filters = {"a/+"};
      Unsuback unsuback;
      unsuback.packet_id = unsubscribe.packet_id;
      unsuback.reasons = {ReasonCode::Success};

      if (round == 1) {
        Connect connect;
        connect.client_id = "client-1";
        connect.username = "user";
        connect.password = std::string_view("\x00\x01pw", 4);
        connect.will = Will{"will/t", "gone", QoS::AtLeastOnce, true, {}};
        connect.will->properties.content_type = "text/plain";
        packets_.push_back(connect);
        Connack connack;
        connack.properties.assigned_client_identifier = "auto";
        packets_.push_back(connack);
        Auth auth;
        auth.reason = ReasonCode::ContinueAuthentication;
        auth.properties.authentication_method = "SCRAM";
        auth.properties.authentication_data = "data";
        packets_.push_back(auth);
      }
      for (const Packet& p : std::initializer_list<Packet>{qos0, qos1, qos2, puback, pubrec, pubrel,
                                                           pubcomp, subscribe, suback, Pingreq{},
                                                           Pingresp{}, unsubscribe, unsuback}) {
        packets_.push_back(p);
      }
    }
    Disconnect disconnect;
    disconnect.reason = ReasonCode::DisconnectWithWill;
    packets_.push_back(disconnect);

    for (const Packet& p : packets_) {
      starts_.push_back(stream_.size());
      stream_ += encode_ok(p, Version::v5);
    }
    starts_.push_back(stream_.size());
  }

  // Feeds the stream in chunks of `size` bytes, each in its own buffer that is overwritten once
  // the decoder asks for more, and checks every packet as it comes out.
  void feed_in_chunks(std::size_t size) {
    SCOPED_TRACE(::testing::Message() << "chunk size " << size);
    StreamDecoder decoder(Version::v5);
    std::size_t next = 0;
    std::size_t in_place = 0;
    for (std::size_t offset = 0; offset < stream_.size(); offset += size) {
      std::string chunk = stream_.substr(offset, size);
      decoder.feed(chunk);
      Packet out;
      Status status;
      while ((status = decoder.next(out)) == Status::Ready) {
        ASSERT_LT(next, packets_.size());
        const std::size_t start = starts_[next];
        const std::size_t end = starts_[next + 1];
        EXPECT_EQ(out, packets_[next]) << "packet " << next;
        EXPECT_EQ(to_hex(decoder.raw()),
                  to_hex(std::string_view(stream_).substr(start, end - start)))
            << "packet " << next;
        for_each_view(out, [&](std::string_view view) {
          if (!view.empty()) {
            EXPECT_TRUE(inside(view, decoder.raw())) << "packet " << next;
          }
        });
        if (start >= offset && end <= offset + chunk.size()) {
          // Zero copy: the packet and its views lie in the caller's chunk.
          ++in_place;
          EXPECT_EQ(decoder.raw().data(), chunk.data() + (start - offset)) << "packet " << next;
        }
        ++next;
      }
      ASSERT_EQ(status, Status::NeedMore) << to_string(decoder.error());
      const std::size_t fed = std::min(stream_.size(), offset + size);
      EXPECT_EQ(decoder.buffered(), fed - starts_[next]);
      chunk.assign(chunk.size(), '\xAA');
    }
    EXPECT_EQ(next, packets_.size());
    EXPECT_EQ(decoder.buffered(), 0u);
    if (size >= stream_.size()) {
      EXPECT_EQ(in_place, packets_.size());
    }
  }

  std::string big_payload_;
  std::string medium_payload_;
  std::vector<Packet> packets_;
  std::vector<std::size_t> starts_;
  std::string stream_;
};

TEST_F(CodecStreamDecoder, StreamHasEveryPacketType) {
  EXPECT_GE(packets_.size(), 50u);
  std::vector<bool> seen(16, false);
  for (const Packet& p : packets_)
    seen[static_cast<std::size_t>(type_of(p))] = true;
  for (int type = 1; type <= 15; ++type)
    EXPECT_TRUE(seen[static_cast<std::size_t>(type)]) << type;
}

TEST_F(CodecStreamDecoder, WholeStreamDecodesInPlace) {
  feed_in_chunks(stream_.size());
}

TEST_F(CodecStreamDecoder, ByteByByte) {
  feed_in_chunks(1);
}

TEST_F(CodecStreamDecoder, ChunksOfManySizes) {
  for (const std::size_t size : {2u, 3u, 5u, 7u, 13u, 64u, 100u, 1000u, 4096u, 65536u}) {
    feed_in_chunks(size);
    if (HasFatalFailure()) return;
  }
}

TEST_F(CodecStreamDecoder, PacketSplitAcrossTwoChunks) {
  // The first seven packets cut in two at every offset of the first five, and every 1009 bytes
  // through the large sixth one.
  const std::size_t end = starts_[7];
  std::vector<std::size_t> cuts;
  for (std::size_t cut = 1; cut < starts_[5]; ++cut)
    cuts.push_back(cut);
  for (std::size_t cut = starts_[5]; cut < end; cut += 1009)
    cuts.push_back(cut);
  for (const std::size_t cut : cuts) {
    SCOPED_TRACE(cut);
    StreamDecoder decoder(Version::v5);
    std::string first = stream_.substr(0, cut);
    std::string second = stream_.substr(cut, end - cut);
    std::size_t next = 0;
    Packet out;
    decoder.feed(first);
    while (decoder.next(out) == Status::Ready) {
      EXPECT_EQ(out, packets_[next]);
      ++next;
    }
    first.assign(first.size(), '\xAA');
    decoder.feed(second);
    while (decoder.next(out) == Status::Ready) {
      EXPECT_EQ(out, packets_[next]) << next;
      ++next;
    }
    EXPECT_EQ(next, 7u);
    EXPECT_FALSE(decoder.error());
  }
}

TEST(CodecStreamDecoderLimits, PartialPacketIsBuffered) {
  const std::string publish = hex("30 0A 00 03 'a/b' 'hello'");
  StreamDecoder decoder(Version::v311);
  Packet out;
  decoder.feed(std::string_view(publish).substr(0, 1));
  EXPECT_EQ(decoder.next(out), Status::NeedMore);
  EXPECT_EQ(decoder.buffered(), 1u);
  decoder.feed(std::string_view(publish).substr(1, 4));
  EXPECT_EQ(decoder.next(out), Status::NeedMore);
  EXPECT_EQ(decoder.buffered(), 5u);
  decoder.feed(std::string_view(publish).substr(5));
  ASSERT_EQ(decoder.next(out), Status::Ready);
  EXPECT_EQ(std::get<Publish>(out).payload, "hello");
  EXPECT_EQ(decoder.next(out), Status::NeedMore);
  EXPECT_EQ(decoder.buffered(), 0u);
  // Nothing fed at all.
  StreamDecoder empty;
  EXPECT_EQ(empty.next(out), Status::NeedMore);
  empty.feed("");
  EXPECT_EQ(empty.next(out), Status::NeedMore);
}

// The maximum counts the whole packet, fixed header included.
TEST(CodecStreamDecoderLimits, MaxPacketSizeIsInclusive) {
  std::string payload(95, 'p');
  Publish publish;
  publish.topic = "t";
  publish.payload = payload;
  const std::string exact = encode_ok(publish, Version::v311);  // 2 + 3 + 95 = 100 bytes
  ASSERT_EQ(exact.size(), 100u);
  StreamDecoder decoder(Version::v311, 100);
  EXPECT_EQ(decoder.max_packet_size(), 100u);
  Packet out;
  decoder.feed(exact);
  EXPECT_EQ(decoder.next(out), Status::Ready);

  payload.push_back('p');
  publish.payload = payload;
  const std::string over = encode_ok(publish, Version::v311);
  StreamDecoder strict(Version::v311, 100);
  strict.feed(over);
  EXPECT_EQ(strict.next(out), Status::Failed);
  EXPECT_EQ(strict.error().code, ReasonCode::PacketTooLarge) << to_string(strict.error());
}

// "fail with PacketTooLarge as soon as their fixed header is read, before their body is
// buffered".
TEST(CodecStreamDecoderLimits, TooLargeFailsFromTheHeaderAlone) {
  StreamDecoder decoder(Version::v5);
  decoder.set_max_packet_size(1024);
  Packet out;
  const std::string start = hex("30 80");  // remaining length not complete yet
  decoder.feed(start);
  EXPECT_EQ(decoder.next(out), Status::NeedMore);
  const std::string rest = hex("40");  // 8192: the header is complete, the body has not arrived
  decoder.feed(rest);
  ASSERT_EQ(decoder.next(out), Status::Failed);
  EXPECT_EQ(decoder.error().code, ReasonCode::PacketTooLarge);
  EXPECT_NE(std::string_view(decoder.error().message), "");
  EXPECT_LT(decoder.buffered(), 16u);

  // A 256 MB packet announced by five bytes is refused without allocating it.
  StreamDecoder huge(Version::v5, 1 << 20);
  const std::string huge_start = hex("30 FF FF FF 7F 00 01 't' 00");
  huge.feed(huge_start);
  ASSERT_EQ(huge.next(out), Status::Failed);
  EXPECT_EQ(huge.error().code, ReasonCode::PacketTooLarge);
  EXPECT_LT(huge.buffered(), 1024u);
}

TEST(CodecStreamDecoderLimits, ErrorsAreFinal) {
  StreamDecoder decoder(Version::v311);
  Packet out;
  const std::string pings = hex("C0 00 C1 00 C0 00");  // PINGREQ, one with reserved flags, PINGREQ
  decoder.feed(pings);
  ASSERT_EQ(decoder.next(out), Status::Ready);
  ASSERT_EQ(decoder.next(out), Status::Failed);
  const Error first = decoder.error();
  EXPECT_EQ(first.code, ReasonCode::MalformedPacket);
  EXPECT_EQ(first.packet_type, static_cast<std::uint8_t>(PacketType::Pingreq));
  EXPECT_EQ(decoder.next(out), Status::Failed);
  const std::string more = hex("C0 00 D0 00");
  decoder.feed(more);
  EXPECT_EQ(decoder.next(out), Status::Failed);
  EXPECT_EQ(decoder.next(out), Status::Failed);
  EXPECT_EQ(decoder.error().code, first.code);
  EXPECT_STREQ(decoder.error().message, first.message);

  // A malformed remaining length fails as soon as it is seen.
  StreamDecoder bad_length;
  const std::string bad = hex("30 FF FF FF FF");
  bad_length.feed(bad);
  EXPECT_EQ(bad_length.next(out), Status::Failed);
  EXPECT_EQ(bad_length.error().code, ReasonCode::MalformedPacket);
  bad_length.feed(more);
  EXPECT_EQ(bad_length.next(out), Status::Failed);

  StreamDecoder too_large(Version::v5, 10);
  const std::string large = hex("30 20");
  too_large.feed(large);
  EXPECT_EQ(too_large.next(out), Status::Failed);
  too_large.feed(more);
  EXPECT_EQ(too_large.next(out), Status::Failed);
  EXPECT_EQ(too_large.error().code, ReasonCode::PacketTooLarge);
}

// A server reads CONNECT whatever the version, then switches the decoder to the session's.
TEST(CodecStreamDecoderLimits, VersionSwitchAfterConnect) {
  StreamDecoder decoder;  // v5 by default
  EXPECT_EQ(decoder.version(), Version::v5);
  Packet out;
  const std::string bytes =
      hex("10 0F 00 04 'MQTT' 04 02 00 3C 00 03 'abc' 30 0A 00 03 'a/b' 'hello' F0 00");
  decoder.feed(bytes);
  ASSERT_EQ(decoder.next(out), Status::Ready);
  ASSERT_EQ(std::get<Connect>(out).version, Version::v311);
  decoder.set_version(Version::v311);
  EXPECT_EQ(decoder.version(), Version::v311);
  ASSERT_EQ(decoder.next(out), Status::Ready);
  EXPECT_EQ(std::get<Publish>(out).payload, "hello");  // no property length in v3.1.1
  // AUTH does not exist in v3.1.1.
  EXPECT_EQ(decoder.next(out), Status::Failed);
}

}  // namespace
}  // namespace psos::mqtt
