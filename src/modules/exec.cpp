// `exec`: runs a configured command and publishes its output. Off unless the node allows it.
#include <fcntl.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <csignal>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "modules/builtin.hpp"
#include "modules/context.hpp"

extern char** environ;

namespace psos::modules {

namespace {
// Standard output past this is not kept: the run is stopped and reported, nothing is published.
constexpr std::size_t kMaxOutput = 1 << 20;
// Only the start of standard error is kept: its first line goes into the report.
constexpr std::size_t kMaxErrorKept = 4096;
// From SIGTERM to SIGKILL when a run times out or the service stops.
constexpr std::chrono::milliseconds kKillGrace{2000};
// What a call of `run` returns of the output: the start of standard output, the first lines of
// standard error.
constexpr std::size_t kMaxCallOutput = 64 << 10;
constexpr int kCallErrorLines = 10;
// When the kernel has no pidfd_open (before Linux 5.3), the child is polled at this interval.
constexpr std::chrono::milliseconds kExitPoll{20};
}  // namespace

ModuleSpec exec_spec() {
  return {
      .name = "exec",
      .summary = "Runs a command and publishes its output",
      .description =
          "Refused unless the node's own local configuration allows exec (psos run "
          "--allow-exec): a definition, or a remote deploy of one, cannot enable it by itself. "
          "The command runs when the service starts and then at each interval of every, or on "
          "each message on sub (the payload is its standard input, the topic is in "
          "$PSOS_TOPIC), or, with neither, once when the service starts; one run at a time. Its "
          "standard output, without a final "
          "newline, is the payload; an empty output publishes nothing. A non-zero exit status "
          "is logged with the first line of its standard error and publishes nothing. A run "
          "past timeout, or whose output passes 1 MiB, gets SIGTERM, then SIGKILL 2 s later, "
          "and is logged; stopping the service does the same to a run in progress. The command "
          "runs in its own process group (all of it is signalled), with the node's working "
          "directory and environment, less the PSOS_SECRET_ variables.",
      .params =
          {
              {.name = "command",
               .type = ParamType::Strings,
               .required = true,
               .description = "The program and its arguments, run directly (no shell); the "
                              "program is looked up in PATH"},
              pub_param("The topic the output is published to"),
              {.name = "every",
               .type = ParamType::Duration,
               .description = "Run at start and then at this interval (a run that takes "
                              "longer delays the next); not with sub",
               .minimum = 1000},
              {.name = "sub",
               .type = ParamType::Filters,
               .description = "Run on each message on these filters, in arrival order; not "
                              "with every"},
              {.name = "timeout",
               .type = ParamType::Duration,
               .default_value = "10s",
               .description = "A run that takes longer is killed and reported",
               .minimum = 1},
              qos_param(),
              retain_param(),
          },
      .runs_commands = true,
      .functions = {{.name = "run",
                     .description =
                         "Run the command now, as a scheduled run (its output published, a "
                         "failure logged), and return {exit (null when killed), stdout (its "
                         "first 64 KiB; truncated: true past that), stderr (its first 10 lines), "
                         "ms, and error when it was killed}. Refused while a run is in "
                         "progress; works while the service runs (every or sub)"}},
  };
}

namespace {

namespace asio = boost::asio;
using Descriptor = asio::posix::stream_descriptor;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct Pipe {
  int read = -1;
  int write = -1;
  ~Pipe() {
    if (read >= 0) ::close(read);
    if (write >= 0) ::close(write);
  }
  bool open() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    read = fds[0];
    write = fds[1];
    return true;
  }
  int release_read() { return std::exchange(read, -1); }
  int release_write() { return std::exchange(write, -1); }
};

// One run of the command: the child, its pipes driven by Asio, its exit watched through a pidfd
// (or polled), the timeout and the kill. Completion callbacks hold a shared_ptr, so the object
// lives until the last one has run; the destructor kills and reaps a child still there, so no
// zombie is left whatever ends the run.
class ChildRun : public std::enable_shared_from_this<ChildRun> {
 public:
  enum class End : std::uint8_t { Exited, Signalled, TimedOut, TooLarge };

  explicit ChildRun(asio::any_io_executor executor)
      : executor_(executor),
        out_(executor),
        err_(executor),
        in_(executor),
        exit_watch_(executor),
        timer_(executor),
        done_(executor, asio::steady_timer::time_point::max()) {}
  ChildRun(const ChildRun&) = delete;
  ChildRun& operator=(const ChildRun&) = delete;

