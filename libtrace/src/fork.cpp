// Fork safety: every live client is registered; the atfork handlers lock them in the parent and rebuild
// their runtime in the child (threads, locks and sockets are not inherited in a usable state).
#include <pthread.h>

#include <algorithm>
#include <cstdlib>

#include "buffer_pool.hpp"
#include "client_impl.hpp"
#include "fork.hpp"
#include "ids.hpp"

namespace llmtrace {
namespace {

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
  for (auto* c : registry()) c->rt->mu.lock();
}
void atfork_parent() {
  for (auto* c : registry()) c->rt->mu.unlock();
  registry_mu().unlock();
}
void atfork_child() {
  detail::reseed_ids_after_fork();
  detail::buffer_pool_after_fork();
  for (auto* c : registry()) c->after_fork_child();
  registry_mu().unlock();
}

}  // namespace

void register_for_fork(client::impl* c) {
  static std::once_flag once;
  std::call_once(once, [] { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); });
  std::lock_guard lk(registry_mu());
  registry().push_back(c);
}

void unregister_for_fork(client::impl* c) {
  std::lock_guard lk(registry_mu());
  auto& v = registry();
  v.erase(std::remove(v.begin(), v.end(), c), v.end());
}

void client::impl::after_fork_child() noexcept {
  // Only the forking thread exists now. The old runtime's lock is held by the prepare handler, its thread is
  // gone and its exporter's socket is shared with the parent: leak it (never destroy or unlock) and start
  // over with a fresh exporter.
  (void)rt.release();
  try {
    rt = std::make_unique<runtime>(make_exporter());
  } catch (...) {
    std::abort();
  }
  queue_bytes.store(0);
  enqueued.store(0);
  dropped.store(0);
  sent.store(0);
  failed.store(0);
  invalid.store(0);
  retried.store(0);
  discarded.store(0);
  requests.store(0);
  flusher_wakes.store(0);
  dequeued = 0;
  carry = detail::payload();
  has_carry = false;
  need_start.store(accepting.load());
}

}  // namespace llmtrace
