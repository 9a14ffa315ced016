#include <pthread.h>
#include <strings.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <utility>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "client_impl.hpp"
#include "record_json.hpp"

#ifndef LLMTRACE_VERSION
#define LLMTRACE_VERSION "0.0.0"
#endif

namespace llmtrace {

using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

namespace {

int64_t now_ms() noexcept {
  return std::chrono::duration_cast<milliseconds>(steady::now().time_since_epoch()).count();
}

// ---- fork safety: every live impl is registered; the atfork handlers lock them in the parent and
// rebuild their runtime in the child (threads, locks and sockets are not inherited in a usable state).
std::mutex& registry_mu() {
  static auto* m = new std::mutex;  // leaked on purpose: used by atfork handlers after static destruction
  return *m;
}
std::vector<client::impl*>& registry() {
  static auto* v = new std::vector<client::impl*>;
  return *v;
}

void atfork_prepare() {
  registry_mu().lock();
  for (auto* c : registry()) {
    c->rt->mu.lock();
    c->rt->http_mu.lock();
  }
}
void atfork_parent() {
  for (auto* c : registry()) {
    c->rt->http_mu.unlock();
    c->rt->mu.unlock();
  }
  registry_mu().unlock();
}
void atfork_child() {
  detail::reseed_ids_after_fork();
  detail::buffer_pool_after_fork();
  for (auto* c : registry()) c->after_fork_child();
  registry_mu().unlock();
}

void register_impl(client::impl* c) {
  static std::once_flag once;
  std::call_once(once, [] { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); });
  std::lock_guard lk(registry_mu());
  registry().push_back(c);
}
void unregister_impl(client::impl* c) {
  std::lock_guard lk(registry_mu());
  auto& v = registry();
  v.erase(std::remove(v.begin(), v.end(), c), v.end());
}

bool is_retryable_status(int s) {
  return s == 429 || s == 502 || s == 503 || s == 504;
}

// Retry-After: delay-seconds or an HTTP date. Returns -1 when absent or unparsable.
int64_t parse_retry_after_ms(const httplib::Result& res) {
  if (!res || !res->has_header("Retry-After")) return -1;
  std::string v = res->get_header_value("Retry-After");
  while (!v.empty() && v.front() == ' ') v.erase(v.begin());
  if (v.empty()) return -1;
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (v.size() > 9) return 1000LL * 999999999;
    return std::stoll(v) * 1000;
  }
  std::tm tm{};
  if (!strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S", &tm)) return -1;
  const time_t when = timegm(&tm);
  const int64_t delta = (static_cast<int64_t>(when) - static_cast<int64_t>(std::time(nullptr))) * 1000;
  return std::max<int64_t>(0, delta);
}

const char* warn_name(warn_kind k) {
  switch (k) {
    case warn_kind::queue_full:
      return "queue_full";
    case warn_kind::http_status:
      return "http_status";
    case warn_kind::connection:
      return "connection";
    case warn_kind::rejected:
      return "rejected";
    default:
      return "internal";
  }
}

}  // namespace

const char* version() noexcept {
  return LLMTRACE_VERSION;
}

const char* to_string(flush_result r) noexcept {
  switch (r) {
    case flush_result::ok:
      return "ok";
    case flush_result::timeout:
      return "timeout";
    case flush_result::disabled:
      return "disabled";
    case flush_result::stopped:
      return "stopped";
  }
  return "unknown";
}

std::string new_id() {
  std::string s(36, '\0');
  detail::write_uuid_v7(s.data());
  return s;
}

options options::from_env() {
  return from_env(options{});
}

options options::from_env(options base) {
  if (const char* e = std::getenv("LLMTRACE_ENDPOINT"); e && *e) base.endpoint = e;
  if (const char* k = std::getenv("LLMTRACE_API_KEY"); k && *k) base.api_key = k;
  if (const char* d = std::getenv("LLMTRACE_DISABLED"); d && *d) {
    const std::string v = d;
    base.disabled = (v == "1" || v == "true" || v == "TRUE" || v == "yes" || v == "on");
  }
  return base;
}

