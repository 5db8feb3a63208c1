// `store`: keeps messages in SQLite and answers queries over MQTT (the seed's mod_ds, mod_ds_get).
#include <algorithm>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/multiple_exceptions.hpp>
#include <climits>
#include <exception>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "modules/builtin.hpp"
#include "modules/context.hpp"
#include "mqtt/topic.hpp"
#include "sqlite/database.hpp"

namespace psos::modules {

ModuleSpec store_spec() {
  return {
      .name = "store",
      .summary = "Keeps messages in SQLite and answers queries over MQTT",
      .description =
          "A query is a JSON object published to request: {\"filter\": \"+/dht\", \"from\": "
          "T1, \"to\": T2, \"limit\": N, \"after\": ID}, all optional (times in Unix "
          "milliseconds). The answer, a JSON object with the messages and the id to ask "
          "\"after\" for the next page, goes to the request's MQTT 5 response topic, or to the "
          "topic in its \"reply\" field.",
      .params =
          {
              sub_param("The messages to keep"),
              {.name = "path",
               .type = ParamType::String,
               .default_value = "store.db",
               .description = "The SQLite file, relative to the service's state directory"},
              {.name = "request",
               .type = ParamType::Topic,
               .default_value = "{node}/{service}/query",
               .description = "The topic queries arrive on"},
              {.name = "keep",
               .type = ParamType::Duration,
               .description = "Delete messages older than this; left out, keep them",
               .minimum = 1000},
              {.name = "max_messages",
               .type = ParamType::Integer,
               .description = "Keep at most this many messages, deleting the oldest",
               .minimum = 1},
              {.name = "page",
               .type = ParamType::Integer,
               .default_value = 100,
               .description = "The most messages one answer carries",
               .minimum = 1,
               .maximum = 10000},
          },
  };
}

namespace {

using nlohmann::json;

// Pending inserts are committed together at most this often: one fsync per batch instead of
// one per message.
constexpr std::chrono::milliseconds kCommitEvery{200};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The store's table of messages.
class Archive {
 public:
  explicit Archive(const std::filesystem::path& file) : db_(file.string()) {
    db_.exec("PRAGMA journal_mode=WAL");
    db_.exec(
        "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "ts INTEGER NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL)");
    db_.exec("CREATE INDEX IF NOT EXISTS messages_ts ON messages (ts)");
    insert_ = db_.prepare("INSERT INTO messages (ts, topic, payload) VALUES (?, ?, ?)");
    select_ = db_.prepare(
        "SELECT id, ts, topic, payload FROM messages WHERE id > ? AND ts >= ? AND ts <= ? "
        "ORDER BY id");
  }
  ~Archive() {
    if (db_.in_transaction()) db_.try_exec("COMMIT");
  }
  Archive(const Archive&) = delete;
  Archive& operator=(const Archive&) = delete;

  void insert(std::int64_t ts, const std::string& topic, const std::string& payload) {
    if (!db_.in_transaction()) db_.begin();
    insert_.bind(1, ts).bind_text(2, topic).bind_blob(3, payload).run();
  }

  void commit() {
    if (db_.in_transaction()) db_.commit();
  }

  void prune(std::optional<std::int64_t> older_than, std::optional<std::int64_t> keep_count) {
    if (older_than) db_.exec("DELETE FROM messages WHERE ts < " + std::to_string(*older_than));
    if (keep_count)
      db_.exec("DELETE FROM messages WHERE id <= (SELECT MAX(id) FROM messages) - " +
               std::to_string(*keep_count));
  }

  // The messages after `after` in [from, to] whose topic matches `filter`, at most `limit`;
  // `next` is set when more may follow.
  json query(const std::string& filter, std::int64_t after, std::int64_t from, std::int64_t to,
             std::int64_t limit) {
    json messages = json::array();
    json next = nullptr;
    select_.bind(1, after).bind(2, from).bind(3, to);
    while (select_.step()) {
      const std::string_view topic = select_.text(2);
      if (!filter.empty() && !mqtt::topic_matches(filter, topic)) continue;
      if (static_cast<std::int64_t>(messages.size()) == limit) {
        next = messages.back()["id"];
        break;
      }
      messages.push_back({{"id", select_.integer(0)},
                          {"ts", select_.integer(1)},
                          {"topic", topic},
                          {"payload", select_.blob(3)}});
    }
    select_.reset();
    return {{"messages", std::move(messages)}, {"next", next}};
  }

