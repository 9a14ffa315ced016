// Used when the UI is not built (-DLLMTRACE_BUILD_UI=OFF): one page that says so.
#include "web/web_assets.hpp"

namespace llmtrace::web {
namespace {
constexpr std::string_view kIndex =
    "<!doctype html><meta charset=utf-8><title>llmtrace</title>"
    "<p>The llmtrace UI was not built into this binary. Configure with -DLLMTRACE_BUILD_UI=ON.</p>";
constexpr asset kAssets[] = {{"/index.html", "text/html; charset=utf-8", kIndex}};
}  // namespace

std::span<const asset> assets() noexcept {
  return kAssets;
}

}  // namespace llmtrace::web
