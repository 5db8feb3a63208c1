// The fatal-signal handler (see crash_handler.hpp).
#include "runtime/crash_handler.hpp"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <vector>

#include "runtime/black_box.hpp"
#include "runtime/service.hpp"

namespace psos::runtime {

namespace {

constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS};
constexpr std::size_t kAltStackBytes = 256 * 1024;

BlackBox* g_box = nullptr;
std::atomic<bool> g_handling{false};
std::vector<char> g_alt_stack;

void say(const char* text) {
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, text, std::strlen(text));
}

// The decimal digits of `n` into `out` (at least 12 bytes).
void digits(int n, char* out) {
  char reversed[12];
  int i = 0;
  do {
    reversed[i++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n > 0 && i < 11);
  int j = 0;
  while (i > 0)
    out[j++] = reversed[--i];
  out[j] = '\0';
}

void on_fatal_signal(int signal, siginfo_t*, void*) {
  if (g_handling.exchange(true) || g_box == nullptr) {
    // A second fault while recording, or from another thread: end now.
    ::signal(signal, SIG_DFL);
    ::raise(signal);
    return;
  }
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  const std::int64_t now_ms =
      static_cast<std::int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1'000'000;
  // The service's name is read, not copied out of a std::string with allocation; the pointer is
  // only ever set on this (the loop's) thread, and cleared when its service goes.
  const char* service = "";
  std::size_t service_size = 0;
  if (const Service* s = Service::running) {
    service = s->service().data();
    service_size = s->service().size();
  }
  g_box->record_signal_unsafe(signal, now_ms, service, service_size);
  char number[12];
  digits(signal, number);
  say("psos: fatal signal ");
  say(number);
  if (service_size > 0) {
    say(" while service ");
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, service, service_size);
    say(" had the event loop");
  }
  say("; the stack trace is in the crash record (psos crashes NODE after the restart)\n");
  g_box->write_trace_unsafe();
  // The default action now: the process ends by this signal, as its parent expects.
  ::signal(signal, SIG_DFL);
  ::raise(signal);
}

}  // namespace

void install_crash_handler(BlackBox& box) {
  g_box = &box;
  g_alt_stack.resize(kAltStackBytes);
  stack_t stack{};
  stack.ss_sp = g_alt_stack.data();
  stack.ss_size = g_alt_stack.size();
  ::sigaltstack(&stack, nullptr);
  struct sigaction action {};
  action.sa_sigaction = on_fatal_signal;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  for (int signal : kSignals)
    ::sigaction(signal, &action, nullptr);
}

void remove_crash_handler() {
  for (int signal : kSignals)
    ::signal(signal, SIG_DFL);
  g_box = nullptr;
}

}  // namespace psos::runtime