// ---------------------------------------------------------------- impl

client::impl::impl(options o) : opts(std::move(o)), rt(std::make_unique<runtime>()) {
  // Split "http://host:port/prefix" into the part httplib takes and a path prefix.
  std::string ep = opts.endpoint;
  while (!ep.empty() && ep.back() == '/') ep.pop_back();
  const auto scheme_end = ep.find("://");
  const auto path_start = ep.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  if (path_start == std::string::npos) {
    scheme_host = ep;
  } else {
    scheme_host = ep.substr(0, path_start);
    base_path = ep.substr(path_start);
  }
  jitter_state ^= reinterpret_cast<uintptr_t>(this);
  register_impl(this);
}

client::impl::~impl() {
  unregister_impl(this);
  // A runtime whose thread was detached at a deadline is only destroyed once that thread let go of us,
  // so the std::thread here is never joinable.
  if (rt && rt->thread.joinable()) rt->thread.detach();
}

void client::impl::warn(warn_kind k, const std::string& msg) noexcept {
  try {
    auto& last = last_warn_ms[static_cast<std::size_t>(k)];
    const int64_t now = now_ms();
    int64_t prev = last.load(std::memory_order_relaxed);
    if (prev != 0 && now - prev < 10000) return;
    if (!last.compare_exchange_strong(prev, now)) return;
    const std::string line = std::string("llmtrace: ") + warn_name(k) + ": " + msg;
    if (opts.on_warning)
      opts.on_warning(line);
    else
      std::fprintf(stderr, "%s\n", line.c_str());
  } catch (...) {
  }
}

bool client::impl::enqueue(detail::payload&& body) noexcept {
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
      warn(warn_kind::queue_full, "queue byte budget used up; records are being dropped");
      return false;
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
    return false;
  }
  // No signal to the flusher here: waking a sleeping thread costs microseconds (a futex call, and on a busy
  // machine the woken flusher takes this thread's CPU). The flusher notices a full batch itself
  // (flusher_main).
  enqueued.fetch_add(1, std::memory_order_release);
  return true;
}

void client::impl::start_flusher() {
  std::lock_guard lk(rt->mu);
  need_start.store(false, std::memory_order_relaxed);
  if (rt->thread_started || rt->stop_requested) return;
  rt->thread_started = true;
  rt->thread = std::thread([self = shared_from_this()] { self->flusher_main(); });
}

void client::impl::ensure_http() {
  std::lock_guard lk(rt->http_mu);
  if (rt->http) return;
  auto c = std::make_unique<httplib::Client>(scheme_host);
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);
  c->set_connection_timeout(opts.connect_timeout);
  c->set_read_timeout(opts.request_timeout);
  c->set_write_timeout(opts.request_timeout);
  c->set_compress(opts.gzip);
  if (!opts.api_key.empty()) c->set_bearer_token_auth(opts.api_key);
  rt->http = std::move(c);
}

bool client::impl::batch_waiting() const noexcept {
  return enqueued.load(std::memory_order_relaxed) - dequeued >=
             std::max<std::size_t>(1, opts.max_batch_records) ||
         queue_bytes.load(std::memory_order_relaxed) >= std::max<std::size_t>(1, opts.max_batch_bytes);
}

