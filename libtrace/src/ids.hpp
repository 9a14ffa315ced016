// Record ids: time-ordered UUIDv7 text written without allocation on the caller's thread.
// Threading: each thread has its own generator; a forked child reseeds so it does not repeat its parent.
#pragma once

namespace llmtrace::detail {

inline constexpr unsigned k_id_len = 36;

// Writes a UUIDv7 into buf (36 chars, no terminator).
void write_uuid_v7(char* buf) noexcept;

// Writes 2*bytes random lowercase hex digits (never all zero): span ids (8 bytes) and trace ids (16 bytes)
// in the OpenTelemetry text form.
void write_random_hex(char* buf, unsigned bytes) noexcept;
inline constexpr unsigned k_span_id_len = 16;
inline constexpr unsigned k_trace_id_len = 32;

// Called in a forked child so it does not repeat the parent's random sequence.
void reseed_ids_after_fork() noexcept;

}  // namespace llmtrace::detail
