// `store` as a running service: messages kept in SQLite, queries answered over MQTT with
// filters, time ranges and paging, on the v5 response topic or the request's "reply", and the
// same queries and the store's figures as functions (query, stats).
#include <sqlite3.h>

#include "module_harness.hpp"

namespace psos::modules {
namespace {

using nlohmann::json;

class StoreModule : public ModuleHarness {
 protected:
  static json params(json extra = json::object()) {
    json p = {
        {"sub", {"data/#"}}, {"path", "store.db"}, {"request", "node1/svc/query"}, {"page", 100}};
    p.update(extra);
    return p;
  }
  // Sends `query` with a "reply" topic and returns the answer.
  json ask(json query) {
    const std::size_t before = seen_.size();
    query["reply"] = "answers";
    send("node1/svc/query", query.dump());
    if (!received(before + 1)) return "no answer";
    return json::parse(seen_.back()->payload);
  }
  static std::vector<std::string> payloads(const json& answer) {
    std::vector<std::string> out;
    for (const json& m : answer["messages"])
      out.push_back(m["payload"].get<std::string>());
    return out;
  }
};

TEST_F(StoreModule, AnswersWithTheMessagesItKept) {
  start("store", params());
  watch("answers");
  send("data/a", "1");
  send("other/x", "not kept");
  send("data/b", R"({"t": 2})");
  io_.run_for(std::chrono::milliseconds(20));
  const json answer = ask(json::object());
  EXPECT_EQ(payloads(answer), (std::vector<std::string>{"1", R"({"t": 2})"})) << answer;
  EXPECT_EQ(answer["messages"][1]["topic"], "data/b");
  EXPECT_TRUE(answer["next"].is_null());
}

TEST_F(StoreModule, FiltersAndPages) {
  start("store", params());
  watch("answers");
  for (int i = 0; i < 5; ++i) {
    send("data/a", "a" + std::to_string(i));
    send("data/b", "b" + std::to_string(i));
  }
  io_.run_for(std::chrono::milliseconds(20));
  json answer = ask({{"filter", "data/a"}, {"limit", 2}});
  EXPECT_EQ(payloads(answer), (std::vector<std::string>{"a0", "a1"})) << answer;
  ASSERT_FALSE(answer["next"].is_null());
  answer = ask({{"filter", "data/a"}, {"limit", 2}, {"after", answer["next"]}});
  EXPECT_EQ(payloads(answer), (std::vector<std::string>{"a2", "a3"})) << answer;
  answer = ask({{"filter", "data/a"}, {"limit", 2}, {"after", answer["next"]}});
  EXPECT_EQ(payloads(answer), (std::vector<std::string>{"a4"})) << answer;
  EXPECT_TRUE(answer["next"].is_null());
}

TEST_F(StoreModule, TimeRange) {
  start("store", params());
  watch("answers");
  send("data/a", "x");
  io_.run_for(std::chrono::milliseconds(20));
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  EXPECT_EQ(payloads(ask({{"from", now - 60000}, {"to", now + 1000}})),
            (std::vector<std::string>{"x"}));
  EXPECT_TRUE(payloads(ask({{"from", now + 60000}})).empty());
  EXPECT_TRUE(payloads(ask({{"to", now - 60000}})).empty());
}

TEST_F(StoreModule, RepliesOnTheResponseTopicWithTheCorrelationData) {
  start("store", params());
  watch("resp/me");
  send("data/a", "x");
  router::Message query;
  query.topic = "node1/svc/query";
  query.payload = "{}";
  query.response_topic = "resp/me";
  query.correlation_data = "id-7";
  probe_.publish(std::move(query));
  ASSERT_TRUE(received(1)) << log_text();
  EXPECT_EQ(seen_[0]->correlation_data.value_or(""), "id-7");
  EXPECT_EQ(payloads(json::parse(seen_[0]->payload)), (std::vector<std::string>{"x"}));
}

TEST_F(StoreModule, ABadQueryGetsAnError) {
  start("store", params());
  watch("answers");
  EXPECT_EQ(ask({{"limit", "ten"}}), json({{"error", "\"limit\" must be a whole number"}}));
  EXPECT_FALSE(finished_) << failure();
}

TEST_F(StoreModule, CommitsToTheFileAndPrunes) {
  start("store", params({{"max_messages", 3}}));
  for (int i = 0; i < 5; ++i)
    send("data/a", std::to_string(i));
  const auto file = state_root_ / "svc" / "store.db";
  const auto rows = [&] {
    sqlite3* db = nullptr;
    int count = -1;
    if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_exec(
          db, "SELECT COUNT(*) FROM messages",
          [](void* out, int, char** values, char**) {
            *static_cast<int*>(out) = std::atoi(values[0]);
            return 0;
          },
          &count, nullptr);
    }
    sqlite3_close(db);
    return count;
  };
  EXPECT_TRUE(run_until([&] { return rows() == 3; })) << rows() << " rows; " << log_text();
}

TEST_F(StoreModule, QueryAsAFunctionAnswersAsTheMqttQueryDoes) {
  start("store", params());
  watch("answers");
  for (int i = 0; i < 3; ++i) {
    send("data/a", "a" + std::to_string(i));
    send("data/b", "b" + std::to_string(i));
  }
  io_.run_for(std::chrono::milliseconds(20));
  const json query = {{"filter", "data/a"}, {"limit", 2}};
  const json answer = call("query", query);
  EXPECT_EQ(payloads(answer), (std::vector<std::string>{"a0", "a1"})) << answer;
  EXPECT_EQ(answer["messages"][0]["topic"], "data/a");
  EXPECT_EQ(answer, ask(query));
  EXPECT_EQ(payloads(call("query", {{"filter", "data/a"}, {"after", answer["next"]}})),
            (std::vector<std::string>{"a2"}));
  EXPECT_EQ(call("query")["messages"].size(), 6u);
  EXPECT_EQ(call("query", {{"limit", 1000}})["messages"].size(), 6u) << "at most page";
}

TEST_F(StoreModule, QueryArgumentsAreCheckedAsTheSpecSays) {
  start("store", params());
  EXPECT_EQ(call("query", {{"limit", 0}}),
            json({{"error", "invalid_arguments"}, {"message", "limit: 0 is below the minimum 1"}}));
  EXPECT_EQ(call("query", {{"filter", "a/#/b"}}),
            json({{"error", "invalid_arguments"},
                  {"message",
                   "filter: invalid topic filter \"a/#/b\": '#' must be the last "
                   "topic level"}}));
  EXPECT_EQ(call("query", {{"limt", 5}}),
            json({{"error", "invalid_arguments"},
                  {"message",
                   "limt: unknown argument \"limt\" of function query; did you mean "
                   "\"limit\"?"}}));
}

TEST_F(StoreModule, StatsCountRowsAndTopics) {
  start("store", params());
  const json empty = call("stats");
  EXPECT_EQ(empty["rows"], 0);
  EXPECT_EQ(empty["topics"], 0);
  EXPECT_TRUE(empty["oldest"].is_null());
  EXPECT_TRUE(empty["newest"].is_null());
  EXPECT_GT(empty["bytes"].get<std::int64_t>(), 0);
  const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  send("data/a", "1");
  send("data/b", "2");
  send("data/a", "3");
  io_.run_for(std::chrono::milliseconds(20));
  const json stats = call("stats");
  EXPECT_EQ(stats["rows"], 3) << stats;
  EXPECT_EQ(stats["topics"], 2);
  EXPECT_GE(stats["oldest"].get<std::int64_t>(), before);
  EXPECT_GE(stats["newest"], stats["oldest"]);
  EXPECT_EQ(stats.size(), 5u) << stats;
}

}  // namespace
}  // namespace psos::modules
