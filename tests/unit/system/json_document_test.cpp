// The JSON reader: values as nlohmann::json, the position of every value and key, and syntax
// errors that say where (line, column, path) and what.
#include "system/json_document.hpp"

#include <gtest/gtest.h>

#include <string>

#include "system/diagnostic.hpp"

namespace psos::system {
namespace {

std::string first_problem(std::string_view text) {
  const JsonReadResult result = read_json(text);
  if (result.problems.empty()) return "(none)";
  const JsonProblem& p = result.problems.front();
  return to_string(p.at) + " " + (p.path.empty() ? "(root)" : p.path) + ": " + p.message;
}

TEST(JsonDocument, ReadsValuesOfEveryKind) {
  const JsonReadResult result = read_json(
      R"({"s": "a\"\u00e9\ud83d\ude00", "i": -12, "u": 18446744073709551615, "f": 1.5e2,
          "b": [true, false, null], "o": {}})");
  ASSERT_TRUE(result.document) << first_problem(R"({})");
  const nlohmann::json& root = result.document->root();
  EXPECT_EQ(root["s"], "a\"\u00e9\U0001F600");
  EXPECT_TRUE(root["i"].is_number_integer());
  EXPECT_EQ(root["i"], -12);
  EXPECT_TRUE(root["u"].is_number_unsigned());
  EXPECT_TRUE(root["f"].is_number_float());
  EXPECT_EQ(root["f"], 150.0);
  EXPECT_EQ(root["b"], nlohmann::json::parse("[true, false, null]"));
  EXPECT_TRUE(root["o"].is_object());
}

TEST(JsonDocument, KnowsWhereEveryValueAndKeyIs) {
  const std::string text =
      "{\n"
      "  \"nodes\": {\n"
      "    \"e01\": {\"services\": [1, {\"every\": \"10s\"}]}\n"
      "  }\n"
      "}\n";
  const JsonReadResult result = read_json(text);
  ASSERT_TRUE(result.document);
  const JsonDocument& doc = *result.document;
  EXPECT_EQ(to_string(doc.at("")), "1:1");
  EXPECT_EQ(to_string(doc.key_at("nodes")), "2:3");
  EXPECT_EQ(to_string(doc.at("nodes")), "2:12");
  EXPECT_EQ(to_string(doc.key_at("nodes/e01")), "3:5");
  EXPECT_EQ(to_string(doc.at("nodes/e01/services/0")), "3:26");
  EXPECT_EQ(to_string(doc.at("nodes/e01/services/1")), "3:29");
  EXPECT_EQ(to_string(doc.at("nodes/e01/services/1/every")), "3:39");
  // A path the document lacks falls back to its nearest ancestor.
  EXPECT_EQ(to_string(doc.at("nodes/e01/services/1/pub")), "3:29");
  // Inside a string written without escapes: the character itself.
  EXPECT_EQ(to_string(doc.inside("nodes/e01/services/1/every", 2)), "3:42");
}

TEST(JsonDocument, ColumnsCountCharactersNotBytes) {
  const JsonReadResult result = read_json("{\"a\": \"°C°\", \"b\": 1}");
  ASSERT_TRUE(result.document);
  EXPECT_EQ(to_string(result.document->at("b")), "1:19");
  EXPECT_EQ(to_string(result.document->inside("a", 3)), "1:10");  // the second '°'
}

TEST(JsonDocument, PathsEscapeSlashAndTilde) {
  EXPECT_EQ(child_path("", "a/b~c"), "a~1b~0c");
  EXPECT_EQ(child_path("x", std::size_t{3}), "x/3");
  const JsonReadResult result = read_json(R"({"a/b": [0, 1]})");
  ASSERT_TRUE(result.document);
  EXPECT_EQ(to_string(result.document->at("a~1b/1")), "1:13");
}

TEST(JsonDocument, SyntaxErrorsNameLineColumnAndPath) {
  EXPECT_EQ(first_problem("{\n  \"a\": 1\n  \"b\": 2\n}"),
            "3:3 (root): expected ',' or '}' after the value of \"a\", found '\"'");
  EXPECT_EQ(first_problem("{\"a\": {\"b\": [1, 2,]}}"),
            "1:19 a/b: comma before ']': JSON allows no trailing comma");
  EXPECT_EQ(first_problem("{\"a\": 1,}"),
            "1:9 (root): comma before '}': JSON allows no trailing comma");
  EXPECT_EQ(first_problem("{\"a\": 'x'}"),
            "1:7 a: expected a value, found ''' (JSON strings need double quotes)");
  EXPECT_EQ(first_problem("{\n  // note\n}"),
            "2:3 (root): expected a key in double quotes, found '/' (JSON has no comments: use a "
            "\"description\" key)");
  EXPECT_EQ(first_problem("{\"a\": \"x"), "1:7 a: string not closed: missing '\"'");
  EXPECT_EQ(first_problem("{\"a\": \"x\ny\"}"),
            "1:9 a: line break in a string: write \\n, or close the string with '\"'");
  EXPECT_EQ(first_problem("[01]"), "1:2 0: a number cannot start with 0 (JSON has no octal)");
  EXPECT_EQ(first_problem("{\"a\": \"\\q\"}"),
            "1:8 a: unknown escape '\\q' in a string (write \\\\ for a backslash)");
  EXPECT_EQ(first_problem("{\"a\": \"\\ud800\"}"),
            "1:8 a: \\u escape of a high surrogate without its low surrogate");
  EXPECT_EQ(first_problem("{\"a\": \"\\u0000\"}"), "1:8 a: \\u0000 is not allowed in a string");
  EXPECT_EQ(first_problem("{\"a\": \"\xC3\"}"), "1:8 a: invalid UTF-8 in a string");
  EXPECT_EQ(first_problem("{} x"), "1:4 (root): unexpected 'x' after the JSON value");
  EXPECT_EQ(first_problem(""), "1:1 (root): unexpected end of input: expected a value");
  EXPECT_EQ(first_problem("[1e999]"), "1:2 0: number out of range");
}

TEST(JsonDocument, RedactedErrorsDoNotQuoteTheInput) {
  const JsonReadResult result = read_json("{\"a\": s3cret}", {.redact = true});
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_EQ(result.problems[0].message,
            "expected a value, found character (JSON strings need double quotes)");
}

TEST(JsonDocument, DuplicateKeysAreReportedAndTheFirstValueKept) {
  const JsonReadResult result = read_json("{\"a\": 1,\n \"a\": {\"b\": 2}}");
  ASSERT_TRUE(result.document);
  EXPECT_EQ(result.document->root()["a"], 1);
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_EQ(to_string(result.problems[0].at), "2:2");
  EXPECT_EQ(result.problems[0].message,
            "duplicate key \"a\" (first at 1:2): the first value is used");
}

TEST(JsonDocument, DeepNestingIsAnErrorNotACrash) {
  const std::string deep(100000, '[');
  const JsonReadResult result = read_json(deep);
  EXPECT_FALSE(result.document);
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_EQ(result.problems[0].message, "values nested deeper than 200 levels");
}

TEST(JsonDocument, SkipsAByteOrderMark) {
  const JsonReadResult result = read_json("\xEF\xBB\xBF{\"a\": 1}");
  ASSERT_TRUE(result.document);
  EXPECT_EQ(result.document->root()["a"], 1);
  EXPECT_EQ(to_string(result.document->at("a")), "1:7");
}

TEST(JsonDocument, PositionsOnALongLineComeOutRight) {
  std::string text = "[";
  for (int i = 0; i < 1000; ++i)
    text += "\"é\", ";
  text += "1]";
  const JsonReadResult result = read_json(text);
  ASSERT_TRUE(result.document);
  EXPECT_EQ(to_string(result.document->at("999")), "1:" + std::to_string(2 + 999 * 5));
  EXPECT_EQ(to_string(result.document->at("1000")), "1:" + std::to_string(2 + 1000 * 5));
}

}  // namespace
}  // namespace psos::system
