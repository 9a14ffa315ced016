// The price table that turns a record's model and token usage into cost_usd at ingest (SPEC "Data model"):
// the built-in table (collector/prices.json, embedded at build time) plus the entries of an optional
// --prices file, matched by model name (provider prefix and date/version suffixes ignored, the longest known
// name wins; an unknown model costs nothing known: nullopt, never a guess).
// Lifetime/threading: built once by the composition root before the server starts, then only read (const),
// so any number of threads may price concurrently.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "model/record.hpp"

namespace llmtrace::ingest {

// USD per 1M tokens.
struct model_price {
  double input = 0;
  std::optional<double> cached_input;  // none: cached prompt tokens cost the input price
  double output = 0;
  std::string date;    // when the price was read
  std::string source;  // the page it was read from
};

// A price file that does not parse or holds a bad entry. what(): "<origin>: line N: <field>: <problem>".
struct price_file_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class pricing {
 public:
  // An empty table (prices nothing).
  pricing() = default;
  // The built-in table. Throws price_file_error if the embedded file is broken (a build bug; tested).
  static pricing builtin();

  // Adds/overrides entries from a price file's text; `origin` names it in errors. Throws price_file_error.
  // Format: {"models": {"<name>": {"input": n, "cached_input"?: n, "output": n, "date"?: s, "source"?: s}}}
  void merge_text(std::string_view text, const std::string& origin);
  // The same for a file on disk (a file that cannot be read is a price_file_error too).
  void merge_file(const std::string& path);

  // The entry that prices `model_name`, or null.
  const model_price* find(std::string_view model_name) const;
  // USD for this usage: ((prompt - cached) * input + cached * cached_input + completion * output) / 1e6.
  // nullopt when the model is unknown or the usage has neither prompt nor completion tokens.
  std::optional<double> cost(std::string_view model_name, const model::token_usage& usage) const;

  const std::map<std::string, model_price, std::less<>>& entries() const { return entries_; }

 private:
  std::map<std::string, model_price, std::less<>> entries_;  // keys lower case
};

}  // namespace llmtrace::ingest
