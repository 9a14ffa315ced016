// Hand-written JSON for the hot path: string escaping, RFC 3339 timestamps and one record's text.
// Pure functions, thread-safe; no allocation beyond growing the caller's buffer.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <string_view>

#include "buffer_pool.hpp"
#include "llmtrace/llmtrace.hpp"

namespace llmtrace::detail {

// Appends `s` as a JSON string literal (with quotes). Invalid UTF-8 becomes U+FFFD so the text is always
// valid.
void append_json_string(std::string& out, std::string_view s);

// "YYYY-MM-DDTHH:MM:SS.mmmZ"
void append_rfc3339(std::string& out, std::chrono::system_clock::time_point t);

// One queued record's JSON bytes: a buffer of at least the final size from the recycling pool (never
// zero-filled: std::string::resize would memset), moved through the queue, given back to the pool by whoever
// destroys it (normally the flusher once its batch is settled).
class payload {
 public:
  payload() noexcept = default;
  explicit payload(std::size_t n) : p_(buffer_take(n)), cap_(slot_capacity(n)) {
    if (!p_) throw std::bad_alloc();
  }
  explicit payload(std::string_view text) : payload(text.size()) {
    std::memcpy(p_, text.data(), text.size());
    size_ = text.size();
  }
  payload(payload&& o) noexcept : p_(o.p_), size_(o.size_), cap_(o.cap_) {
    o.p_ = nullptr;
    o.size_ = o.cap_ = 0;
  }
  payload& operator=(payload&& o) noexcept {
    if (this != &o) {
      buffer_give(p_, cap_);
      p_ = o.p_;
      size_ = o.size_;
      cap_ = o.cap_;
      o.p_ = nullptr;
      o.size_ = o.cap_ = 0;
    }
    return *this;
  }
  payload(const payload&) = delete;
  payload& operator=(const payload&) = delete;
  ~payload() { buffer_give(p_, cap_); }

  char* data() noexcept { return p_; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return cap_; }
  void set_size(std::size_t n) noexcept { size_ = n; }
  std::string_view view() const noexcept { return {p_, size_}; }

 private:
  char* p_ = nullptr;
  std::size_t size_ = 0;
  std::size_t cap_ = 0;
};

// Serialises the record as one JSON object in the POST /api/trace shape with the given id (not empty).
// id_is_safe: the id needs no escaping (one we generated), which skips a scan.
payload make_record(const record& r, std::string_view id, bool id_is_safe = false);

// Same text appended to a std::string (tests, slow paths).
void append_record(std::string& out, const record& r, std::string_view id);

// Cheap structural check of a JSON object's text without building a tree: balanced brackets outside strings,
// one top-level object. Sets has_id when the object has a top-level "id" key. Returns false when malformed.
bool scan_object(std::string_view json, bool& has_id) noexcept;

// Strict JSON text check (RFC 8259 grammar, UTF-8, escapes) with a nesting limit, without building a tree.
// The flusher runs it on every record so one malformed record cannot make the collector refuse a whole batch.
bool valid_json(std::string_view text, std::size_t max_depth) noexcept;

// Writes a UUIDv7 into buf (36 chars, no terminator).
void write_uuid_v7(char* buf) noexcept;

// Called in a forked child so it does not repeat the parent's random sequence.
void reseed_ids_after_fork() noexcept;

}  // namespace llmtrace::detail
