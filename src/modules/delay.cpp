// `delay`: delays, throttles (rate limits) or debounces messages.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <optional>

#include "modules/builtin.hpp"
#include "modules/context.hpp"

namespace psos::modules {

ModuleSpec delay_spec() {
  return {
      .name = "delay",
      .summary = "Delays, throttles or debounces messages",
      .description = "Messages keep their payload; they are published on pub in arrival order.",
      .params =
          {
              sub_param("The messages to delay"),
              pub_param("The topic the messages are published to when their time comes"),
              {.name = "mode",
               .type = ParamType::String,
               .default_value = "delay",
               .description = "delay: hold each message for time; throttle: at most one "
                              "message per time; debounce: pass the last message once no other "
                              "arrived for time",
               .allowed = {"delay", "throttle", "debounce"}},
              {.name = "time",
               .type = ParamType::Duration,
               .required = true,
               .description = "The delay, the least time between two messages (throttle) or "
                              "the quiet time (debounce)"},
              {.name = "drop",
               .type = ParamType::Boolean,
               .default_value = false,
               .description = "throttle: drop the messages that come too soon instead of "
                              "holding them"},
              {.name = "queue",
               .type = ParamType::Integer,
               .default_value = 1000,
               .description = "The most messages held; beyond it the oldest are dropped and "
                              "counted",
               .minimum = 1},
              qos_param(),
              retain_param(),
          },
      .functions = {{.name = "flush",
                     .description =
                         "Publish every message held now, in arrival order, as if its time had "
                         "come (delay: all of them; throttle: all waiting, and the next message "
                         "waits time; debounce: the last one, without its quiet time): "
                         "{\"flushed\": N}"}},
  };
}

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// What the two halves of a delay service share: messages come in on one coroutine and go out on
// another, which sleeps until the first held message is due and is woken when one arrives.
class Holder {
 public:
  explicit Holder(Context& ctx)
      : ctx_(ctx),
        pub_(ctx.params().text("pub")),
        mode_(ctx.params().text("mode")),
        time_(ctx.params().duration("time")),
        drop_(ctx.params().boolean("drop")),
        limit_(static_cast<std::size_t>(ctx.params().integer("queue"))),
        qos_(static_cast<mqtt::QoS>(ctx.params().integer("qos"))),
        retain_(ctx.params().boolean("retain")),
        wake_(ctx.executor()) {}

  asio::awaitable<void> receive() {
    while (true) {
      router::MessagePtr m = co_await ctx_.next();
      const auto now = Clock::now();
      if (mode_ == "debounce") {
        held_.clear();  // a newer message replaces the one waiting and restarts the quiet time
      } else if (mode_ == "throttle" && drop_) {
        if (now >= next_free()) send(std::move(m), now);
        continue;
      } else if (held_.size() >= limit_) {
        held_.pop_front();
        if (++dropped_ == 1 || dropped_ % 1000 == 0)
          ctx_.log().warn("the queue holds {} messages: dropped the oldest ({} dropped so far)",
                          limit_, dropped_);
      }
      held_.push_back({now + time_, std::move(m)});
      wake_.cancel();
    }
  }

  // Publishes all that is held, in order; dispatch() then finds nothing due.
  std::size_t flush() {
    const std::size_t count = held_.size();
    const auto now = Clock::now();
    for (Held& h : held_)
      send(std::move(h.message), now);
    held_.clear();
    wake_.cancel();
    return count;
  }

  asio::awaitable<void> dispatch() {
    while (true) {
      auto due = Clock::time_point::max();
      if (!held_.empty()) due = mode_ == "throttle" ? next_free() : held_.front().due;
      const auto now = Clock::now();
      if (now >= due) {
        send(std::move(held_.front().message), now);
        held_.pop_front();
        continue;
      }
      wake_.expires_at(due);
      co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
      // Woken by receive() or cancelled because the service stops: only the latter ends here.
      if ((co_await asio::this_coro::cancellation_state).cancelled() !=
          asio::cancellation_type::none)
        co_return;
    }
  }

 private:
  struct Held {
    Clock::time_point due;
    router::MessagePtr message;
  };

  // Throttle: when the next message may go out.
  Clock::time_point next_free() const {
    return last_sent_ ? *last_sent_ + time_ : Clock::time_point::min();
  }

  void send(router::MessagePtr m, Clock::time_point now) {
    last_sent_ = now;
    ctx_.publish(pub_, m->payload, qos_, retain_);
  }

  Context& ctx_;
  const std::string pub_;
  const std::string mode_;
  const std::chrono::milliseconds time_;
  const bool drop_;
  const std::size_t limit_;
  const mqtt::QoS qos_;
  const bool retain_;
  std::deque<Held> held_;
  std::optional<Clock::time_point> last_sent_;
  std::uint64_t dropped_ = 0;
  asio::steady_timer wake_;
};

}  // namespace

boost::asio::awaitable<void> run_delay(Context& ctx) {
  using namespace boost::asio::experimental::awaitable_operators;
  for (const std::string& filter : ctx.params().texts("sub"))
    ctx.subscribe(filter);
  Holder holder(ctx);
  ctx.provide("flush", [&](const nlohmann::json&) {
    return nlohmann::json{{"flushed", holder.flush()}};
  });
  // receive() ends only by throwing when the service stops; && then cancels dispatch() (|| would
  // wait for one of them to succeed).
  co_await (holder.receive() && holder.dispatch());
}

Module delay_module() {
  return {.spec = delay_spec(), .run = run_delay};
}

}  // namespace psos::modules
