// `store` as a running service: messages kept in SQLite, queries answered over MQTT with
// filters, time ranges and paging, on the v5 response topic or the request's "reply".
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

}  // namespace
}  // namespace psos::modules
