// Placeholder: the proxy routes are not implemented yet.
#include "proxy/proxy_routes.hpp"

namespace llmtrace::proxy {

void mount(httplib::Server& /*server*/, app_context& /*app*/) {}

}  // namespace llmtrace::proxy
