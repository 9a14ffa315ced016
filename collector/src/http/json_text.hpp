// The collector's face on the shared common/json_text module (scan, escape, UTF-8, minify live there, used by
// the SDK too). The one thing added here is nlohmann's replacement of ill-formed UTF-8, so spliced text stays
// byte-identical to what dump_json() writes. Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "json_text/json_text.hpp"

namespace llmtrace::http {

// Appends a JSON string literal (quotes included), escaped as nlohmann's dump (error_handler replace)
// escapes it: ill-formed UTF-8 is replaced by raw U+FFFD as nlohmann does (json_text would write "\ufffd"),
// never thrown on.
void append_json_string(std::string& out, std::string_view s);

}  // namespace llmtrace::http
