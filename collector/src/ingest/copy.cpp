#include "ingest/copy.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ingest/extract.hpp"

namespace llmtrace::ingest {
namespace {

constexpr int64_t k_page = 5000;

std::string search_text_of(const model::record& r) {
  const auto req = nlohmann::json::parse(r.request_json, nullptr, false);
  const auto res = nlohmann::json::parse(r.response_json, nullptr, false);
  return extract_search_text(req.is_discarded() ? nlohmann::json() : req,
                             res.is_discarded() ? nlohmann::json() : res);
}

void copy_records(storage::store& to, const std::vector<model::record>& batch,
                  std::map<std::string, model::session>& sessions, storage::store& from, copy_progress& p) {
  std::vector<std::string> texts;
  texts.reserve(batch.size());
  for (const auto& r : batch) texts.push_back(search_text_of(r));
  for (const auto& r : batch) {
    if (!sessions.count(r.session_id)) {
      if (auto s = from.get_session(r.session_id)) sessions.emplace(r.session_id, *s);
    }
  }
  int64_t copied = 0;
  to.write([&](storage::write_tx& tx) {
    copied = 0;
    std::vector<std::string_view> ids;
    for (const auto& r : batch) ids.emplace_back(r.session_id);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    tx.lock_sessions(ids);  // in sorted order (no lock-order deadlock with another writer)
    // The batch's ids read ahead in one go where the store can (find_record below then costs no statement).
    storage::expected_lookups ahead;
    ahead.record_ids.reserve(batch.size());
    for (const auto& r : batch) ahead.record_ids.emplace_back(r.id);
    tx.expect_records(ahead);
    // Sessions are created in the order of their first record, as at ingest: the source's creation order,
    // which breaks ties of last activity in the sessions list (a batch commits many sessions in one ms).
    std::set<std::string_view> made;
    for (const auto& rec : batch) {
      const std::string& sid = rec.session_id;
      if (!made.insert(sid).second || tx.session_exists(sid)) continue;
      auto it = sessions.find(sid);
      tx.insert_session(sid, it != sessions.end() ? it->second.name : sid,
                        it != sessions.end() ? it->second.created_at_ms : batch.front().created_at_ms);
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      if (tx.find_record(batch[i].id)) continue;
      tx.insert_record(batch[i], texts[i]);
      ++copied;
    }
  });
  p.records_copied += copied;
}

}  // namespace

std::string copy_store(storage::store& from, storage::store& to,
                       const std::function<void(const copy_progress&)>& progress, copy_progress& p) {
  p = {};
  const auto before = from.stats();
  p.records_total = before.records;
  std::map<std::string, model::session> sessions;

  // Oldest first, by the source's row id (keyset pages: linear in the record count, where OFFSET pages of
  // the newest-first search were quadratic and ran into the search time budget on large files).
  int64_t after = 0;
  for (;;) {
    auto page = from.records_after(after, static_cast<int>(k_page));
    for (size_t i = 0; i < page.size(); i += 500) {
      std::vector<model::record> batch(
          page.begin() + static_cast<std::ptrdiff_t>(i),
          page.begin() + static_cast<std::ptrdiff_t>(std::min(page.size(), i + 500)));
      copy_records(to, batch, sessions, from, p);
      p.records_done += static_cast<int64_t>(batch.size());
      if (progress) progress(p);
    }
    if (page.size() < static_cast<size_t>(k_page)) break;
  }

  // Every session (those without records too), with its name and last activity; then the scores.
  storage::page_request pr;
  pr.size = 1000;
  for (pr.page = 1;; ++pr.page) {
    auto page = from.list_sessions(pr);
    if (page.items.empty()) break;
    for (const auto& s : page.items) {
      if (!to.get_session(s.id)) {
        to.write([&](storage::write_tx& tx) {
          tx.lock_sessions({s.id});
          if (!tx.session_exists(s.id)) tx.insert_session(s.id, s.name, s.created_at_ms);
        });
      }
      to.rename_session(s.id, s.name, s.updated_at_ms);
      ++p.sessions;
      std::set<std::string> have;
      for (auto& sc : to.list_scores(model::score_target::session, {s.id})) have.insert(sc.id);
      std::vector<std::string> record_ids;
      from.for_each_record(s.id, [&](const model::record& r) {
        record_ids.push_back(r.id);
        return true;
      });
      for (auto& sc : to.list_scores(model::score_target::record, record_ids)) have.insert(sc.id);
      auto copy_scores = [&](const std::vector<model::score>& list) {
        for (const auto& sc : list) {
          if (have.count(sc.id)) continue;
          if (to.add_score(sc)) ++p.scores_copied;
        }
      };
      copy_scores(from.list_scores(model::score_target::session, {s.id}));
      copy_scores(from.list_scores(model::score_target::record, record_ids));
    }
    if (progress) progress(p);
  }

  const auto a = from.stats();
  const auto b = to.stats();
  std::string diff;
  auto cmp = [&](const char* what, int64_t x, int64_t y) {
    if (x != y)
      diff +=
          std::string(diff.empty() ? "" : ", ") + what + " " + std::to_string(x) + " -> " + std::to_string(y);
  };
  cmp("sessions", a.sessions, b.sessions);
  cmp("records", a.records, b.records);
  cmp("errors", a.errors, b.errors);
  cmp("pending", a.pending, b.pending);
  cmp("total_tokens", a.total_tokens, b.total_tokens);
  return diff;
}

}  // namespace llmtrace::ingest