  ~ChildRun() {
    if (pid_ > 0 && !reaped_) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);  // SIGKILL cannot be ignored: this does not wait long
    }
  }

  // Starts the command; `input` (when given) is written to its standard input, which is
  // /dev/null otherwise. Returns why it could not start, empty on success.
  std::string spawn(const std::vector<std::string>& command,
                    const std::optional<std::string>& input,
                    const std::vector<std::string>& extra_env) {
    if (command.empty()) return "the command is empty";
    Pipe out, err, in;
    if (!out.open() || !err.open() || (input && !in.open())) return std::strerror(errno);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (input)
      posix_spawn_file_actions_adddup2(&actions, in.read, 0);
    else
      posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out.write, 1);
    posix_spawn_file_actions_adddup2(&actions, err.write, 2);

    // Its own process group, so that a kill reaches what it started; default signal handling
    // and an empty mask, whatever the node set for itself (SIGPIPE ignored, say).
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attributes, &all);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setpgroup(&attributes, 0);
    posix_spawnattr_setflags(
        &attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

    std::vector<char*> argv;
    for (const std::string& a : command)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (char** e = environ; *e != nullptr; ++e)
      if (std::strncmp(*e, "PSOS_SECRET_", 12) != 0) envp.push_back(*e);
    for (const std::string& e : extra_env)
      envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);

    pid_t pid = 0;
    const int error =
        ::posix_spawnp(&pid, argv[0], &actions, &attributes, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (error != 0) return std::strerror(error);
    pid_ = pid;

    out_.assign(out.release_read());
    err_.assign(err.release_read());
    if (input) {
      input_ = *input;
      in_.assign(in.release_write());
    }
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd >= 0) exit_watch_.assign(pidfd);
    return {};
  }

  void start(std::chrono::milliseconds timeout) {
    auto self = shared_from_this();
    read(out_, out_chunk_, out_text_, kMaxOutput, out_open_);
    read(err_, err_chunk_, err_text_, kMaxErrorKept, err_open_);
    if (in_.is_open()) {
      asio::async_write(in_, asio::buffer(input_), [self](boost::system::error_code, std::size_t) {
        // A child that exits without reading its input gets EPIPE here (SIGPIPE is ignored).
        boost::system::error_code ignored;
        self->in_.close(ignored);
      });
    }
    watch_exit();
    timer_.expires_after(timeout);
    timer_.async_wait([self](boost::system::error_code ec) {
      if (!ec && !self->finished_) self->terminate(End::TimedOut);
    });
  }

  // SIGTERM to the child's group now, SIGKILL after the grace period; the run then ends as
  // `why` says (the first reason given counts).
  void terminate(End why) {
    if (terminating_) return;
    terminating_ = true;
    end_ = why;
    // The group, even when the child itself has exited: what it started may hold the pipes.
    // Its id cannot be reused while any member is alive; once none is, this is ESRCH.
    ::kill(-pid_, SIGTERM);
    timer_.expires_after(kKillGrace);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->finished_) return;
      ::kill(-self->pid_, SIGKILL);
      // Something that left the group may still hold the pipes: stop reading them.
      self->close_pipes();
      self->check_done();
    });
  }

  // Completes when the run has ended: child reaped, output read. Returns false when the wait
  // itself was cancelled (the service is stopping) before that.
  asio::awaitable<bool> wait() {
    if (!finished_) co_await done_.async_wait(use_tuple);
    co_return finished_;
  }

  bool finished() const noexcept { return finished_; }
  End end() const noexcept { return end_; }
  int status() const noexcept { return status_; }  // exit status, or signal number
  std::string& output() noexcept { return out_text_; }
  const std::string& errors() const noexcept { return err_text_; }

 private:
  void read(Descriptor& from, std::array<char, 16384>& chunk, std::string& text, std::size_t keep,
            bool& open) {
    from.async_read_some(
        asio::buffer(chunk), [this, self = shared_from_this(), &from, &chunk, &text, keep, &open](
                                 boost::system::error_code ec, std::size_t n) {
          if (ec) {
            open = false;
            check_done();
            return;
          }
          if (&text == &out_text_ && text.size() + n > keep) {
            terminate(End::TooLarge);
            n = 0;
          }
          text.append(chunk.data(), std::min(n, keep - std::min(keep, text.size())));
          read(from, chunk, text, keep, open);
        });
  }

  void watch_exit() {
    auto self = shared_from_this();
    if (exit_watch_.is_open()) {
      exit_watch_.async_wait(Descriptor::wait_read,
                             [self](boost::system::error_code ec) { self->on_exit_signal(ec); });
    } else {
      poll_.emplace(executor_, kExitPoll);
      poll_->async_wait([self](boost::system::error_code ec) { self->on_exit_signal(ec); });
    }
  }

  void on_exit_signal(boost::system::error_code ec) {
    if (ec == asio::error::operation_aborted) return;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == 0) {
      watch_exit();
      return;
    }
    reaped_ = true;
    exited_ = true;
    if (r == pid_) {
      if (WIFEXITED(status)) {
        status_ = WEXITSTATUS(status);
      } else if (WIFSIGNALED(status)) {
        status_ = WTERMSIG(status);
        if (!terminating_) end_ = End::Signalled;
      }
    }
    boost::system::error_code ignored;
    exit_watch_.close(ignored);
    // Output written just before the exit is still in the pipes; what keeps them open after
    // that (a background grandchild) gets until the timeout.
    check_done();
  }

  void close_pipes() {
    boost::system::error_code ignored;
    out_.close(ignored);
    err_.close(ignored);
    in_.close(ignored);
  }

  void check_done() {
    if (finished_ || !exited_ || out_open_ || err_open_) return;
    finished_ = true;
    close_pipes();
    timer_.cancel();
    done_.cancel();
  }

  asio::any_io_executor executor_;
  Descriptor out_, err_, in_, exit_watch_;
  std::optional<asio::steady_timer> poll_;
  asio::steady_timer timer_;
  asio::steady_timer done_;
  std::array<char, 16384> out_chunk_{}, err_chunk_{};
  std::string out_text_, err_text_, input_;
  pid_t pid_ = 0;
  bool out_open_ = true, err_open_ = true;
  bool exited_ = false, reaped_ = false, terminating_ = false, finished_ = false;
  End end_ = End::Exited;
  int status_ = 0;
};

