#include "storage/pg_summary.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>
#include <iterator>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

#include "storage/pg_copy.hpp"

namespace llmtrace::storage::pg {
namespace {

// The advisory lock key of the builder ("llmsumry"): one collector builds at a time.
constexpr int64_t k_summary_lock = 0x6c6c6d73756d7279;
// Rows read per statement while building (their lexeme arrays are ~1 KB each in text).
constexpr int64_t k_read_rids = 16384;
// COPY data sent per statement while building.
constexpr std::size_t k_copy_bytes = 8 << 20;

// The 64 bits of a bitmap from byte `at` on, as a number whose bit j is the offset 8 * at + j.
uint64_t word_at(const std::string& bitmap, std::size_t at) {
  uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(bitmap[at + i])) << (8 * i);
  return v;
}

bool is_bitmap(const std::string& p) {
  return p.size() == k_postings_bitmap_bytes;
}

// The offsets of postings stored as a list (a bitmap is read 64 bits at a time, see intersect_postings).
std::vector<uint32_t> offsets_of(const std::string& p) {
  std::vector<uint32_t> out;
  if (p.size() % 4 != 0) throw std::runtime_error("a search summary's postings have an impossible size");
  out.resize(p.size() / 4);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto* b = reinterpret_cast<const unsigned char*>(p.data() + 4 * i);
    out[i] = static_cast<uint32_t>(b[0]) | static_cast<uint32_t>(b[1]) << 8 |
             static_cast<uint32_t>(b[2]) << 16 | static_cast<uint32_t>(b[3]) << 24;
  }
  return out;
}

// The elements of a text[] in PostgreSQL's text output ({a,"b c","d\"e"}); NULL elements are skipped.
void for_each_element(std::string_view s, const std::function<void(std::string&&)>& f) {
  std::size_t i = 1;  // past '{'
  std::string cur;
  while (i < s.size() && s[i] != '}') {
    cur.clear();
    if (s[i] == '"') {
      for (++i; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        cur += s[i];
      }
      ++i;  // the closing quote
      f(std::move(cur));
    } else {
      const std::size_t end = s.find_first_of(",}", i);
      const std::string_view bare = s.substr(i, end - i);
      if (bare != "NULL") f(std::string(bare));
      i = end;
    }
    if (i < s.size() && s[i] == ',') ++i;
  }
}

// The sealed partitions (the sequence has gone the margin past their end) that exist and have no ready
// summary, as k.
constexpr const char* k_pending =
    "SELECT k FROM generate_series(0::bigint, ((SELECT last_value FROM records_rid_seq) - $2::bigint) / "
    "$1::bigint - 1) k WHERE to_regclass('record_terms_p' || k) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
    "record_terms_summary_state s WHERE s.part = k AND s.ready)";
params pending_params() {
  return {std::to_string(k_terms_partition_rids), std::to_string(k_seal_margin)};
}

}  // namespace

int64_t summaries_pending(connection& c) {
  return c.run("SELECT COUNT(*) FROM (" + std::string(k_pending) + ") p", pending_params()).i64(0, 0);
}

std::string encode_postings(const std::vector<uint32_t>& offsets) {
  std::string out;
  if (offsets.size() * 4 >= k_postings_bitmap_bytes) {
    out.assign(k_postings_bitmap_bytes, '\0');
    for (uint32_t o : offsets)
      out[o / 8] = static_cast<char>(static_cast<unsigned char>(out[o / 8]) | 1u << (o % 8));
    return out;
  }
  out.resize(offsets.size() * 4);
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    for (int k = 0; k < 4; ++k)
      out[4 * i + static_cast<std::size_t>(k)] = static_cast<char>(offsets[i] >> (8 * k));
  }
  return out;
}

