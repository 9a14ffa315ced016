// The web UI's files, embedded into the binary at build time (see collector/web/CMakeLists.txt).
// Immutable static data: safe to read from any thread.
#pragma once

#include <span>
#include <string_view>

namespace llmtrace::web {

struct asset {
  std::string_view path;          // "/index.html", "/assets/index-abc123.js"
  std::string_view content_type;  // "text/html; charset=utf-8"
  std::string_view data;
};

std::span<const asset> assets() noexcept;

}  // namespace llmtrace::web
