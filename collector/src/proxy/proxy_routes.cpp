#include "proxy/proxy_routes.hpp"

#include <string>

#include <httplib.h>

#include "config.hpp"
#include "http/auth.hpp"
#include "http/json_body.hpp"
#include "proxy/forwarder.hpp"
#include "upstream/upstream_client.hpp"

namespace llmtrace::proxy {

void mount(httplib::Server& server, forwarder& proxy, const config& cfg) {
  for (auto target : {upstream::endpoint::chat_completions, upstream::endpoint::completions,
                      upstream::endpoint::embeddings, upstream::endpoint::responses}) {
    std::string path = "/v1" + std::string(upstream::path_suffix(target));
    server.Post(path, [&proxy, &cfg, target](const httplib::Request& req, httplib::Response& res,
                                             const httplib::ContentReader& reader) {
      if (!http::require_auth(req, res, cfg)) return;
      http::json_body_rules rules;
      rules.max_bytes = cfg.max_body_bytes;
      rules.field = "body";
      std::string body;
      nlohmann::json parsed;
      if (!http::read_json_object(req, res, reader, rules, body, parsed)) return;
      proxy.forward(target, req, body, parsed, res);
    });
  }
}

}  // namespace llmtrace::proxy