postings_match intersect_postings(const std::vector<std::string>& stored, std::size_t newest) {
  postings_match out;
  if (stored.empty()) return out;
  // All bitmaps: ANDed 64 bits at a time, counted, and the newest read from the top.
  if (std::all_of(stored.begin(), stored.end(), is_bitmap)) {
    constexpr std::size_t words = k_postings_bitmap_bytes / 8;
    std::vector<uint64_t> all(words);
    for (std::size_t w = 0; w < words; ++w) {
      all[w] = word_at(stored[0], 8 * w);
      for (std::size_t k = 1; k < stored.size(); ++k) all[w] &= word_at(stored[k], 8 * w);
    }
    for (uint64_t v : all) out.count += std::popcount(v);
    for (std::size_t w = words; w-- > 0 && out.newest.size() < newest;) {
      for (uint64_t v = all[w]; v && out.newest.size() < newest;) {
        const int top = 63 - std::countl_zero(v);
        out.newest.push_back(static_cast<uint32_t>(64 * w + static_cast<std::size_t>(top)));
        v &= ~(uint64_t{1} << top);
      }
    }
    return out;
  }
  // Otherwise the smallest list of offsets, kept where every other one has the offset too.
  std::size_t smallest = 0;
  for (std::size_t k = 0; k < stored.size(); ++k) {
    if (!is_bitmap(stored[k]) && (is_bitmap(stored[smallest]) || stored[k].size() < stored[smallest].size()))
      smallest = k;
  }
  std::vector<uint32_t> both = offsets_of(stored[smallest]);
  for (std::size_t k = 0; k < stored.size() && !both.empty(); ++k) {
    if (k == smallest) continue;
    const std::string& p = stored[k];
    if (is_bitmap(p)) {
      std::erase_if(both,
                    [&](uint32_t o) { return !((static_cast<unsigned char>(p[o / 8]) >> (o % 8)) & 1u); });
    } else {
      const std::vector<uint32_t> other = offsets_of(p);
      std::vector<uint32_t> kept;
      std::set_intersection(both.begin(), both.end(), other.begin(), other.end(), std::back_inserter(kept));
      both = std::move(kept);
    }
  }
  out.count = static_cast<int64_t>(both.size());
  for (auto it = both.rbegin(); it != both.rend() && out.newest.size() < newest; ++it)
    out.newest.push_back(*it);
  return out;
}

std::string bytea_from_hex(const std::string& text) {
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0)
    throw std::runtime_error("a bytea value is not in hex format");
  auto nibble = [](char ch) -> int {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    throw std::runtime_error("a bytea value is not in hex format");
  };
  std::string out((text.size() - 2) / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<char>(nibble(text[2 + 2 * i]) << 4 | nibble(text[3 + 2 * i]));
  return out;
}

int64_t summarize_next(connection& c, const std::atomic<bool>& stop) {
  transaction tx(c);

  if (c.run("SELECT pg_try_advisory_xact_lock($1::bigint)", {std::to_string(k_summary_lock)}).text(0, 0) !=
      "t")
    return -1;
  // Sealed: the sequence has gone the margin past the partition's end (a writer that took the partition's
  // last rids has had time to write them; one that writes later marks the summary stale, see the trigger).
  auto pending = c.run(std::string(k_pending) + " ORDER BY k DESC LIMIT 1", pending_params());
  if (pending.rows() == 0) return -1;
  const int64_t part = pending.i64(0, 0);
  const std::string table = "record_terms_p" + std::to_string(part);
  const int64_t first = part * k_terms_partition_rids;

  // Writers of this partition wait until the summary is committed (readers go on); then every later change
  // of it fires the trigger.
  c.exec("SET LOCAL lock_timeout = '1s'");
  c.exec("LOCK TABLE " + table + " IN SHARE ROW EXCLUSIVE MODE");
  std::unordered_map<std::string, std::vector<uint32_t>> postings;
  for (int64_t at = first; at < first + k_terms_partition_rids; at += k_read_rids) {
    if (stop) return -1;
    auto rows =
        c.run("SELECT rid, tsvector_to_array(search_vec) FROM " + table + " WHERE rid >= $1 AND rid < $2",
              {std::to_string(at), std::to_string(at + k_read_rids)});
    for (int i = 0; i < rows.rows(); ++i) {
      const auto offset = static_cast<uint32_t>(rows.i64(i, 0) - first);
      for_each_element(rows.text(i, 1), [&](std::string&& lexeme) { postings[lexeme].push_back(offset); });
    }
  }
  c.run("DELETE FROM record_terms_summary WHERE part = $1", {std::to_string(part)});
  binary_copy data;
  auto send = [&] {
    c.copy_in("COPY record_terms_summary (part, lexeme, postings) FROM STDIN WITH (FORMAT binary)",
              data.take());
    data = binary_copy();
  };
  for (auto& [lexeme, offsets] : postings) {
    if (stop) return -1;
    std::sort(offsets.begin(), offsets.end());
    data.row(3);
    data.int8(part);
    data.text(lexeme);
    data.text(encode_postings(offsets));  // bytea's binary form is its bytes, as text's
    if (data.size() >= k_copy_bytes) send();
  }
  if (!postings.empty()) send();
  c.exec("DROP TRIGGER IF EXISTS record_terms_summary_stale ON " + table +
         "; CREATE TRIGGER record_terms_summary_stale AFTER INSERT OR UPDATE OR DELETE ON " + table +
         " FOR EACH ROW EXECUTE FUNCTION llmtrace_terms_summary_stale(" + std::to_string(part) + ")");
  c.run(
      "INSERT INTO record_terms_summary_state (part, ready) VALUES ($1, true) ON CONFLICT (part) DO UPDATE "
      "SET ready = true",
      {std::to_string(part)});
  tx.commit();
  return part;
}

}  // namespace llmtrace::storage::pg
