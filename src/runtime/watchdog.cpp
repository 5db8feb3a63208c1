// The loop's watchdog (see watchdog.hpp).
#include "runtime/watchdog.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "runtime/black_box.hpp"
#include "runtime/service.hpp"

namespace psos::runtime {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {
// The loop's thread gets this long to end by the SIGABRT before the watchdog ends the process
// itself (a thread stuck in the kernel may not take the signal).
constexpr auto kAbortGrace = std::chrono::seconds(5);

std::chrono::milliseconds beat_interval(std::chrono::milliseconds timeout,
                                        std::chrono::milliseconds at_most) {
  using std::chrono::milliseconds;
  milliseconds interval =
      timeout.count() == 0
          ? milliseconds(1000)
          : std::clamp<milliseconds>(timeout / 8, milliseconds(10), milliseconds(1000));
  if (at_most.count() > 0) interval = std::max(milliseconds(10), std::min(interval, at_most));
  return interval;
}
}  // namespace

struct LoopWatchdog::State {
  State(asio::any_io_executor executor, std::chrono::milliseconds t, BlackBox& b,
        std::function<void()> beat_handler, std::chrono::milliseconds beat_at_most)
      : timeout(t),
        interval(beat_interval(t, beat_at_most)),
        box(b),
        on_beat(std::move(beat_handler)),
        timer(std::move(executor)),
        // Armed now, on the loop's thread: a loop that stalls before its first heartbeat (a
        // service blocking in its first turn, or a call that arrives before the first beat) is
        // caught as well.
        beat(Clock::now().time_since_epoch().count()),
        loop_thread(pthread_self()) {}

  const std::chrono::milliseconds timeout;
  const std::chrono::milliseconds interval;
  BlackBox& box;
  std::function<void()> on_beat;
  asio::steady_timer timer;
  std::atomic<Clock::rep> beat;
  const pthread_t loop_thread;
  std::mutex mutex;
  std::condition_variable wake;
  bool stop = false;
  std::thread thread;

  void schedule(const std::shared_ptr<State>& self) {
    timer.expires_after(interval);
    timer.async_wait([weak = std::weak_ptr<State>(self)](const boost::system::error_code& ec) {
      auto s = weak.lock();
      if (ec || !s) return;
      s->heartbeat();
      s->schedule(s);
    });
  }

  void heartbeat() {
    beat.store(Clock::now().time_since_epoch().count(), std::memory_order_release);
    if (on_beat) on_beat();
  }

  void watch() {
    std::unique_lock lock(mutex);
    while (!stop) {
      wake.wait_for(lock, interval);
      if (stop) return;
      const Clock::rep last = beat.load(std::memory_order_acquire);
      const auto stalled = Clock::now() - Clock::time_point(Clock::duration(last));
      if (stalled < timeout) continue;
      fire(std::chrono::duration_cast<std::chrono::milliseconds>(stalled));
      // Still here after the grace: the loop's thread did not take the signal.
      if (!wake.wait_for(lock, kAbortGrace, [&] { return stop; })) std::abort();
      return;
    }
  }

  // No spdlog here: the stalled thread may hold a sink's lock.
  void fire(std::chrono::milliseconds stalled) {
    box.mark_stalled(stalled.count());
    const std::string text = fmt::format(
        "psos: watchdog: the event loop has not run for {} ms (the watchdog setting is {} ms); "
        "aborting the node\n",
        stalled.count(), timeout.count());
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, text.data(), text.size());
    ::pthread_kill(loop_thread, SIGABRT);
  }
};

LoopWatchdog::LoopWatchdog(asio::any_io_executor executor, std::chrono::milliseconds timeout,
                           BlackBox& box, std::function<void()> on_beat,
                           std::chrono::milliseconds beat_at_most)
    : state_(std::make_shared<State>(std::move(executor), timeout, box, std::move(on_beat),
                                     beat_at_most)) {
  state_->schedule(state_);
  if (timeout.count() > 0) state_->thread = std::thread([s = state_.get()] { s->watch(); });
}

LoopWatchdog::~LoopWatchdog() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stop = true;
  }
  state_->wake.notify_all();
  if (state_->thread.joinable()) state_->thread.join();
  state_->timer.cancel();
}

}  // namespace psos::runtime
