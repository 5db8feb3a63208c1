// The flight recorder (see black_box.hpp). The file is the Layout below followed by the stack
// trace area, which the fatal-signal handler fills with write(2) (backtrace_symbols_fd writes to
// a file descriptor); the mapping and the descriptor see the same page cache.
#include "runtime/black_box.hpp"

#include <execinfo.h>
#include <fcntl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace psos::runtime {

namespace {
constexpr char kMagic[8] = {'P', 'S', 'O', 'S', 'B', 'B', 'X', '\n'};
constexpr std::uint32_t kVersion = 1;
constexpr int kMaxFrames = 64;

// A NUL-padded field as text.
std::string field_text(const char* data, std::size_t size) {
  return std::string(data, strnlen(data, size));
}

void copy_field(char* to, std::size_t size, std::string_view text) noexcept {
  const std::size_t n = std::min(text.size(), size - 1);
  std::memcpy(to, text.data(), n);
  std::memset(to + n, 0, size - n);
}
}  // namespace

// Native layout: the file never leaves the machine that wrote it.
struct BlackBox::Layout {
  char magic[8];
  std::uint32_t version;
  std::uint32_t size;  // sizeof(Layout): another build's layout is not read
  std::uint32_t end;   // RunEnd
  std::int32_t pid;
  std::uint64_t boot;
  std::int64_t started_ms;
  std::int64_t good_ms;
  std::int32_t signal;
  std::int32_t reserved;
  std::int64_t signal_ms;
  std::int64_t stalled_ms;
  std::uint64_t revision;  // 0: the definition file on the command line
  char service[64];
  std::uint64_t lines;  // log lines written; the last kBlackBoxLogLines are kept
  char log[kBlackBoxLogLines][kBlackBoxLineBytes];
};

std::optional<BlackBoxContents> read_black_box(std::string_view bytes) {
  using Layout = BlackBox::Layout;
  if (bytes.size() < sizeof(Layout)) return std::nullopt;
  auto box = std::make_unique<Layout>();
  std::memcpy(box.get(), bytes.data(), sizeof(Layout));
  if (std::memcmp(box->magic, kMagic, sizeof kMagic) != 0 || box->version != kVersion ||
      box->size != sizeof(Layout))
    return std::nullopt;
  BlackBoxContents c;
  c.end = box->end == static_cast<std::uint32_t>(RunEnd::Clean) ? RunEnd::Clean : RunEnd::Running;
  c.pid = box->pid;
  c.boot = box->boot;
  c.started_ms = box->started_ms;
  c.good_ms = box->good_ms;
  c.signal = box->signal;
  c.signal_ms = box->signal_ms;
  c.stalled_ms = box->stalled_ms;
  c.revision = box->revision;
  c.service = field_text(box->service, sizeof box->service);
  const std::uint64_t kept = std::min<std::uint64_t>(box->lines, kBlackBoxLogLines);
  for (std::uint64_t i = box->lines - kept; i < box->lines; ++i)
    c.log.push_back(field_text(box->log[i % kBlackBoxLogLines], kBlackBoxLineBytes));
  std::string_view trace = bytes.substr(sizeof(Layout), kBlackBoxTraceBytes);
  trace = trace.substr(0, trace.find('\0'));
  while (!trace.empty()) {
    const std::size_t eol = trace.find('\n');
    if (const std::string_view line = trace.substr(0, eol); !line.empty())
      c.trace.emplace_back(line);
    if (eol == std::string_view::npos) break;
    trace.remove_prefix(eol + 1);
  }
  return c;
}