void client::impl::flusher_main() {
  runtime& r = *rt;
  // Producers never signal (see enqueue()). While records keep coming, the flusher looks every few ms for a
  // full batch (one counter read) and sends it at once; after a whole quiet interval it sleeps the full
  // interval, so an idle process is woken only once per flush_interval. A fresh client expects traffic.
  const milliseconds slice = std::min(opts.flush_interval, milliseconds(5));
  bool active = true;
  uint64_t seen = enqueued.load(std::memory_order_relaxed);
  for (;;) {
    uint64_t gen;
    bool stopping;
    {
      std::unique_lock lk(r.mu);
      auto requested = [&] { return r.stop_requested || r.flush_requested != r.flush_done; };
      const auto deadline = steady::now() + opts.flush_interval;
      if (!active) {
        r.wake.wait_until(lk, deadline, requested);
      } else {
        while (!requested() && !batch_waiting()) {
          const auto now = steady::now();
          if (now >= deadline) break;
          r.wake.wait_until(lk, std::min(deadline, now + slice), requested);
        }
      }
      gen = r.flush_requested;
      stopping = r.stop_requested;
    }
    const uint64_t now_enqueued = enqueued.load(std::memory_order_relaxed);
    active = now_enqueued != seen;
    seen = now_enqueued;
    // Everything enqueued before the flush request is counted in `enqueued` by now.
    const uint64_t target = enqueued.load(std::memory_order_acquire);
    try {
      drain(target, stopping);
    } catch (...) {
      warn(warn_kind::internal, "flusher error");
    }
    {
      std::lock_guard lk(r.mu);
      if (r.flush_done < gen) r.flush_done = gen;
      if (stopping) r.thread_exited = true;
    }
    r.progress.notify_all();
    if (stopping) return;
  }
}

void client::impl::drain(uint64_t dequeue_target, bool stopping) {
  runtime& r = *rt;
  const std::size_t max_records = std::max<std::size_t>(1, opts.max_batch_records);
  const std::size_t max_bytes = std::max<std::size_t>(1, opts.max_batch_bytes);
  std::vector<detail::payload> batch;
  batch.reserve(std::min<std::size_t>(max_records, 1024));
  int empty_spins = 0;
  for (;;) {
    if (r.abort.load()) break;
    std::size_t bytes = 0;
    batch.clear();
    if (has_carry) {
      bytes += carry.size();
      batch.push_back(std::move(carry));
      has_carry = false;
    }
    detail::payload item;
    while (batch.size() < max_records && r.queue.try_dequeue(item)) {
      ++dequeued;
      // The batch's wrapper adds two levels under the collector's nesting limit of 64.
      if (!detail::valid_json(item.view(), kMaxRecordDepth)) {
        queue_bytes.fetch_sub(item.capacity() + kItemOverhead, std::memory_order_relaxed);
        item = detail::payload();
        failed.fetch_add(1, std::memory_order_relaxed);
        warn(warn_kind::invalid, "a record is not valid JSON (or nests deeper than 62 levels); dropped");
        continue;
      }
      if (!batch.empty() && bytes + item.size() + 1 > max_bytes) {
        carry = std::move(item);
        has_carry = true;
        break;
      }
      bytes += item.size() + 1;
      batch.push_back(std::move(item));
    }
    if (batch.empty()) {
      // An enqueue that finished before the target was read can still be settling inside the queue.
      if (dequeued < dequeue_target && empty_spins++ < 1000) {
        std::this_thread::yield();
        continue;
      }
      break;
    }
    send_batch(batch, bytes, stopping);
  }
  if (r.abort.load() || stopping) {
    // Nothing more will be sent: count what is left so the books balance, and free its memory.
    uint64_t left = 0;
    if (has_carry) {
      queue_bytes.fetch_sub(carry.capacity() + kItemOverhead, std::memory_order_relaxed);
      carry = detail::payload();
      has_carry = false;
      ++left;
    }
    if (r.abort.load() || stopping) {
      detail::payload item;
      while (r.queue.try_dequeue(item)) {
        ++dequeued;
        queue_bytes.fetch_sub(item.capacity() + kItemOverhead, std::memory_order_relaxed);
        ++left;
      }
    }
    discarded.fetch_add(left, std::memory_order_relaxed);
  }
}

