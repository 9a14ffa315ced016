// Identifiers made by the collector: UUIDv7 (RFC 9562), lowercase hex with dashes. Time-ordered so the
// records index stays append-mostly; monotonic within the process even inside one millisecond.
// Thread safety: every function may be called from any thread.
#pragma once

#include <string>

namespace llmtrace::model {

std::string new_record_id();
std::string new_session_id();

}  // namespace llmtrace::model
