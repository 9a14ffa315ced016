// UUIDv7 with a 42-bit counter seeded randomly each millisecond (RFC 9562 section 6.2, method 1): ids from
// one process sort in creation order even when many are made in the same millisecond.
#include "model/ids.hpp"

#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>

namespace llmtrace::model {
namespace {

constexpr int k_counter_bits = 42;  // 12 bits of rand_a + the top 30 bits of rand_b
constexpr uint64_t k_counter_max = (uint64_t{1} << k_counter_bits) - 1;

class uuid7_generator {
 public:
  std::string next() {
    uint64_t ms = 0;
    uint64_t counter = 0;
    uint32_t tail = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const auto now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 std::chrono::system_clock::now().time_since_epoch())
                                                 .count());
      if (now > last_ms_) {
        last_ms_ = now;
        counter_ = fresh_counter();
      } else if (counter_ < k_counter_max) {
        // Same millisecond, or the clock stepped back: keep the old timestamp so order holds.
        ++counter_;
      } else {
        ++last_ms_;  // counter exhausted: borrow the next millisecond
        counter_ = fresh_counter();
      }
      ms = last_ms_;
      counter = counter_;
      tail = static_cast<uint32_t>(rng_());
    }
    const uint64_t hi = ((ms & 0xFFFFFFFFFFFFull) << 16) | (uint64_t{0x7} << 12) | (counter >> 30);
    const uint64_t lo = (uint64_t{0x2} << 62) | ((counter & 0x3FFFFFFFull) << 32) | tail;
    return format(hi, lo);
  }

 private:
  // The top bit stays clear so a millisecond has room for 2^41 increments.
  uint64_t fresh_counter() { return rng_() & (k_counter_max >> 1); }

  static std::string format(uint64_t hi, uint64_t lo) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out(36, '-');
    int pos = 0;
    auto put = [&](uint64_t v, int nibbles) {
      for (int i = nibbles - 1; i >= 0; --i) {
        if (pos == 8 || pos == 13 || pos == 18 || pos == 23) ++pos;
        out[static_cast<size_t>(pos++)] = hex[(v >> (i * 4)) & 0xF];
      }
    };
    put(hi, 16);
    put(lo, 16);
    return out;
  }

  std::mutex mu_;
  std::mt19937_64 rng_{std::random_device{}()};
  uint64_t last_ms_ = 0;
  uint64_t counter_ = 0;
};

uuid7_generator& generator() {
  static uuid7_generator g;
  return g;
}

}  // namespace

std::string new_record_id() {
  return generator().next();
}

std::string new_session_id() {
  return generator().next();
}

}  // namespace llmtrace::model
