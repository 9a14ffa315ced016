// Declarations for headers that only pass the httplib server and the configuration along (route mounts, the
// server's builders), so they need not include httplib.h or config.hpp. Thread safety: declarations only.
#pragma once

namespace httplib {
class Server;
}

namespace llmtrace {
struct config;
}
