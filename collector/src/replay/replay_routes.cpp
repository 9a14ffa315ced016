#include "replay/replay_routes.hpp"

#include <string>

#include <httplib.h>

#include "config.hpp"
#include "http/auth.hpp"
#include "http/body.hpp"
#include "http/errors.hpp"
#include "http/render.hpp"
#include "http/store_errors.hpp"
#include "replay/replay_service.hpp"

namespace llmtrace::replay {

void mount(httplib::Server& server, replay_service& replays, const config& cfg) {
  server.Post(R"(/api/records/([^/]+)/replay)",
              [&replays, &cfg](const httplib::Request& req, httplib::Response& res,
                               const httplib::ContentReader& reader) {
                if (!http::require_auth(req, res, cfg)) return;
                std::string body;
                auto st = http::read_body(req, reader, cfg.max_body_bytes, body, res);
                if (st != http::body_status::ok) return http::write_body_error(res, st, cfg.max_body_bytes);
                http::with_store(res, [&] {
                  replay_outcome out =
                      replays.replay(req.matches[1], body, req.local_addr, req.local_port, req.remote_addr);
                  if (!out.record) return http::write_failure(res, out.error);
                  http::write_json_text(res, 201, http::render_json(*out.record));
                });
              });
}

}  // namespace llmtrace::replay
