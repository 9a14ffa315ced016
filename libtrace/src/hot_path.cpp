// The caller's side of trace(): render or copy the record once into a pooled buffer and enqueue it within
// the byte budget. No validation here beyond a shape check (the flusher validates), no signal to the flusher.
#include <cstring>
#include <thread>

#include "client_impl.hpp"
#include "ids.hpp"
#include "json_text/json_text.hpp"
#include "record_json.hpp"

namespace llmtrace {

using steady = std::chrono::steady_clock;

trace_result client::impl::refuse() const noexcept {
  if (opts.disabled) return trace_result::disabled;
  if (!accepting.load(std::memory_order_relaxed)) return trace_result::stopped;
  return trace_result::ok;
}

trace_result client::impl::enqueue(detail::payload&& body) noexcept {
  const uint64_t cost = body.capacity() + kItemOverhead;
  uint64_t prev = queue_bytes.fetch_add(cost, std::memory_order_relaxed);
  if (prev + cost > opts.queue_limit_bytes) {
    queue_bytes.fetch_sub(cost, std::memory_order_relaxed);
    bool room = false;
    if (opts.overflow == overflow_policy::block && opts.block_timeout.count() > 0) {
      const auto until = steady::now() + opts.block_timeout;
      while (!room && steady::now() < until && accepting.load(std::memory_order_relaxed)) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        prev = queue_bytes.fetch_add(cost, std::memory_order_relaxed);
        if (prev + cost <= opts.queue_limit_bytes)
          room = true;
        else
          queue_bytes.fetch_sub(cost, std::memory_order_relaxed);
      }
    }
    if (!room) {
      dropped.fetch_add(1, std::memory_order_relaxed);
      warn(detail::warn_kind::queue_full, "queue byte budget used up; records are being dropped");
      return trace_result::queue_full;
    }
  }
  if (need_start.load(std::memory_order_relaxed)) {
    try {
      start_flusher();
    } catch (...) {
    }
  }
  bool ok = false;
  try {
    ok = rt->queue.enqueue(std::move(body));
  } catch (...) {
  }
  if (!ok) {
    queue_bytes.fetch_sub(cost, std::memory_order_relaxed);
    dropped.fetch_add(1, std::memory_order_relaxed);
    return trace_result::queue_full;
  }
  // No signal to the flusher here: waking a sleeping thread costs microseconds (a futex call, and on a busy
  // machine the woken flusher takes this thread's CPU). The flusher notices a full batch itself
  // (flusher_main).
  enqueued.fetch_add(1, std::memory_order_release);
  return trace_result::ok;
}

trace_result client::impl::trace_record(const record& r, bool id_is_safe) noexcept {
  if (const auto why = refuse(); why != trace_result::ok) return why;
  try {
    if (r.id.empty()) {
      char id[detail::k_id_len];
      detail::write_uuid_v7(id);
      return enqueue(detail::make_record(r, std::string_view(id, sizeof(id)), /*id_is_safe=*/true));
    }
    return enqueue(detail::make_record(r, r.id, id_is_safe));
  } catch (...) {  // out of memory for the buffer
    dropped.fetch_add(1, std::memory_order_relaxed);
    return trace_result::queue_full;
  }
}

trace_result client::impl::trace_json(std::string_view text) noexcept {
  if (const auto why = refuse(); why != trace_result::ok) return why;
  const auto shape = json_text::object_bounds(text);
  if (!shape.ok) return trace_result::invalid;
  // One copy, with an id written in place in front of the caller's members so that a retried batch updates
  // instead of duplicating. Whether the record has its own "id" is learnt by the flusher's validating scan,
  // which then drops this one (payload::drop_added_id).
  static constexpr char k_open[] = "{\"id\":\"";
  constexpr std::size_t open_len = sizeof(k_open) - 1;
  const std::size_t id_end = open_len + detail::k_id_len + 1;  // past the closing quote
  const std::string_view members =
      shape.empty ? std::string_view() : text.substr(shape.open + 1, shape.close - shape.open - 1);
  const std::size_t size = id_end + (shape.empty ? 0 : 1) + members.size() + 1;
  try {
    detail::payload p(size);
    char* o = p.data();
    std::memcpy(o, k_open, open_len);
    detail::write_uuid_v7(o + open_len);
    o[id_end - 1] = '"';
    o += id_end;
    if (!shape.empty) {
      *o++ = ',';
      std::memcpy(o, members.data(), members.size());
      o += members.size();
    }
    *o++ = '}';
    p.set_size(size);
    p.set_id_prefix(id_end);
    return enqueue(std::move(p));
  } catch (...) {  // out of memory for the buffer
    dropped.fetch_add(1, std::memory_order_relaxed);
    return trace_result::queue_full;
  }
}

}  // namespace llmtrace