std::string first_line(const std::string& text) {
  const auto end = text.find_first_of("\r\n");
  std::string line = text.substr(0, end);
  return line.empty() ? "(nothing on standard error)" : line;
}

std::string describe(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

struct Command {
  std::vector<std::string> argv;
  std::chrono::milliseconds timeout;
  std::string pub;
  mqtt::QoS qos;
  bool retain;
};

// What run() and calls of `run` share, held by both since a call may outlast run(): the command
// and the run in progress (one at a time).
struct Runner {
  Command command;
  std::shared_ptr<ChildRun> current;
  std::chrono::steady_clock::time_point since;  // when `current` started
  bool stopped = false;                         // run() has ended

  bool busy() const { return current && !current->finished(); }
};

// Starts a run; throws when the command cannot be started at all.
std::shared_ptr<ChildRun> start_run(Context& ctx, Runner& runner,
                                    const std::optional<std::string>& input,
                                    const std::string& topic) {
  const Command& c = runner.command;
  auto run = std::make_shared<ChildRun>(ctx.executor());
  std::vector<std::string> env;
  if (input) env.push_back("PSOS_TOPIC=" + topic);
  if (const std::string error = run->spawn(c.argv, input, env); !error.empty())
    throw std::runtime_error("cannot run " + c.argv.front() + ": " + error);
  run->start(c.timeout);
  runner.current = run;
  runner.since = std::chrono::steady_clock::now();
  return run;
}

// Why a finished run publishes nothing; nothing when it exited with status 0.
std::optional<std::string> failure_of(const Command& c, const ChildRun& run) {
  const std::string& program = c.argv.front();
  switch (run.end()) {
    case ChildRun::End::TimedOut:
      return program + " did not finish within " + describe(c.timeout) +
             ": killed; nothing published";
    case ChildRun::End::TooLarge:
      return program + " wrote more than 1 MiB to standard output: killed; nothing published";
    case ChildRun::End::Signalled:
      return program + " was killed by signal " + std::to_string(run.status()) + " (" +
             strsignal(run.status()) + "): " + first_line(run.errors());
    case ChildRun::End::Exited:
      break;
  }
  if (run.status() != 0)
    return program + " exited with status " + std::to_string(run.status()) + ": " +
           first_line(run.errors());
  return std::nullopt;
}

// Publishes what a finished run wrote, without its final newline (nothing when it wrote
// nothing), or logs why it publishes nothing.
void conclude(Context& ctx, const Command& c, ChildRun& run) {
  if (const std::optional<std::string> failure = failure_of(c, run)) {
    ctx.log().error("{}", *failure);
    return;
  }
  std::string& out = run.output();
  if (out.ends_with('\n')) out.pop_back();
  if (out.ends_with('\r')) out.pop_back();
  if (!out.empty()) ctx.publish(c.pub, out, c.qos, c.retain);
}

// Waits for a run a call started: a scheduled run never overlaps one.
asio::awaitable<void> wait_idle(Runner& runner) {
  while (runner.busy()) {
    const std::shared_ptr<ChildRun> other = runner.current;
    if (!co_await other->wait()) throw boost::system::system_error(asio::error::operation_aborted);
  }
}

// Runs the command once and publishes or reports what came of it. Throws when it cannot be
// started at all (a configuration error: the supervisor retries, then marks the service failed)
// and, after killing the child, when the service is being stopped.
asio::awaitable<void> run_once(Context& ctx, Runner& runner,
                               const std::optional<std::string>& input, const std::string& topic) {
  co_await wait_idle(runner);
  const std::shared_ptr<ChildRun> run = start_run(ctx, runner, input, topic);
  if (!co_await run->wait()) {
    // The service is stopping: the wait was cancelled. Kill the child and wait for it (a new
    // wait is not cancelled again), then end run() as the stop asks.
    co_await asio::this_coro::reset_cancellation_state();
    run->terminate(ChildRun::End::TimedOut);
    co_await run->wait();
    ctx.log().info("stopping: {} was still running and was killed", runner.command.argv.front());
    throw boost::system::system_error(asio::error::operation_aborted);
  }
  conclude(ctx, runner.command, *run);
}

// The first `count` lines of `text`.
std::string first_lines(const std::string& text, int count) {
  std::size_t end = 0;
  for (int i = 0; i < count; ++i) {
    end = text.find('\n', end);
    if (end == std::string::npos) return text;
    ++end;
  }
  return text.substr(0, end);
}

// `run`: a run now, as a scheduled one (published or logged the same way), with its result. Not
// cancelled when the service stops: run() ending kills the child, which ends the wait.
asio::awaitable<nlohmann::json> call_run(std::shared_ptr<Runner> runner, Context* ctx) {
  const Command& c = runner->command;
  if (runner->busy())
    throw std::runtime_error(c.argv.front() + " is running (for " +
                             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::steady_clock::now() - runner->since)
                                                .count()) +
                             " ms): one run at a time; call again when it has finished");
  const std::optional<std::string> no_input;
  const std::string no_topic;
  const std::shared_ptr<ChildRun> run = start_run(*ctx, *runner, no_input, no_topic);
  co_await run->wait();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - runner->since);
  if (runner->stopped)
    throw std::runtime_error("the service stopped during the run: " + c.argv.front() +
                             " was killed");
  nlohmann::json result = {
      {"exit", run->end() == ChildRun::End::Exited ? nlohmann::json(run->status()) : nullptr},
      {"stdout", run->output().substr(0, kMaxCallOutput)},
      {"stderr", first_lines(run->errors(), kCallErrorLines)},
      {"ms", took.count()}};
  if (run->output().size() > kMaxCallOutput) result["truncated"] = true;
  if (run->end() != ChildRun::End::Exited) result["error"] = *failure_of(c, *run);
  conclude(*ctx, c, *run);
  co_return result;
}

}  // namespace

