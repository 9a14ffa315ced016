// Placeholder: the web routes are not implemented yet.
#include "web/web_routes.hpp"

namespace llmtrace::web {

void mount(httplib::Server& /*server*/, app_context& /*app*/) {}

}  // namespace llmtrace::web