namespace {

// Copies each log line into the box: "[time] [level] [service] message".
class BlackBoxSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit BlackBoxSink(BlackBox& box) : box_(&box) {}
  void detach() {
    std::lock_guard lock(mutex_);
    box_ = nullptr;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& m) override {
    if (box_ == nullptr) return;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        m.time.time_since_epoch() % std::chrono::seconds(1))
                        .count();
    const auto level_text = spdlog::level::to_string_view(m.level);
    const std::string_view level(level_text.data(), level_text.size());
    const std::string_view text(m.payload.data(), m.payload.size());
    char line[kBlackBoxLineBytes];
    const auto written =
        m.logger_name.size() == 0
            ? fmt::format_to_n(line, sizeof line - 1, "[{:%Y-%m-%d %H:%M:%S}.{:03}] [{}] {}",
                               fmt::localtime(std::chrono::system_clock::to_time_t(m.time)), ms,
                               level, text)
            : fmt::format_to_n(line, sizeof line - 1, "[{:%Y-%m-%d %H:%M:%S}.{:03}] [{}] [{}] {}",
                               fmt::localtime(std::chrono::system_clock::to_time_t(m.time)), ms,
                               level, std::string_view(m.logger_name.data(), m.logger_name.size()),
                               text);
    box_->add_line(std::string_view(line, std::min(written.size, sizeof line - 1)));
  }
  void flush_() override {}

 private:
  BlackBox* box_;
};

std::int64_t now_epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

BlackBox::BlackBox(const std::filesystem::path& path, std::uint64_t boot) : path_(path) {
  const auto fail = [&](const char* what) {
    const std::string reason = std::strerror(errno);
    if (map_ != nullptr) ::munmap(map_, sizeof(Layout));
    if (fd_ >= 0) ::close(fd_);
    throw std::runtime_error(
        fmt::format("cannot {} the black box {}: {}", what, path.string(), reason));
  };
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("create");
  if (::ftruncate(fd_, static_cast<off_t>(sizeof(Layout) + kBlackBoxTraceBytes)) != 0) fail("size");
  void* mapped = ::mmap(nullptr, sizeof(Layout), PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (mapped == MAP_FAILED) fail("map");
  map_ = static_cast<Layout*>(mapped);
  std::memcpy(map_->magic, kMagic, sizeof kMagic);
  map_->version = kVersion;
  map_->size = sizeof(Layout);
  map_->end = static_cast<std::uint32_t>(RunEnd::Running);
  map_->pid = static_cast<std::int32_t>(::getpid());
  map_->boot = boot;
  map_->started_ms = now_epoch_ms();
  map_->revision = 0;
  sink_ = std::make_shared<BlackBoxSink>(*this);
  // backtrace() loads libgcc on its first call, which a signal handler must not do.
  void* frames[1];
  ::backtrace(frames, 1);
}

BlackBox::~BlackBox() {
  static_cast<BlackBoxSink&>(*sink_).detach();
  ::munmap(map_, sizeof(Layout));
  ::close(fd_);
}

void BlackBox::set_boot(std::uint64_t boot) noexcept {
  map_->boot = boot;
}

void BlackBox::set_revision(std::uint64_t revision) noexcept {
  map_->revision = revision;
}

void BlackBox::mark_good(std::int64_t now_ms) noexcept {
  map_->good_ms = now_ms;
}

void BlackBox::mark_clean() noexcept {
  map_->end = static_cast<std::uint32_t>(RunEnd::Clean);
}

void BlackBox::mark_stalled(std::int64_t stalled_ms) noexcept {
  map_->stalled_ms = stalled_ms;
}

void BlackBox::record_signal_unsafe(int signal, std::int64_t now_ms, const char* service,
                                    std::size_t service_size) noexcept {
  map_->signal = signal;
  map_->signal_ms = now_ms;
  copy_field(map_->service, sizeof map_->service, std::string_view(service, service_size));
}

void BlackBox::write_trace_unsafe() noexcept {
  void* frames[kMaxFrames];
  const int count = ::backtrace(frames, kMaxFrames);
  if (::lseek(fd_, static_cast<off_t>(sizeof(Layout)), SEEK_SET) < 0) return;
  ::backtrace_symbols_fd(frames, count, fd_);
}

void BlackBox::add_line(std::string_view line) noexcept {
  copy_field(map_->log[map_->lines % kBlackBoxLogLines], kBlackBoxLineBytes, line);
  ++map_->lines;
}

std::shared_ptr<spdlog::sinks::sink> BlackBox::sink() {
  return sink_;
}

}  // namespace psos::runtime
