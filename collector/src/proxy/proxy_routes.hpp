// The recording proxy's routes: POST /v1/{chat/completions,completions,embeddings,responses}. A handler
// checks the key, reads the JSON object body and hands it to the forwarder (forwarder.hpp), which answers.
// Mounted once by the composition root before listen(). Lifetime: proxy and cfg outlive the server.
#pragma once

#include "http/server_fwd.hpp"

namespace llmtrace::proxy {

class forwarder;

void mount(httplib::Server& server, forwarder& proxy, const config& cfg);

}  // namespace llmtrace::proxy
