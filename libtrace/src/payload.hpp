// One queued record's JSON bytes in a buffer from the recycling pool (never zero-filled: std::string::resize
// would memset). Moved through the queue and given back to the pool by whoever destroys it (normally the
// flusher once its batch is settled). Threading: one owner at a time; moving hands it over.
#pragma once

#include <cstddef>
#include <cstring>
#include <new>
#include <string_view>

#include "buffer_pool.hpp"

namespace llmtrace::detail {

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
  payload(payload&& o) noexcept
      : p_(o.p_), begin_(o.begin_), size_(o.size_), cap_(o.cap_), id_prefix_(o.id_prefix_) {
    o.p_ = nullptr;
    o.begin_ = o.size_ = o.cap_ = o.id_prefix_ = 0;
  }
  payload& operator=(payload&& o) noexcept {
    if (this != &o) {
      buffer_give(p_, cap_);
      p_ = o.p_;
      begin_ = o.begin_;
      size_ = o.size_;
      cap_ = o.cap_;
      id_prefix_ = o.id_prefix_;
      o.p_ = nullptr;
      o.begin_ = o.size_ = o.cap_ = o.id_prefix_ = 0;
    }
    return *this;
  }
  payload(const payload&) = delete;
  payload& operator=(const payload&) = delete;
  ~payload() { buffer_give(p_, cap_); }

  char* data() noexcept { return p_; }
  std::size_t size() const noexcept { return size_ - begin_; }
  std::size_t capacity() const noexcept { return cap_; }
  void set_size(std::size_t n) noexcept { size_ = n; }
  std::string_view view() const noexcept { return {p_ + begin_, size_ - begin_}; }

  // trace_json() writes `{"id":"<uuid>",` in front of the caller's members; id_prefix() is the offset of
  // the byte after that id member (the ',' or the closing '}'), 0 when no id was added.
  void set_id_prefix(std::size_t at) noexcept { id_prefix_ = at; }
  std::size_t id_prefix() const noexcept { return id_prefix_; }
  // The record carried its own "id": drop ours by starting the text at the ',' rewritten as '{'.
  void drop_added_id() noexcept {
    if (!id_prefix_ || p_[id_prefix_] != ',') return;
    p_[id_prefix_] = '{';
    begin_ = id_prefix_;
    id_prefix_ = 0;
  }

 private:
  char* p_ = nullptr;
  std::size_t begin_ = 0;
  std::size_t size_ = 0;  // end offset in p_
  std::size_t cap_ = 0;
  std::size_t id_prefix_ = 0;
};

}  // namespace llmtrace::detail