asio::awaitable<void> run_exec(Context& ctx) {
  const Params& p = ctx.params();
  const auto runner =
      std::make_shared<Runner>(Runner{.command = {.argv = p.texts("command"),
                                                  .timeout = p.duration("timeout"),
                                                  .pub = p.text("pub"),
                                                  .qos = static_cast<mqtt::QoS>(p.integer("qos")),
                                                  .retain = p.boolean("retain")}});
  const Command& command = runner->command;
  if (command.argv.empty() || command.argv.front().empty())
    throw std::runtime_error("parameter \"command\" is empty: give the program and its arguments");
  if (p.has("every") && p.has("sub"))
    throw std::runtime_error(
        "give every or sub, not both (two services can run the same command both ways)");
  // Input goes to children through pipes: a child that exits without reading it must not kill
  // the node with SIGPIPE (children get default signal handling back in spawn()).
  static const bool sigpipe_ignored = [] { return std::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
  (void)sigpipe_ignored;
  // However run() ends, a run a call started ends with it.
  struct Stop {
    std::shared_ptr<Runner> runner;
    ~Stop() {
      runner->stopped = true;
      if (runner->busy()) runner->current->terminate(ChildRun::End::TimedOut);
    }
  } stop{runner};
  Context* context = &ctx;
  ctx.provide_async("run",
                    [runner, context](const nlohmann::json&) { return call_run(runner, context); });

  if (p.has("sub")) {
    for (const std::string& filter : p.texts("sub"))
      ctx.subscribe(filter);
    while (true) {
      const router::MessagePtr m = co_await ctx.next();
      const std::optional<std::string> input = m->payload;
      co_await run_once(ctx, *runner, input, m->topic);
    }
  }
  // Named, not temporaries in the co_await expressions (g++ 12 destroys those too early).
  const std::optional<std::string> no_input;
  const std::string no_topic;
  if (!p.has("every")) {
    co_await run_once(ctx, *runner, no_input, no_topic);
    co_return;
  }
  const auto every = p.duration("every");
  auto next = std::chrono::system_clock::now();
  while (true) {
    co_await run_once(ctx, *runner, no_input, no_topic);
    next += every;
    const auto now = std::chrono::system_clock::now();
    while (next < now)
      next += every;
    co_await ctx.sleep_until(next);
  }
}

Module exec_module() {
  return {.spec = exec_spec(), .run = run_exec};
}

}  // namespace psos::modules
