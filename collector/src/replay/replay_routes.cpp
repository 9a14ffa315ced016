// Placeholder: the replay routes are not implemented yet.
#include "replay/replay_routes.hpp"

namespace llmtrace::replay {

void mount(httplib::Server& /*server*/, app_context& /*app*/) {}

}  // namespace llmtrace::replay
