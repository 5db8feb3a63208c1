// The dashboard's model (src/dashboard/model.hpp) fed arbitrary messages: topics and payloads
// split from the input at NUL bytes, with $state/$info/$metrics/$log topics made likely; every
// frame it then builds must serialise as the server does.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dashboard/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  psos::dashboard::ModelLimits limits;
  limits.max_topics = 16;
  limits.max_events = 8;
  limits.max_metrics_per_node = 4;
  limits.max_logs_per_node = 4;
  limits.max_topics_per_frame = 5;
  limits.max_events_per_frame = 3;
  psos::dashboard::Model model(limits);
  psos::dashboard::Cursor early, late;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  static constexpr std::string_view kKinds[] = {"$state", "$info", "$metrics", "$log", ""};
  std::int64_t now = 0;
  while (!input.empty()) {
    const std::size_t a = input.find('\0');
    const std::string_view head = input.substr(0, a);
    input = a == std::string_view::npos ? std::string_view() : input.substr(a + 1);
    const std::size_t b = input.find('\0');
    const std::string_view payload = input.substr(0, b);
    input = b == std::string_view::npos ? std::string_view() : input.substr(b + 1);
    std::string topic(head.substr(head.empty() ? 0 : 1));
    if (!head.empty() && (head[0] & 0x80) != 0)
      topic =
          "psos/s/" + topic + "/" + std::string(kKinds[static_cast<unsigned char>(head[0]) % 5]);
    model.apply(topic, payload, !head.empty() && (head[0] & 0x40) != 0, now);
    now += 300;
    if (!head.empty() && (head[0] & 0x20) != 0) model.tick(now);
    (void)model.next_frame(early).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  (void)model.next_frame(late).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}
