// Tests of control/reply: the reply payloads a node writes and their decoding by a caller.
#include "control/reply.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace psos::control {
namespace {

using Json = nlohmann::json;

std::string decode_error(std::string_view payload) {
  try {
    decode_reply(payload);
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "(decoded)";
}

TEST(Reply, ResultRoundTrips) {
  const std::string payload = encode_result("r1", {{"rows", 3}});
  EXPECT_EQ(payload, R"({"id":"r1","ok":true,"result":{"rows":3}})");
  const Reply reply = decode_reply(payload);
  EXPECT_EQ(reply.id, "r1");
  EXPECT_TRUE(reply.ok);
  EXPECT_EQ(reply.result, Json({{"rows", 3}}));
  EXPECT_EQ(decode_reply(encode_result("r2", nullptr)).result, Json(nullptr));
}

TEST(Reply, ErrorRoundTrips) {
  const std::string payload = encode_error("r1", "no_function", "service 'archive' has no 'x'");
  EXPECT_EQ(payload, R"({"id":"r1","ok":false,"error":{"code":"no_function",)"
                     R"("message":"service 'archive' has no 'x'"}})");
  const Reply reply = decode_reply(payload);
  EXPECT_EQ(reply.id, "r1");
  EXPECT_FALSE(reply.ok);
  EXPECT_EQ(reply.error_code, "no_function");
  EXPECT_EQ(reply.error_message, "service 'archive' has no 'x'");
}

TEST(Reply, RefusalWithAndWithoutAnId) {
  EXPECT_EQ(encode_refusal(Refusal{RefusalCode::expired, "request expired", "r9", {}}),
            R"({"id":"r9","ok":false,"error":{"code":"expired","message":"request expired"}})");
  const std::string payload =
      encode_refusal(Refusal{RefusalCode::bad_request, "payload is not JSON", {}, {}});
  EXPECT_EQ(payload, R"({"id":null,"ok":false,"error":{"code":"bad_request",)"
                     R"("message":"payload is not JSON"}})");
  EXPECT_EQ(decode_reply(payload).id, std::nullopt);
}

TEST(Reply, BadUtf8IsReplacedNotFatal) {
  EXPECT_EQ(encode_result("r\xff", "out\xc3"),
            "{\"id\":\"r\xef\xbf\xbd\",\"ok\":true,\"result\":\"out\xef\xbf\xbd\"}");
  EXPECT_EQ(encode_error("r", "failed", "bad \xff byte"),
            "{\"id\":\"r\",\"ok\":false,\"error\":{\"code\":\"failed\",\"message\":\"bad "
            "\xef\xbf\xbd byte\"}}");
}

TEST(Reply, DecodeErrorsSayWhatIsWrong) {
  EXPECT_EQ(decode_error("{"), "reply is not JSON (syntax error at byte 2)");
  EXPECT_EQ(decode_error(R"({"id":"a","ok":true,"result":1e999})"),
            "reply is not JSON that can be read (a number out of range)");
  EXPECT_EQ(decode_error("[]"), "reply is not a JSON object");
  EXPECT_EQ(decode_error(R"({"ok":true,"result":1})"), "reply has no \"id\"");
  EXPECT_EQ(decode_error(R"({"id":1,"ok":true,"result":1})"),
            "reply \"id\" is neither a string nor null");
  EXPECT_EQ(decode_error(R"({"id":"a","ok":"yes"})"), "reply has no \"ok\": true or false");
  EXPECT_EQ(decode_error(R"({"id":"a","ok":true})"), "reply has \"ok\": true but no \"result\"");
  EXPECT_EQ(decode_error(R"({"id":"a","ok":false})"),
            "reply has \"ok\": false but no \"error\" object");
  EXPECT_EQ(decode_error(R"({"id":"a","ok":false,"error":{"message":"m"}})"),
            "reply \"error\" has no \"code\" string");
  EXPECT_EQ(decode_error(R"({"id":"a","ok":false,"error":{"code":"c"}})"),
            "reply \"error\" has no \"message\" string");
}

}  // namespace
}  // namespace psos::control