 private:
  sqlite::Database db_;
  sqlite::Statement insert_, select_;  // after db_: finalized before it closes
};

std::int64_t field(const json& request, const char* name, std::int64_t otherwise) {
  const auto it = request.find(name);
  if (it == request.end() || it->is_null()) return otherwise;
  if (!it->is_number_integer())
    throw std::invalid_argument(std::string("\"") + name + "\" must be a whole number");
  return it->get<std::int64_t>();
}

}  // namespace

boost::asio::awaitable<void> run_store(Context& ctx) {
  using namespace boost::asio::experimental::awaitable_operators;
  const Params& p = ctx.params();
  const std::filesystem::path path = p.text("path");
  const std::string& request_topic = p.text("request");
  const std::int64_t page = p.integer("page");
  const std::optional<std::int64_t> keep =
      p.has("keep") ? std::optional(p.duration("keep").count()) : std::nullopt;
  const std::optional<std::int64_t> max_messages =
      p.has("max_messages") ? std::optional(p.integer("max_messages")) : std::nullopt;
  Archive db(path.is_absolute() ? path : ctx.state_dir() / path);
  for (const std::string& filter : p.texts("sub"))
    ctx.subscribe(filter);
  ctx.subscribe(request_topic);

  const auto answer = [&](const router::Message& m) {
    json reply;
    std::string reply_topic = m.response_topic.value_or("");
    try {
      const json request = m.payload.empty() ? json::object() : json::parse(m.payload);
      if (!request.is_object()) throw std::invalid_argument("a query must be a JSON object");
      if (reply_topic.empty() && request.contains("reply") && request["reply"].is_string())
        reply_topic = request["reply"].get<std::string>();
      const json filter = request.value("filter", json(""));
      if (!filter.is_string() || (!filter.get<std::string>().empty() &&
                                  mqtt::validate_topic_filter(filter.get<std::string>())))
        throw std::invalid_argument("\"filter\" must be an MQTT topic filter");
      const std::int64_t limit = std::clamp<std::int64_t>(field(request, "limit", page), 1, page);
      db.commit();
      reply = db.query(filter.get<std::string>(), field(request, "after", 0),
                       field(request, "from", 0), field(request, "to", INT64_MAX), limit);
    } catch (const std::invalid_argument& e) {
      reply = {{"error", e.what()}};
    } catch (const json::exception& e) {
      reply = {{"error", std::string("a query must be JSON: ") + e.what()}};
    }
    if (reply_topic.empty()) {
      ctx.log().warn("a query on {} names no response topic and no \"reply\": not answered",
                     m.topic);
      return;
    }
    router::Message out;
    out.topic = std::move(reply_topic);
    out.payload = reply.dump(-1, ' ', false, json::error_handler_t::replace);
    out.correlation_data = m.correlation_data;
    out.content_type = "application/json";
    ctx.publish(std::move(out));
  };

  const auto receive = [&]() -> boost::asio::awaitable<void> {
    while (true) {
      const router::MessagePtr m = co_await ctx.next();
      if (m->topic == request_topic)
        answer(*m);
      else
        db.insert(now_ms(), m->topic, m->payload);
    }
  };
  const auto commit = [&]() -> boost::asio::awaitable<void> {
    while (true) {
      co_await ctx.sleep(kCommitEvery);
      db.commit();
      db.prune(keep ? std::optional(now_ms() - *keep) : std::nullopt, max_messages);
    }
  };
  // Both run until the service stops; either one's exception ends the other.
  try {
    co_await (receive() && commit());
  } catch (const boost::asio::multiple_exceptions& e) {
    // Both end on a stop; the supervisor is told the first reason.
    std::rethrow_exception(e.first_exception());
  }
}

}  // namespace psos::modules
