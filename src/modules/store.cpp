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
          "milliseconds). The answer, {\"messages\": [{\"id\", \"ts\", \"topic\", "
          "\"payload\"}], \"next\": ID or null}, goes to the request's MQTT 5 response topic, "
          "or to the topic in its \"reply\" field; ask again with \"after\": next for the "
          "next page. The function query takes the same fields as arguments and returns the "
          "same answer.",
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
      .functions =
          {
              {.name = "query",
               .description = "The messages kept, oldest first, as a query over MQTT answers "
                              "them: {messages: [{id, ts, topic, payload}], next}",
               .args =
                   {
                       {.name = "filter",
                        .type = ParamType::Filter,
                        .description = "Only messages whose topic matches; left out, all"},
                       {.name = "from",
                        .type = ParamType::Integer,
                        .default_value = 0,
                        .description = "Only messages stored at or after this time (Unix ms)"},
                       {.name = "to",
                        .type = ParamType::Integer,
                        .description = "Only messages stored at or before this time (Unix ms); "
                                       "left out, up to now"},
                       {.name = "after",
                        .type = ParamType::Integer,
                        .default_value = 0,
                        .description = "Only messages after this id: the previous answer's next"},
                       {.name = "limit",
                        .type = ParamType::Integer,
                        .description = "The most messages in the answer; left out, and at most, "
                                       "the service's page",
                        .minimum = 1},
                   }},
              {.name = "stats",
               .description = "What the store holds: rows, topics (distinct), oldest and "
                              "newest (Unix ms, null when empty) and bytes (the database file "
                              "and its write-ahead log on disk)"},
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
    stats_ =
        db_.prepare("SELECT COUNT(*), COUNT(DISTINCT topic), MIN(ts), MAX(ts) FROM messages");
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

  // Rows, distinct topics, oldest and newest time (null when empty).
  json stats() {
    const auto column = [&](int i) -> json {
      if (stats_.is_null(i)) return nullptr;
      return stats_.integer(i);
    };
    json out;
    if (stats_.step())
      out = {{"rows", column(0)}, {"topics", column(1)}, {"oldest", column(2)},
             {"newest", column(3)}};
    stats_.reset();
    return out;
  }

 private:
  sqlite::Database db_;
  sqlite::Statement insert_, select_, stats_;  // after db_: finalized before it closes
};

// The bytes a file takes, 0 when it is not there (the write-ahead log between checkpoints).
std::uintmax_t file_bytes(const std::filesystem::path& file) {
  std::error_code error;
  const std::uintmax_t size = std::filesystem::file_size(file, error);
  return error ? 0 : size;
}

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
  const std::filesystem::path file = path.is_absolute() ? path : ctx.state_dir() / path;
  Archive db(file);
  for (const std::string& filter : p.texts("sub"))
    ctx.subscribe(filter);
  ctx.subscribe(request_topic);

  // A query over MQTT or a call of query: the same fields, the same answer. Throws
  // std::invalid_argument naming a field that cannot be used.
  const auto query = [&](const json& request) {
    const json filter = request.value("filter", json(""));
    if (!filter.is_string() || (!filter.get<std::string>().empty() &&
                                mqtt::validate_topic_filter(filter.get<std::string>())))
      throw std::invalid_argument("\"filter\" must be an MQTT topic filter");
    const std::int64_t limit = std::clamp<std::int64_t>(field(request, "limit", page), 1, page);
    db.commit();
    return db.query(filter.get<std::string>(), field(request, "after", 0),
                    field(request, "from", 0), field(request, "to", INT64_MAX), limit);
  };
  ctx.provide("query", query);
  ctx.provide("stats", [&](const json&) {
    db.commit();
    json stats = db.stats();
    stats["bytes"] = file_bytes(file) + file_bytes(file.string() + "-wal");
    return stats;
  });

  const auto answer = [&](const router::Message& m) {
    json reply;
    std::string reply_topic = m.response_topic.value_or("");
    try {
      const json request = m.payload.empty() ? json::object() : json::parse(m.payload);
      if (!request.is_object()) throw std::invalid_argument("a query must be a JSON object");
      if (reply_topic.empty() && request.contains("reply") && request["reply"].is_string())
        reply_topic = request["reply"].get<std::string>();
      reply = query(request);
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

Module store_module() {
  return {.spec = store_spec(), .run = run_store};
}

}  // namespace psos::modules
