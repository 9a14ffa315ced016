// Mounts the replay routes on the collector's HTTP server. Called once by main before listen().
#pragma once

namespace httplib {
class Server;
}

namespace llmtrace {
struct app_context;
}

namespace llmtrace::replay {

void mount(httplib::Server& server, app_context& app);

}  // namespace llmtrace::replay