void client::impl::send_batch(std::vector<detail::payload>& items, std::size_t bytes, bool stopping) {
  runtime& r = *rt;
  uint64_t held = 0;
  for (auto& s : items) held += s.capacity() + kItemOverhead;
  const uint64_t n = items.size();
  std::string body;
  body.reserve(bytes + 16);
  body += "{\"traces\":[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) body += ',';
    body += items[i].view();
  }
  body += "]}";
  // The records' memory stays counted until the batch is settled, so the budget bounds in-flight data too.
  struct release_guard {
    impl* self;
    std::vector<detail::payload>& items;
    uint64_t held;
    ~release_guard() {
      items.clear();
      self->queue_bytes.fetch_sub(held, std::memory_order_relaxed);
    }
  } guard{this, items, held};

  ensure_http();
  const std::string path = base_path + "/api/traces";
  int attempt = 0;
  for (;;) {
    if (r.abort.load()) {
      discarded.fetch_add(n, std::memory_order_relaxed);
      return;
    }
    steady::time_point deadline{};
    {
      std::lock_guard lk(r.mu);
      stopping = stopping || r.stop_requested;
      deadline = r.stop_deadline;
    }
    if (stopping) {
      // Never let one request outlive the shutdown deadline.
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - steady::now());
      if (left.count() <= 0) {
        discarded.fetch_add(n, std::memory_order_relaxed);
        return;
      }
      std::lock_guard lk(r.http_mu);
      r.http->set_read_timeout(std::min(opts.request_timeout, left));
      r.http->set_write_timeout(std::min(opts.request_timeout, left));
      r.http->set_connection_timeout(std::min(opts.connect_timeout, left));
    }
    requests.fetch_add(1, std::memory_order_relaxed);
    httplib::Result res = r.http->Post(path, body, "application/json");
    if (res && res->status >= 200 && res->status < 300) {
      uint64_t accepted = n, rejected = 0;
      try {
        auto j = nlohmann::json::parse(res->body, nullptr, false);
        if (j.is_object() && j.contains("accepted") && j["accepted"].is_number_unsigned()) {
          accepted = std::min<uint64_t>(n, j["accepted"].get<uint64_t>());
          rejected = n - accepted;
        } else if (j.is_object() && j.contains("rejected") && j["rejected"].is_number_unsigned()) {
          rejected = std::min<uint64_t>(n, j["rejected"].get<uint64_t>());
          accepted = n - rejected;
        }
      } catch (...) {
      }
      sent.fetch_add(accepted, std::memory_order_relaxed);
      if (rejected) {
        failed.fetch_add(rejected, std::memory_order_relaxed);
        warn(warn_kind::rejected, "collector rejected " + std::to_string(rejected) + " of " +
                                      std::to_string(n) + " records in a batch (not retried)");
      }
      return;
    }
    const bool retryable = !res || is_retryable_status(res->status);
    if (!retryable || attempt >= opts.max_retries) {
      failed.fetch_add(n, std::memory_order_relaxed);
      if (!res)
        warn(warn_kind::connection, "cannot reach " + scheme_host + " (" + httplib::to_string(res.error()) +
                                        "); batch of " + std::to_string(n) + " records dropped after " +
                                        std::to_string(attempt + 1) + " attempts");
      else
        warn(warn_kind::http_status, "collector answered HTTP " + std::to_string(res->status) +
                                         "; batch of " + std::to_string(n) + " records dropped");
      return;
    }
    if (!res)
      warn(warn_kind::connection,
           "cannot reach " + scheme_host + " (" + httplib::to_string(res.error()) + "); retrying");
    int64_t delay = parse_retry_after_ms(res);
    if (delay < 0) {
      // Exponential backoff with jitter in [50%, 100%] of the capped step.
      const int64_t base = std::max<int64_t>(1, opts.initial_backoff.count());
      const int64_t cap = std::max<int64_t>(base, opts.max_backoff.count());
      int64_t step = base;
      for (int k = 0; k < attempt && step < cap; ++k) step *= 2;
      step = std::min(step, cap);
      jitter_state = jitter_state * 6364136223846793005ull + 1442695040888963407ull;
      const double frac =
          0.5 + 0.5 * static_cast<double>(jitter_state >> 11) / static_cast<double>(1ull << 53);
      delay = static_cast<int64_t>(static_cast<double>(step) * frac);
    } else {
      delay = std::min<int64_t>(delay, std::max<int64_t>(opts.max_backoff.count(), 0));
    }
    ++attempt;
    retried.fetch_add(1, std::memory_order_relaxed);
    // Interruptible wait: shutdown wakes us, and a shutdown deadline bounds the wait.
    std::unique_lock lk(r.mu);
    auto until = steady::now() + milliseconds(delay);
    while (!r.abort.load()) {
      if (r.stop_requested && r.stop_deadline < until) until = r.stop_deadline;
      if (steady::now() >= until) break;
      r.wake.wait_until(lk, until);
    }
  }
}

