// Record ids: time-ordered UUIDv7 text written without allocation on the caller's thread.
// Threading: each thread has its own generator; a forked child reseeds so it does not repeat its parent.
#pragma once

namespace llmtrace::detail {

inline constexpr unsigned k_id_len = 36;

// Writes a UUIDv7 into buf (36 chars, no terminator).
void write_uuid_v7(char* buf) noexcept;

// Called in a forked child so it does not repeat the parent's random sequence.
void reseed_ids_after_fork() noexcept;

}  // namespace llmtrace::detail
