#include "ids.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <functional>
#include <random>
#include <thread>

namespace llmtrace::detail {
namespace {

constexpr char kHex[] = "0123456789abcdef";

struct hex_pairs {
  char pairs[512];
  constexpr hex_pairs() : pairs() {
    for (int i = 0; i < 256; ++i) {
      pairs[2 * i] = kHex[i >> 4];
      pairs[2 * i + 1] = kHex[i & 0xF];
    }
  }
};
constexpr hex_pairs kHexPairs{};

std::atomic<uint64_t> g_fork_generation{0};

struct id_rng {
  uint64_t s = 0;
  uint64_t generation = ~0ull;
  uint64_t next() noexcept {  // splitmix64
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

}  // namespace

void reseed_ids_after_fork() noexcept {
  g_fork_generation.fetch_add(1, std::memory_order_relaxed);
}

namespace {
id_rng& thread_rng() noexcept {
  thread_local id_rng rng;
  const uint64_t gen = g_fork_generation.load(std::memory_order_relaxed);
  if (rng.generation != gen) {
    uint64_t seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    seed ^= std::hash<std::thread::id>{}(std::this_thread::get_id()) * 0x9E3779B97F4A7C15ull;
    seed ^= reinterpret_cast<uintptr_t>(&rng);
    try {
      std::random_device rd;
      seed ^= (static_cast<uint64_t>(rd()) << 32) ^ rd();
    } catch (...) {
    }
    rng.s = seed;
    rng.generation = gen;
  }
  return rng;
}
}  // namespace

void write_random_hex(char* buf, unsigned bytes) noexcept {
  id_rng& rng = thread_rng();
  for (unsigned done = 0; done < bytes;) {
    uint64_t r = rng.next();
    for (int k = 0; k < 8 && done < bytes; ++k, ++done, r >>= 8)
      std::memcpy(buf + 2 * done, kHexPairs.pairs + 2 * (r & 0xFF), 2);
  }
  // OTel: an all-zero id is invalid. 2^-64 at worst, but cheap to rule out.
  bool zero = true;
  for (unsigned i = 0; i < 2 * bytes; ++i) zero = zero && buf[i] == '0';
  if (zero) buf[2 * bytes - 1] = '1';
}

void write_uuid_v7(char* buf) noexcept {
  id_rng& rng = thread_rng();
  // The coarse clock (a few ms of resolution) costs a few ns instead of ~20; ids only need ms ordering.
  timespec ts{};
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  const uint64_t ms = static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1000000u;
  const uint64_t r1 = rng.next();
  const uint64_t r2 = rng.next();
  unsigned char b[16];
#pragma GCC unroll 6
  for (int k = 0; k < 6; ++k) b[k] = static_cast<unsigned char>(ms >> (40 - 8 * k));
  b[6] = static_cast<unsigned char>(0x70 | ((r1 >> 8) & 0x0F));
  b[7] = static_cast<unsigned char>(r1);
  b[8] = static_cast<unsigned char>(0x80 | ((r1 >> 16) & 0x3F));
#pragma GCC unroll 7
  for (int k = 9; k < 16; ++k) b[k] = static_cast<unsigned char>(r2 >> (8 * (k - 9)));
  // Two hex digits per byte from a table, at fixed offsets of the 8-4-4-4-12 layout.
  static constexpr unsigned char kOffsets[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
#pragma GCC unroll 16
  for (int k = 0; k < 16; ++k) std::memcpy(buf + kOffsets[k], kHexPairs.pairs + 2 * b[k], 2);
  buf[8] = buf[13] = buf[18] = buf[23] = '-';
}

}  // namespace llmtrace::detail