flush_result client::impl::flush(milliseconds timeout) noexcept {
  try {
    runtime& r = *rt;
    std::unique_lock lk(r.mu);
    if (r.stop_requested) return r.thread_exited ? flush_result::stopped : flush_result::timeout;
    if (!r.thread_started) {
      lk.unlock();
      start_flusher();
      lk.lock();
    }
    const uint64_t gen = ++r.flush_requested;
    r.wake.notify_all();
    const bool done =
        r.progress.wait_for(lk, timeout, [&] { return r.flush_done >= gen || r.thread_exited; });
    if (!done) return flush_result::timeout;
    return r.flush_done >= gen ? flush_result::ok : flush_result::stopped;
  } catch (...) {
    return flush_result::timeout;
  }
}

flush_result client::impl::shutdown(milliseconds timeout) noexcept {
  try {
    runtime& r = *rt;
    accepting.store(false);
    if (r.abort.load()) return flush_result::timeout;  // an earlier shutdown already gave up at its deadline
    const uint64_t discarded_before = discarded.load();
    const auto deadline = steady::now() + timeout;
    std::unique_lock lk(r.mu);
    if (!r.thread_started) {
      // Nothing ever ran (e.g. a forked child that never traced): nothing to flush.
      r.stop_requested = true;
      r.thread_exited = true;
      return flush_result::ok;
    }
    if (!r.stop_requested) {
      r.stop_requested = true;
      r.stop_deadline = deadline;
    }
    r.wake.notify_all();
    const bool exited = r.progress.wait_until(lk, deadline, [&] { return r.thread_exited; });
    lk.unlock();
    if (!exited) {
      // The collector is not answering in time: abandon the in-flight request by closing its socket.
      r.abort.store(true);
      {
        std::lock_guard hl(r.http_mu);
        if (r.http) r.http->stop();
      }
      r.wake.notify_all();
      lk.lock();
      const bool late = r.progress.wait_for(lk, milliseconds(100), [&] { return r.thread_exited; });
      lk.unlock();
      if (!late) {
        // Still stuck (e.g. in connect): let it finish on its own; it holds its own reference to us.
        std::lock_guard jl(r.join_mu);
        if (r.thread.joinable() && r.thread.get_id() != std::this_thread::get_id()) r.thread.detach();
        return flush_result::timeout;
      }
    }
    {
      std::lock_guard jl(r.join_mu);
      if (r.thread.joinable() && r.thread.get_id() != std::this_thread::get_id()) r.thread.join();
    }
    // Records given up at the deadline (e.g. still in backoff) mean the flush did not complete.
    return r.abort.load() || discarded.load() != discarded_before ? flush_result::timeout : flush_result::ok;
  } catch (...) {
    return flush_result::timeout;
  }
}

void client::impl::after_fork_child() noexcept {
  // Only the forking thread exists now. The old runtime's locks are held by the prepare handler, its
  // thread is gone and its socket is shared with the parent: leak it (never destroy or unlock) and start
  // over.
  (void)rt.release();
  try {
    rt = std::make_unique<runtime>();
  } catch (...) {
    std::abort();
  }
  queue_bytes.store(0);
  enqueued.store(0);
  dropped.store(0);
  sent.store(0);
  failed.store(0);
  retried.store(0);
  discarded.store(0);
  requests.store(0);
  dequeued = 0;
  carry = detail::payload();
  has_carry = false;
  need_start.store(accepting.load());
}

// ---------------------------------------------------------------- client

client::client(options opts) : impl_(std::make_shared<impl>(std::move(opts))) {
  if (!impl_->opts.disabled) impl_->start_flusher();
}

