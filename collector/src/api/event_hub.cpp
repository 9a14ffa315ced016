#include "api/event_hub.hpp"

#include <algorithm>
#include <charconv>

#include <httplib.h>

#include "config.hpp"
#include "http/auth.hpp"
#include "http/connection.hpp"
#include "http/errors.hpp"
#include "http/render.hpp"

namespace llmtrace::api {

const std::string& event_hub::event::wire() const {
  std::call_once(rendered_, [this] {
    std::string& out = wire_;
    out = "id: " + std::to_string(id) + "\nevent: " + type + "\ndata: ";
    if (auto* r = std::get_if<model::record>(&payload_)) {
      std::optional<model::record> loaded;
      if (load_) {
        try {
          loaded = load_(r->id);
        } catch (const std::exception&) {
          // Store busy or gone: the event goes out without the texts (the UI reads the record on open).
        }
        if (loaded) loaded->scores = r->scores;  // the event's shape: scores only where the event had them
      }
      const model::record& rec = loaded ? *loaded : *r;
      out.reserve(out.size() + 512 + rec.request_json.size() + rec.response_json.size() +
                  rec.metadata_json.size());
      http::append_json(out, rec, change_);
    } else if (auto* s = std::get_if<model::session>(&payload_)) {
      http::append_json(out, *s);
    } else if (auto* d = std::get_if<deleted_ref>(&payload_)) {
      out += "{\"id\":";
      http::append_json_string(out, d->id);
      out += ",\"kind\":";
      http::append_json_string(out, d->kind);
      out += '}';
    } else {
      out += "null";
    }
    out += "\n\n";
  });
  return wire_;
}

std::size_t event_hub::event::approx_bytes() const {
  if (auto* r = std::get_if<model::record>(&payload_))
    return 512 + r->request_json.size() + r->response_json.size() + r->metadata_json.size();
  return 512;
}

namespace {
std::size_t text_bytes(const model::record& r) {
  return r.request_json.size() + r.response_json.size() + r.metadata_json.size();
}
}  // namespace

event_hub::event_hub(options opts) : opts_(opts) {}

void event_hub::push(std::shared_ptr<event> e) {
  {
    std::lock_guard lock(mu_);
    e->id = next_id_++;
    ring_bytes_ += e->approx_bytes();
    ring_.push_back(std::move(e));
    while (ring_.size() > 1 && (ring_.size() > opts_.ring_capacity || ring_bytes_ > opts_.ring_bytes)) {
      ring_bytes_ -= ring_.front()->approx_bytes();
      ring_.pop_front();
    }
  }
  cv_.notify_all();
}

void event_hub::publish_record(const model::record& r, std::string_view change) {
  auto e = std::make_shared<event>();
  e->type = "record";
  if (opts_.load_record && text_bytes(r) > opts_.inline_text_bytes) {
    // The record without its texts (a copy of a large trace would live in the ring as long as the event).
    // At render time the record read back replaces it whole; these fields are only the fallback for a
    // record that can no longer be read (deleted meanwhile, store busy).
    model::record head;
    head.id = r.id;
    head.session_id = r.session_id;
    head.turn_number = r.turn_number;
    head.status = r.status;
    head.error_message = r.error_message;
    head.created_at_ms = r.created_at_ms;
    head.updated_at_ms = r.updated_at_ms;
    head.started_at_ms = r.started_at_ms;
    head.ended_at_ms = r.ended_at_ms;
    head.latency_ms = r.latency_ms;
    head.model = r.model;
    head.usage = r.usage;
    head.replay_of = r.replay_of;
    head.parent_id = r.parent_id;
    head.trace_id = r.trace_id;
    head.name = r.name;
    head.kind = r.kind;
    head.cost_usd = r.cost_usd;
    head.scores = r.scores;
    e->payload_ = std::move(head);
    e->load_ = opts_.load_record;
  } else {
    e->payload_ = r;
  }
  e->change_ = std::string(change);
  push(std::move(e));
}

void event_hub::publish_session(const model::session& s) {
  auto e = std::make_shared<event>();
  e->type = "session";
  e->payload_ = s;
  push(std::move(e));
}

void event_hub::publish_deleted(std::string_view kind, std::string_view id) {
  auto e = std::make_shared<event>();
  e->type = "deleted";
  e->payload_ = deleted_ref{std::string(kind), std::string(id)};
  push(std::move(e));
}

bool event_hub::try_open_stream(const std::string& client) {
  std::lock_guard lock(mu_);
  if (stopping_ || open_streams_ >= opts_.max_streams) return false;
  const int per_client =
      opts_.max_streams_per_client > 0 ? opts_.max_streams_per_client : std::max(1, opts_.max_streams / 2);
  if (!client.empty() && streams_by_client_[client] >= per_client) return false;
  ++open_streams_;
  if (!client.empty()) ++streams_by_client_[client];
  return true;
}

void event_hub::close_stream(const std::string& client) {
  std::lock_guard lock(mu_);
  if (open_streams_ > 0) --open_streams_;
  if (auto it = streams_by_client_.find(client); it != streams_by_client_.end() && --it->second <= 0)
    streams_by_client_.erase(it);
}

int event_hub::open_streams() const {
  std::lock_guard lock(mu_);
  return open_streams_;
}

uint64_t event_hub::resume_cursor(std::optional<uint64_t> last_event_id) const {
  std::lock_guard lock(mu_);
  if (last_event_id && *last_event_id < next_id_) {
    uint64_t oldest = ring_.empty() ? next_id_ : ring_.front()->id;
    // Resume only when nothing between last_event_id and now has been dropped from the ring.
    if (*last_event_id + 1 >= oldest) return *last_event_id + 1;
  }
  return next_id_;
}

std::vector<event_hub::event_ptr> event_hub::wait_from(uint64_t& cursor, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return stopping_ || next_id_ > cursor; });
  std::vector<event_ptr> out;
  if (stopping_) return out;
  for (const auto& e : ring_)
    if (e->id >= cursor) out.push_back(e);
  if (next_id_ > cursor) cursor = next_id_;
  return out;
}

