#include "ingest/json_parse.hpp"

namespace llmtrace::ingest {
namespace {

using json = nlohmann::json;

// Delegates to nlohmann's own DOM builder and only adds the depth check, so the tree is built in the same
// pass that validates it (the body is parsed once).
class limited_sax {
 public:
  limited_sax(json& out, std::size_t max_depth) : dom_(out, false), max_depth_(max_depth) {}

  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) { return dom_.number_float(v, s); }
  bool string(json::string_t& v) { return dom_.string(v); }
  bool binary(json::binary_t& v) { return dom_.binary(v); }
  bool start_object(std::size_t n) { return enter() && dom_.start_object(n); }
  bool key(json::string_t& k) { return dom_.key(k); }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) { return enter() && dom_.start_array(n); }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t position, const std::string& token, const nlohmann::detail::exception& ex) {
    std::string what = ex.what();
    // nlohmann prefixes "[json.exception.parse_error.101] "; keep the human part.
    if (auto p = what.find("] "); p != std::string::npos) what.erase(0, p + 2);
    message_ = what;
    if (message_.find("byte") == std::string::npos)
      message_ += " at byte " + std::to_string(position);
    (void)token;
    return false;
  }

  bool too_deep() const { return too_deep_; }
  const std::string& message() const { return message_; }

 private:
  bool enter() {
    if (++depth_ > max_depth_) {
      too_deep_ = true;
      message_ = "JSON nesting deeper than " + std::to_string(max_depth_) + " levels";
      return false;
    }
    return true;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  std::size_t max_depth_;
  std::size_t depth_ = 0;
  bool too_deep_ = false;
  std::string message_;
};

}  // namespace

json_parse_result parse_json_limited(std::string_view text, std::size_t max_depth) {
  json_parse_result r;
  limited_sax sax(r.value, max_depth);
  bool ok = false;
  try {
    ok = json::sax_parse(text.begin(), text.end(), &sax, json::input_format_t::json, true, false);
  } catch (const std::exception& e) {  // defensive: the SAX path reports errors, it should not throw
    r.message = e.what();
    r.value = nullptr;
    return r;
  }
  if (!ok) {
    r.too_deep = sax.too_deep();
    r.message = sax.message().empty() ? "malformed JSON" : sax.message();
    r.value = nullptr;
    return r;
  }
  r.ok = true;
  return r;
}

}  // namespace llmtrace::ingest
