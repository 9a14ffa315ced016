#include "upstream/recording.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "ingest/json_parse.hpp"
#include "json_text/json_text.hpp"

namespace llmtrace::upstream {
namespace {

using json = nlohmann::json;

std::string string_field(const json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

endpoint infer_endpoint(const json& request) {
  if (!request.is_object()) return endpoint::chat_completions;
  if (request.contains("messages")) return endpoint::chat_completions;
  if (request.contains("prompt")) return endpoint::completions;
  if (request.contains("input")) {
    std::string model = string_field(request, "model");
    if (model.find("embed") != std::string::npos) return endpoint::embeddings;
    return endpoint::responses;
  }
  return endpoint::chat_completions;
}

endpoint endpoint_for_record(const json& request, const json& metadata) {
  std::string recorded = string_field(metadata, "endpoint");
  if (!recorded.empty()) {
    if (auto e = parse_endpoint(recorded)) return *e;
  }
  return infer_endpoint(request);
}

std::string error_message_for(const call_result& r, std::string_view stream_error) {
  switch (r.error) {
    case call_error::none:
      break;
    case call_error::connect:
      return "upstream unreachable: " + r.error_message;
    case call_error::transport:
      return r.status > 0 ? "upstream stream broken: " + r.error_message
                          : "upstream failed: " + r.error_message;
    case call_error::too_large:
      return "upstream response too large: " + r.error_message;
    case call_error::canceled:
      return "client disconnected before the response was complete";
    case call_error::refused:
      return "request refused: " + r.error_message;
  }
  if (r.status >= 200 && r.status < 300) {
    if (!stream_error.empty()) return "upstream stream error: " + std::string(stream_error);
    return {};
  }
  std::string detail;
  json body = json::parse(r.body, nullptr, false);
  if (!body.is_discarded() && body.is_object()) {
    const auto& err = body.contains("error") ? body["error"] : body;
    detail = string_field(err, "message");
    if (detail.empty() && err.is_string()) detail = err.get<std::string>();
  }
  if (detail.empty()) detail = std::string(json_text::utf8_prefix(r.body, 300));  // valid UTF-8 stays valid
  if (detail.empty()) detail = "no body";
  return "upstream " + std::to_string(r.status) + ": " + detail;
}

std::string body_as_json_text(std::string_view body, std::size_t max_bytes) {
  if (body.empty()) return "null";
  auto parsed = ingest::parse_json_limited(body);
  if (parsed.ok) return std::string(body);
  return json(std::string(json_text::utf8_prefix(body, max_bytes)))
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string redact(std::string text, const std::vector<std::string>& secrets) {
  for (const auto& s : secrets) {
    if (s.size() < 8) continue;
    for (auto pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos + 10)) {
      text.replace(pos, s.size(), "[redacted]");
    }
  }
  return text;
}

stream_redactor::stream_redactor(std::vector<std::string> secrets) {
  for (auto& sec : secrets) {
    if (sec.size() >= 8) secrets_.push_back(std::move(sec));
  }
}

std::string stream_redactor::push(std::string_view chunk) {
  if (secrets_.empty()) return std::string(chunk);
  pending_.append(chunk);
  pending_ = redact(std::move(pending_), secrets_);
  // Hold back the longest tail that is a proper prefix of some secret.
  std::size_t hold = 0;
  for (const auto& sec : secrets_) {
    for (std::size_t k = std::min(sec.size() - 1, pending_.size()); k > hold; --k) {
      if (pending_.compare(pending_.size() - k, k, sec, 0, k) == 0) {
        hold = k;
        break;
      }
    }
  }
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string stream_redactor::finish() {
  std::string out = redact(std::move(pending_), secrets_);
  pending_.clear();
  return out;
}

std::string proxy_session_id(std::string_view caller_credential, int64_t now_ms) {
  const int64_t hour = now_ms / 3'600'000;
  std::string input =
      "llmtrace-proxy-session\n" + std::string(caller_credential) + "\n" + std::to_string(hour);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "proxy-";
  for (unsigned int i = 0; i < 8 && i < len; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 0xF]);
  }
  return out;
}

std::string bearer_token(std::string_view authorization) {
  while (!authorization.empty() && authorization.back() == ' ') authorization.remove_suffix(1);
  if (authorization.size() == 6) {  // "Bearer" with an empty token (httplib trims the trailing space)
    std::string lowered(authorization);
    for (auto& ch : lowered) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lowered == "bearer") return {};
  }
  constexpr std::string_view scheme = "bearer ";
  if (authorization.size() > scheme.size()) {
    bool match = true;
    for (std::size_t i = 0; i < scheme.size(); ++i) {
      char c = authorization[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != scheme[i]) match = false;
    }
    if (match) {
      auto token = authorization.substr(scheme.size());
      while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
      while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
      return std::string(token);
    }
  }
  return std::string(authorization);
}

bool points_at_self(const base_url& upstream, const std::string& local_addr, int local_port) {
  if (upstream.port != local_port) return false;
  std::string host = upstream.host;
  for (auto& ch : host) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::string local = local_addr;
  if (local.rfind("::ffff:", 0) == 0) local.erase(0, 7);  // IPv4-mapped
  return host == "localhost" || host == "127.0.0.1" || host == "::1" || host == local ||
         (host.rfind("127.", 0) == 0 && local.rfind("127.", 0) == 0);
}

std::optional<refusal> check_callable(const upstream_client* client, const std::string& problem,
                                      const std::string& local_addr, int local_port) {
  if (!client)
    return refusal{503, "upstream_misconfigured",
                   "the upstream base URL is not usable (" + problem + "); fix --upstream / OPENAI_BASE_URL"};
  if (points_at_self(client->target(), local_addr, local_port))
    return refusal{
        508, "upstream_loop",
        "the upstream (--upstream / OPENAI_BASE_URL) is this collector itself; start the collector "
        "with --upstream pointing at the real API (do not export OPENAI_BASE_URL=<collector>/v1 in "
        "its own environment)"};
  return std::nullopt;
}

std::shared_ptr<upstream_client> make_client(const upstream_options& options, std::string* why) {
  try {
    return std::make_shared<upstream_client>(options);
  } catch (const std::exception& e) {
    if (why != nullptr) *why = e.what();
    return nullptr;
  }
}

}  // namespace llmtrace::upstream