client::~client() {
  if (impl_ && !impl_->opts.disabled) impl_->shutdown(impl_->opts.exit_flush_deadline);
}

client::client(client&&) noexcept = default;
client& client::operator=(client&& o) noexcept {
  if (this != &o) {
    if (impl_ && !impl_->opts.disabled) impl_->shutdown(impl_->opts.exit_flush_deadline);
    impl_ = std::move(o.impl_);
  }
  return *this;
}

bool client::trace(const record& r) noexcept {
  impl* p = impl_.get();
  if (!p || p->opts.disabled || !p->accepting.load(std::memory_order_relaxed)) return false;
  try {
    if (r.id.empty()) {
      char id[36];
      detail::write_uuid_v7(id);
      return p->enqueue(detail::make_record(r, std::string_view(id, sizeof(id)), /*id_is_safe=*/true));
    }
    return p->enqueue(detail::make_record(r, r.id));
  } catch (...) {
    p->dropped.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
}

bool client::trace(std::string_view session_id, int64_t turn_number, std::string_view request_json,
                   std::string_view response_json, llmtrace::status st, std::string_view error_message,
                   std::string_view metadata_json) noexcept {
  record r;
  r.session_id = session_id;
  r.turn_number = turn_number;
  r.request_json = request_json;
  r.response_json = response_json;
  r.status = st;
  r.error_message = error_message;
  r.metadata_json = metadata_json;
  return trace(r);
}

bool client::trace_json(std::string_view record_json) noexcept {
  impl* p = impl_.get();
  if (!p || p->opts.disabled || !p->accepting.load(std::memory_order_relaxed)) return false;
  std::size_t b = 0;
  while (b < record_json.size() && (record_json[b] == ' ' || record_json[b] == '\n' ||
                                    record_json[b] == '\t' || record_json[b] == '\r'))
    ++b;
  if (b >= record_json.size() || record_json[b] != '{') return false;
  try {
    return p->enqueue(detail::payload(record_json));
  } catch (...) {
    p->dropped.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
}

call client::start_call(std::string_view session_id, std::string_view request_json, int64_t turn_number,
                        std::string_view model) {
  return call(impl_, std::string(session_id), turn_number, std::string(request_json), std::string(model));
}

flush_result client::flush(milliseconds timeout) noexcept {
  if (!impl_ || impl_->opts.disabled) return flush_result::disabled;
  return impl_->flush(timeout);
}

flush_result client::shutdown(milliseconds timeout) noexcept {
  if (!impl_ || impl_->opts.disabled) return flush_result::disabled;
  return impl_->shutdown(timeout);
}

llmtrace::stats client::stats() const noexcept {
  llmtrace::stats s;
  if (!impl_) return s;
  const impl& p = *impl_;
  s.enqueued = p.enqueued.load(std::memory_order_relaxed);
  s.dropped = p.dropped.load(std::memory_order_relaxed);
  s.sent = p.sent.load(std::memory_order_relaxed);
  s.failed = p.failed.load(std::memory_order_relaxed);
  s.retried = p.retried.load(std::memory_order_relaxed);
  s.discarded = p.discarded.load(std::memory_order_relaxed);
  s.queue_bytes = p.queue_bytes.load(std::memory_order_relaxed);
  s.requests = p.requests.load(std::memory_order_relaxed);
  return s;
}

bool client::disabled() const noexcept {
  return !impl_ || impl_->opts.disabled;
}
bool client::stopped() const noexcept {
  return !impl_ || !impl_->accepting.load(std::memory_order_relaxed);
}

// ---------------------------------------------------------------- call / session

namespace {
bool trace_via(const std::shared_ptr<client::impl>& p, const record& r) noexcept {
  if (!p || p->opts.disabled || !p->accepting.load(std::memory_order_relaxed)) return false;
  try {
    return p->enqueue(detail::make_record(r, r.id, /*id_is_safe=*/true));
  } catch (...) {
    p->dropped.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
}
}  // namespace

call::call(std::shared_ptr<client::impl> c, std::string session_id, int64_t turn_number,
           std::string request_json, std::string model)
    : impl_(std::move(c)),
      id_(new_id()),
      session_id_(std::move(session_id)),
      turn_number_(turn_number),
      request_json_(std::move(request_json)),
      model_(std::move(model)),
      started_at_(std::chrono::system_clock::now()),
      started_steady_(steady::now()),
      uncaught_at_start_(std::uncaught_exceptions()) {
  record r;
  r.id = id_;
  r.session_id = session_id_;
  r.turn_number = turn_number_;
  r.request_json = request_json_;
  r.status = status::pending;
  r.model = model_;
  r.started_at = started_at_;
  trace_via(impl_, r);
}

call::call(call&& o) noexcept
    : impl_(std::move(o.impl_)),
      id_(std::move(o.id_)),
      session_id_(std::move(o.session_id_)),
      turn_number_(o.turn_number_),
      request_json_(std::move(o.request_json_)),
      model_(std::move(o.model_)),
      started_at_(o.started_at_),
      started_steady_(o.started_steady_),
      uncaught_at_start_(o.uncaught_at_start_),
      done_(o.done_) {
  o.done_ = true;
}

call& call::operator=(call&& o) noexcept {
  if (this != &o) {
    if (!done_) send_final(status::error, {}, "abandoned", {});
    impl_ = std::move(o.impl_);
    id_ = std::move(o.id_);
    session_id_ = std::move(o.session_id_);
    turn_number_ = o.turn_number_;
    request_json_ = std::move(o.request_json_);
    model_ = std::move(o.model_);
    started_at_ = o.started_at_;
    started_steady_ = o.started_steady_;
    uncaught_at_start_ = o.uncaught_at_start_;
    done_ = o.done_;
    o.done_ = true;
  }
  return *this;
}

call::~call() {
  if (done_) return;
  std::string msg = "abandoned";
  if (std::uncaught_exceptions() > uncaught_at_start_) {
    msg = "abandoned: exception in flight";
    try {
      if (auto e = std::current_exception()) std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      msg = std::string("abandoned: ") + ex.what();
    } catch (...) {
    }
  }
  send_final(status::error, {}, msg, {});
}

void call::finish(std::string_view response_json, std::string_view metadata_json) noexcept {
  if (done_) return;
  send_final(status::success, response_json, {}, metadata_json);
}

void call::fail(std::string_view error_message, std::string_view response_json) noexcept {
  if (done_) return;
  send_final(status::error, response_json, error_message.empty() ? "error" : error_message, {});
}

void call::send_final(llmtrace::status st, std::string_view response_json, std::string_view error_message,
                      std::string_view metadata_json) noexcept {
  done_ = true;
  record r;
  r.id = id_;
  r.session_id = session_id_;
  r.turn_number = turn_number_;
  r.request_json = request_json_;
  r.response_json = response_json;
  r.status = st;
  r.error_message = error_message;
  r.metadata_json = metadata_json;
  r.model = model_;
  r.started_at = started_at_;
  r.ended_at = std::chrono::system_clock::now();
  r.latency_ms = std::chrono::duration<double, std::milli>(steady::now() - started_steady_).count();
  trace_via(impl_, r);
}

session::session(client& c, std::string id) : client_(c), id_(id.empty() ? new_id() : std::move(id)) {}

call session::start_call(std::string_view request_json, std::string_view model) {
  return client_.start_call(id_, request_json, next_turn(), model);
}

bool session::trace(record r) noexcept {
  r.session_id = id_;
  if (r.turn_number == 0) r.turn_number = next_turn();
  return client_.trace(r);
}

// ---------------------------------------------------------------- default client

client& default_client() {
  static client* c = [] {
    auto* p = new client(options::from_env());
    std::atexit([] {
      client& d = default_client();
      if (!d.disabled()) d.shutdown(options::from_env().exit_flush_deadline);
    });
    return p;
  }();
  return *c;
}

}  // namespace llmtrace
