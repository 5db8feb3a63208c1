// `aggregate`: min, max, mean, count and sum over the last N messages or the last T.
#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <deque>
#include <limits>

#include "modules/builtin.hpp"
#include "modules/context.hpp"
#include "modules/payload_value.hpp"

namespace psos::modules {

ModuleSpec aggregate_spec() {
  return {
      .name = "aggregate",
      .summary = "Computes min, max, mean, count or sum over a window of messages",
      .description =
          "Publishes a JSON object with one field per "
          "operation ({\"mean\": 21.4, \"max\": 22}). Payloads that are not numbers (or lack the "
          "property) are skipped and counted.",
      .params =
          {
              sub_param("The messages to aggregate"),
              pub_param("The topic the results are published to"),
              {.name = "ops",
               .type = ParamType::Strings,
               .default_value = nlohmann::json::array({"mean"}),
               .description = "The operations to compute",
               .allowed = {"min", "max", "mean", "count", "sum"}},
              {.name = "count",
               .type = ParamType::Integer,
               .description = "The window is the last count messages",
               .minimum = 1},
              {.name = "window",
               .type = ParamType::Duration,
               .description = "The window is the messages of the last window of time",
               .minimum = 1},
              {.name = "emit",
               .type = ParamType::String,
               .default_value = "each",
               .description = "each: publish after every message, over the sliding window; "
                              "window: publish once per full window, then start a new one",
               .allowed = {"each", "window"}},
              property_param(),
              qos_param(),
              retain_param(),
          },
      .one_of = {{"count", "window"}},
      .functions =
          {
              {.name = "read",
               .description =
                   "The current window so far: count, the configured operations (null while "
                   "the window is empty), skipped (messages without a number, since start), "
                   "start and end (Unix ms: a sliding window ends now and starts at its oldest "
                   "value (count) or one window ago (window); a window emitted whole starts when "
                   "the last one closed and, for a time window, ends when it will close)"},
              {.name = "reset",
               .description = "Clear the current window (a time window keeps its schedule); "
                              "returns what was discarded, as read does"},
          },
  };
}

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// A whole number is written as one (22, not 22.0), as the description promises.
nlohmann::ordered_json number(double x) {
  if (std::trunc(x) == x && std::abs(x) < 9.0e15) return static_cast<std::int64_t>(x);
  return x;
}

// Messages in, results out: a sliding window (emit each) or one window after another (emit
// window); a time window that is emitted whole is closed by its own coroutine, on time even when
// no message comes.
class Aggregator {
 public:
  explicit Aggregator(Context& ctx)
      : ctx_(ctx),
        pub_(ctx.params().text("pub")),
        ops_(ctx.params().texts("ops")),
        count_(ctx.params().has("count") ? static_cast<std::size_t>(ctx.params().integer("count"))
                                         : 0),
        window_(ctx.params().has("window") ? ctx.params().duration("window")
                                           : std::chrono::milliseconds(0)),
        each_(ctx.params().text("emit") == "each"),
        property_(ctx.params().text("property")),
        qos_(static_cast<mqtt::QoS>(ctx.params().integer("qos"))),
        retain_(ctx.params().boolean("retain")),
        timer_(ctx.executor()) {}

  bool timed_windows() const { return !each_ && count_ == 0; }

  nlohmann::json read() {
    const auto now = Clock::now();
    if (each_ && count_ == 0) forget_before(now - window_);
    nlohmann::json out(summary());
    out["count"] = values_.size();
    out["skipped"] = skipped_;
    nlohmann::json start = nullptr;
    nlohmann::json end = nullptr;
    if (each_) {
      if (count_ == 0) {
        start = epoch_ms(now - window_);
      } else if (!values_.empty()) {
        start = epoch_ms(values_.front().at);
      }
      end = epoch_ms(now);
    } else {
      start = epoch_ms(count_ == 0 ? window_end_ - window_ : window_start_);
      if (count_ == 0) end = epoch_ms(window_end_);
    }
    out["start"] = start;
    out["end"] = end;
    return out;
  }

  nlohmann::json reset() {
    nlohmann::json discarded = read();
    values_.clear();
    if (!each_ && count_ > 0) window_start_ = Clock::now();
    return discarded;
  }

