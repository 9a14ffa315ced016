// The price table: the built-in file parses and is dated and sourced, names match with provider prefixes and
// date/version suffixes (longest known name wins), unknown models cost null, override files add and replace
// entries, and bad files are refused naming the line and field.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "ingest/pricing.hpp"

using llmtrace::ingest::price_file_error;
using llmtrace::ingest::pricing;
using llmtrace::model::token_usage;

namespace {

token_usage usage(int64_t prompt, int64_t completion, std::optional<int64_t> cached = std::nullopt) {
  token_usage u;
  u.prompt_tokens = prompt;
  u.completion_tokens = completion;
  u.cached_tokens = cached;
  return u;
}

std::string refusal(const std::string& text) {
  pricing p;
  try {
    p.merge_text(text, "p.json");
  } catch (const price_file_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("pricing: the built-in table parses, every entry dated and with its source page") {
  pricing p = pricing::builtin();
  CHECK(p.entries().size() >= 40);
  for (const auto& [name, price] : p.entries()) {
    INFO(name);
    CHECK(price.date.size() == 10);
    CHECK(price.source.rfind("https://", 0) == 0);
  }
  for (auto vendor :
       {"gpt-4o", "claude-3-5-sonnet", "gemini-2.0-flash", "deepseek-chat", "qwen-max", "mistral-large"})
    CHECK_MESSAGE(p.find(vendor) != nullptr, vendor);
}

TEST_CASE("pricing: provider prefixes and date/version suffixes match; the longest known name wins") {
  pricing p = pricing::builtin();
  const auto* mini = p.find("gpt-4o-mini");
  REQUIRE(mini);
  CHECK(p.find("gpt-4o-mini-2024-07-18") == mini);
  CHECK(p.find("openai/gpt-4o-mini") == mini);
  CHECK(p.find("GPT-4o-Mini") == mini);
  CHECK(p.find("gpt-4o-2024-08-06") == p.find("gpt-4o"));
  CHECK(p.find("gpt-4o-2024-08-06") != mini);
  CHECK(p.find("gpt-4o-2024-05-13")->input == doctest::Approx(5.0));  // its own dated entry
  CHECK(p.find("claude-3-5-sonnet-20241022") == p.find("claude-3-5-sonnet"));
  CHECK(p.find("anthropic/claude-3-5-sonnet-latest") == p.find("claude-3-5-sonnet"));
  CHECK(p.find("claude-3-5-sonnet@20240620") == p.find("claude-3-5-sonnet"));
  CHECK(p.find("mistral-large-latest") == p.find("mistral-large"));
  // A name is not a prefix of a different model: gpt-4 does not price gpt-4o-something or gpt-4.5.
  CHECK(p.find("gpt-4") != p.find("gpt-4o"));
  CHECK(p.find("gpt-4.5-preview") == nullptr);
  CHECK(p.find("my-finetune") == nullptr);
  CHECK(p.find("") == nullptr);
  CHECK(p.find("openai/") == nullptr);
}

TEST_CASE("pricing: cost from usage, cached prompt tokens at the cached price, unknown model null") {
  pricing p = pricing::builtin();
  // gpt-4o-mini: 0.15 in, 0.075 cached, 0.60 out per 1M.
  auto c = p.cost("gpt-4o-mini-2024-07-18", usage(1000, 500));
  REQUIRE(c);
  CHECK(*c == doctest::Approx((1000 * 0.15 + 500 * 0.60) / 1e6));
  auto cached = p.cost("gpt-4o-mini", usage(1000, 500, 400));
  REQUIRE(cached);
  CHECK(*cached == doctest::Approx((600 * 0.15 + 400 * 0.075 + 500 * 0.60) / 1e6));
  CHECK_FALSE(p.cost("unknown-model-7b", usage(1000, 500)));
  CHECK_FALSE(p.cost("gpt-4o", token_usage{}));  // no usage: no cost
}

TEST_CASE("pricing: an override file adds and replaces entries") {
  pricing p = pricing::builtin();
  p.merge_text(R"({"models": {"gpt-4o": {"input": 1, "output": 2}, "my-model": {"input": 3, "output": 4}}})",
               "o.json");
  CHECK(p.find("gpt-4o")->input == doctest::Approx(1.0));
  CHECK(p.find("my-model-v2")->output == doctest::Approx(4.0));
  CHECK(p.find("gpt-4o-mini")->input == doctest::Approx(0.15));  // untouched
}

TEST_CASE("pricing: a file that does not parse or has a negative price is refused naming line and field") {
  auto syntax = refusal("{\n  \"models\": {\n    \"a\": {\"input\": 1,, \"output\": 2}\n  }\n}\n");
  CHECK(syntax.find("p.json: line 3") != std::string::npos);
  auto negative = refusal(
      "{\n  \"models\": {\n    \"a\": {\"input\": 1, \"output\": 2},\n"
      "    \"b\": {\"input\": 1,\n            \"output\": -2}\n  }\n}\n");
  INFO(negative);
  CHECK(negative.find("line 5") != std::string::npos);
  CHECK(negative.find("models.b.output") != std::string::npos);
  CHECK(negative.find("negative") != std::string::npos);
  CHECK(refusal(R"({"models": {"a": {"input": "1", "output": 2}}})").find("models.a.input") !=
        std::string::npos);
  CHECK(refusal(R"({"models": {"a": {"output": 2}}})").find("models.a.input") != std::string::npos);
  CHECK(refusal(R"([1, 2])").find("json") != std::string::npos);
  CHECK(refusal(R"({"prices": {}})").find("models") != std::string::npos);
  // A refused file changes nothing.
  pricing p;
  CHECK_THROWS_AS(
      p.merge_text(R"({"models": {"x": {"input": 1, "output": 2}, "y": {"input": -1, "output": 0}}})",
                   "p.json"),
      price_file_error);
  CHECK(p.find("x") == nullptr);
  CHECK_THROWS_AS(p.merge_file("/nonexistent/prices.json"), price_file_error);
}
