// POST /api/records/:id/replay: checks the key, reads the body, calls the replay service (replay_service.hpp)
// and answers 201 with the stored record, whether the upstream succeeded or failed. Mounted once by the
// composition root before listen(). Lifetime: replays and cfg outlive the server.
#pragma once

#include "http/server_fwd.hpp"

namespace llmtrace::replay {

class replay_service;

void mount(httplib::Server& server, replay_service& replays, const config& cfg);

}  // namespace llmtrace::replay
