#include "ingest/pricing.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace llmtrace::ingest {

// collector/prices.json as text (generated at build time: builtin_prices.cpp in the build tree).
extern const char k_builtin_prices[];

namespace {

using json = nlohmann::json;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::size_t line_of(std::string_view text, std::size_t pos) {
  pos = std::min(pos, text.size());
  return 1 + static_cast<std::size_t>(
                 std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(pos), '\n'));
}

// The line of "key" (as a JSON key) at or after `from`; `from` moves to it. The DOM keeps no positions, so an
// error about an entry is placed by finding its key in the text.
std::size_t find_key(std::string_view text, std::string_view key, std::size_t& from) {
  const std::string quoted = json(std::string(key)).dump();
  auto p = text.find(quoted, from);
  if (p == std::string_view::npos) return line_of(text, from);
  from = p;
  return line_of(text, p);
}

// A model-name boundary: what may follow a known name in a longer one (a date, a version, a tag).
bool boundary(char c) {
  return c == '-' || c == ':' || c == '@' || c == '_';
}

}  // namespace

pricing pricing::builtin() {
  pricing p;
  p.merge_text(k_builtin_prices, "built-in prices.json");
  return p;
}

void pricing::merge_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw price_file_error(path + ": line 0: file: cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  merge_text(text.str(), path);
}

void pricing::merge_text(std::string_view text, const std::string& origin) {
  auto fail = [&](std::size_t line, const std::string& field, const std::string& problem) {
    throw price_file_error(origin + ": line " + std::to_string(line) + ": " + field + ": " + problem);
  };
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    if (auto p = what.find("syntax error"); p != std::string::npos) what = what.substr(p);
    fail(line_of(text, e.byte > 0 ? e.byte - 1 : 0), "json", what);
  }
  if (!doc.is_object()) fail(1, "json", "must be an object {\"models\": {...}}");
  auto models = doc.find("models");
  std::size_t pos = 0;
  if (models == doc.end() || !models->is_object())
    fail(find_key(text, "models", pos), "models", "must be an object of model name -> prices");
  find_key(text, "models", pos);
  std::map<std::string, model_price, std::less<>> added;
  for (auto it = models->begin(); it != models->end(); ++it) {
    // nlohmann iterates keys sorted, the text has them in any order: look each key up from the start.
    std::size_t at = pos;
    const std::size_t line = find_key(text, it.key(), at);
    const std::string where = "models." + it.key();
    if (it.key().empty()) fail(line, where, "the model name must not be empty");
    if (!it->is_object()) fail(line, where, "must be an object {\"input\", \"output\", ...}");
    model_price mp;
    auto number = [&](const char* key, bool required) -> std::optional<double> {
      auto f = it->find(key);
      std::size_t kat = at;
      if (f == it->end() || f->is_null()) {
        if (required) fail(line, where + "." + key, "missing (USD per 1M tokens)");
        return std::nullopt;
      }
      const std::size_t kline = find_key(text, key, kat);
      if (!f->is_number()) fail(kline, where + "." + key, "must be a number (USD per 1M tokens)");
      const double d = f->get<double>();
      if (!std::isfinite(d) || d < 0)
        fail(kline, where + "." + key, "must not be negative (got " + f->dump() + ")");
      return d;
    };
    mp.input = *number("input", true);
    mp.output = *number("output", true);
    mp.cached_input = number("cached_input", false);
    for (const char* key : {"date", "source"}) {
      auto f = it->find(key);
      if (f == it->end() || f->is_null()) continue;
      std::size_t kat = at;
      if (!f->is_string()) fail(find_key(text, key, kat), where + "." + key, "must be a string");
      (std::string_view(key) == "date" ? mp.date : mp.source) = f->get<std::string>();
    }
    added[lower(it.key())] = std::move(mp);
  }
  // Only a file that is valid as a whole changes the table.
  for (auto& [k, v] : added) entries_[k] = std::move(v);
}

const model_price* pricing::find(std::string_view model_name) const {
  std::string name = lower(model_name);
  // A provider or route prefix: "openai/gpt-4o", "models/gemini-1.5-pro".
  if (auto slash = name.rfind('/'); slash != std::string::npos) name.erase(0, slash + 1);
  if (name.empty()) return nullptr;
  // The longest key that is the whole name or ends at a boundary of it. Candidates sort just before the
  // name, so walk down from its position while keys still share its first character.
  const model_price* best = nullptr;
  std::size_t best_len = 0;
  for (auto it = entries_.upper_bound(name); it != entries_.begin();) {
    --it;
    const std::string& key = it->first;
    if (key.empty() || key[0] != name[0]) break;
    if (key.size() <= best_len || key.size() > name.size()) continue;
    if (name.compare(0, key.size(), key) != 0) continue;
    if (key.size() == name.size() || boundary(name[key.size()])) {
      best = &it->second;
      best_len = key.size();
    }
  }
  return best;
}

std::optional<double> pricing::cost(std::string_view model_name, const model::token_usage& usage) const {
  if (!usage.prompt_tokens && !usage.completion_tokens) return std::nullopt;
  const model_price* p = find(model_name);
  if (!p) return std::nullopt;
  const double prompt = static_cast<double>(usage.prompt_tokens.value_or(0));
  const double cached = std::clamp(static_cast<double>(usage.cached_tokens.value_or(0)), 0.0, prompt);
  const double completion = static_cast<double>(usage.completion_tokens.value_or(0));
  return ((prompt - cached) * p->input + cached * p->cached_input.value_or(p->input) +
          completion * p->output) /
         1e6;
}

}  // namespace llmtrace::ingest
