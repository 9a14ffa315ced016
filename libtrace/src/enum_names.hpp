// Names of the SDK's enums for to_string() and warnings: one table per enum, indexed by its value, so adding
// an enumerator without a name fails the static_assert next to its table. Header-only, no state.
#pragma once

#include <cstddef>

namespace llmtrace::detail {

template <class E, std::size_t N>
constexpr const char* name_of(E e, const char* const (&names)[N], const char* fallback) noexcept {
  const auto i = static_cast<std::size_t>(e);
  return i < N ? names[i] : fallback;
}

}  // namespace llmtrace::detail
