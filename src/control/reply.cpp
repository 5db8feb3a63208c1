// Reply payloads: writing them without failing on bad UTF-8, reading them strictly.
#include "control/reply.hpp"

#include <stdexcept>

namespace psos::control {
namespace {

using Json = nlohmann::json;

Json id_value(std::optional<std::string_view> id) {
  return id ? Json(*id) : Json(nullptr);
}

std::string dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::string encode_result(std::optional<std::string_view> id, const nlohmann::json& result) {
  return "{\"id\":" + dump(id_value(id)) + ",\"ok\":true,\"result\":" + dump(result) + "}";
}

std::string encode_error(std::optional<std::string_view> id, std::string_view code,
                         std::string_view message) {
  return "{\"id\":" + dump(id_value(id)) + ",\"ok\":false,\"error\":{\"code\":" + dump(code) +
         ",\"message\":" + dump(message) + "}}";
}

std::string encode_refusal(const Refusal& refusal) {
  return encode_error(refusal.id, code_name(refusal.code), refusal.message);
}

Reply decode_reply(std::string_view payload) {
  const auto fail = [](const std::string& message) {
    return std::invalid_argument("reply " + message);
  };
  Json json;
  try {
    json = Json::parse(payload);
  } catch (const Json::parse_error& error) {
    throw fail("is not JSON (syntax error at byte " + std::to_string(error.byte) + ")");
  } catch (const Json::exception&) {
    throw fail("is not JSON that can be read (a number out of range)");
  }
  if (!json.is_object()) throw fail("is not a JSON object");
  Reply reply;
  const auto id = json.find("id");
  if (id == json.end()) throw fail("has no \"id\"");
  if (id->is_string()) {
    reply.id = id->get<std::string>();
  } else if (!id->is_null()) {
    throw fail("\"id\" is neither a string nor null");
  }
  const auto ok = json.find("ok");
  if (ok == json.end() || !ok->is_boolean()) throw fail("has no \"ok\": true or false");
  reply.ok = ok->get<bool>();
  if (reply.ok) {
    const auto result = json.find("result");
    if (result == json.end()) throw fail("has \"ok\": true but no \"result\"");
    reply.result = *result;
    return reply;
  }
  const auto error = json.find("error");
  if (error == json.end() || !error->is_object())
    throw fail("has \"ok\": false but no \"error\" object");
  const auto code = error->find("code");
  const auto message = error->find("message");
  if (code == error->end() || !code->is_string()) throw fail("\"error\" has no \"code\" string");
  if (message == error->end() || !message->is_string())
    throw fail("\"error\" has no \"message\" string");
  reply.error_code = code->get<std::string>();
  reply.error_message = message->get<std::string>();
  return reply;
}

}  // namespace psos::control