void event_hub::shutdown() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

bool event_hub::stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

uint64_t event_hub::last_id() const {
  std::lock_guard lock(mu_);
  return next_id_ - 1;
}

namespace {

std::optional<uint64_t> parse_event_id(const std::string& s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

void mount_events(httplib::Server& server, event_hub& hub, const config& cfg) {
  server.Get("/api/events", [&hub, &cfg](const httplib::Request& req, httplib::Response& res) {
    if (!http::require_auth(req, res, cfg)) return;
    std::optional<uint64_t> last;
    if (req.has_header("Last-Event-ID"))
      last = parse_event_id(req.get_header_value("Last-Event-ID"));
    else if (req.has_param("last_event_id"))
      last = parse_event_id(req.get_param_value("last_event_id"));
    // Streams are capped per peer address as well as in total.
    const std::string client = req.remote_addr;
    if (!hub.try_open_stream(client)) {
      res.set_header("Retry-After", "2");
      http::write_error(res, 503, "too_many_streams",
                        "too many open event streams; the UI falls back to polling");
      return;
    }
    struct stream_state {
      uint64_t cursor = 0;
      bool started = false;
    };
    auto state = std::make_shared<stream_state>();
    state->cursor = hub.resume_cursor(last);
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [&hub, state](size_t, httplib::DataSink& sink) {
          if (!state->started) {
            state->started = true;
            std::string hello = "retry: 2000\n: connected\n\n";
            return sink.write(hello.data(), hello.size());
          }
          // Wait in short slices so a closed tab frees its stream slot within a second, not a heartbeat.
          const auto ping_at = std::chrono::steady_clock::now() + hub.opts().heartbeat;
          std::vector<event_hub::event_ptr> events;
          for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                ping_at - std::chrono::steady_clock::now());
            events = hub.wait_from(state->cursor, std::clamp(left, std::chrono::milliseconds(0),
                                                             std::chrono::milliseconds(1000)));
            if (hub.stopping()) {
              sink.done();
              return true;
            }
            if (!events.empty() || left.count() <= 1000) break;
            if (http::peer_closed(http::current_connection())) return false;
          }
          if (events.empty()) {
            static const std::string ping = ": ping\n\n";
            return sink.write(ping.data(), ping.size());
          }
          std::string out;
          for (const auto& e : events) out += e->wire();
          return sink.write(out.data(), out.size());
        },
        [&hub, client](bool) { hub.close_stream(client); });
  });
}

}  // namespace llmtrace::api