  asio::awaitable<void> receive() {
    while (true) {
      const router::MessagePtr m = co_await ctx_.next();
      const auto value = payload_value(m->payload, property_);
      const auto x = value ? as_number(*value) : std::nullopt;
      if (!x) {
        // Said once, then every thousandth time, so that a stream of them does not flood the log.
        if (++skipped_ == 1 || skipped_ % 1000 == 0)
          ctx_.log().warn("skipped a message on {}: no number in it ({} skipped so far)", m->topic,
                          skipped_);
        continue;
      }
      const auto now = Clock::now();
      values_.push_back({now, *x});
      if (count_ > 0 && each_ && values_.size() > count_) values_.pop_front();
      if (count_ == 0 && each_) forget_before(now - window_);
      if (each_) {
        emit();
      } else if (count_ > 0 && values_.size() == count_) {
        emit();
        values_.clear();
        window_start_ = now;
      }
    }
  }

  // Emit window over time: closes a window every `window`, counted from the start.
  asio::awaitable<void> close_windows() {
    // A local before the loop: g++ 12 miscompiles a member coroutine whose body starts with the
    // loop (`this` is garbage when it resumes under operator&&; clang 14 is fine).
    const auto window = window_;
    while (true) {
      timer_.expires_at(window_end_);
      co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
      if ((co_await asio::this_coro::cancellation_state).cancelled() !=
          asio::cancellation_type::none)
        co_return;
      // An empty window has no mean, min or max: nothing is published for it.
      if (!values_.empty()) emit();
      values_.clear();
      window_end_ += window;
    }
  }

 private:
  struct Sample {
    Clock::time_point at;
    double value;
  };

  // The configured operations over the window; min, max and mean are null while it is empty.
  nlohmann::ordered_json summary() const {
    double sum = 0;
    double low = std::numeric_limits<double>::infinity();
    double high = -low;
    for (const Sample& s : values_) {
      sum += s.value;
      low = std::min(low, s.value);
      high = std::max(high, s.value);
    }
    const bool empty = values_.empty();
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const std::string& op : ops_) {
      if (op == "min") out[op] = empty ? nullptr : number(low);
      if (op == "max") out[op] = empty ? nullptr : number(high);
      if (op == "mean")
        out[op] = empty ? nullptr : number(sum / static_cast<double>(values_.size()));
      if (op == "count") out[op] = values_.size();
      if (op == "sum") out[op] = number(sum);
    }
    return out;
  }

  void emit() { ctx_.publish(pub_, summary().dump(), qos_, retain_); }

  void forget_before(Clock::time_point limit) {
    while (!values_.empty() && values_.front().at <= limit)
      values_.pop_front();
  }

  static std::int64_t epoch_ms(Clock::time_point t) {
    const auto since = std::chrono::system_clock::now() + (t - Clock::now());
    return std::chrono::duration_cast<std::chrono::milliseconds>(since.time_since_epoch()).count();
  }

  Context& ctx_;
  const std::string pub_;
  const std::vector<std::string> ops_;
  const std::size_t count_;  // 0: the window is window_ of time
  const std::chrono::milliseconds window_;
  const bool each_;
  const std::string property_;
  const mqtt::QoS qos_;
  const bool retain_;
  std::deque<Sample> values_;
  std::uint64_t skipped_ = 0;
  Clock::time_point window_start_ = Clock::now();          // emit window, count: this one began
  Clock::time_point window_end_ = Clock::now() + window_;  // emit window, time: it closes
  asio::steady_timer timer_;
};

}  // namespace

boost::asio::awaitable<void> run_aggregate(Context& ctx) {
  using namespace boost::asio::experimental::awaitable_operators;
  for (const std::string& filter : ctx.params().texts("sub"))
    ctx.subscribe(filter);
  Aggregator aggregator(ctx);
  ctx.provide("read", [&](const nlohmann::json&) { return aggregator.read(); });
  ctx.provide("reset", [&](const nlohmann::json&) { return aggregator.reset(); });
  if (aggregator.timed_windows()) {
    // receive() ends only by throwing when the service stops; && then cancels close_windows() (||
    // would wait for one of them to succeed).
    co_await (aggregator.receive() && aggregator.close_windows());
  } else {
    co_await aggregator.receive();
  }
}

Module aggregate_module() {
  return {.spec = aggregate_spec(), .run = run_aggregate};
}

}  // namespace psos::modules
