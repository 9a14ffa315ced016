// Row 5: proxy overhead. Latency of POST /v1/chat/completions through the collector's recording proxy versus
// calling the same in-process fake upstream directly, plain and time-to-first-token with "stream": true.
// When the proxy has not landed (the collector does not answer 200 on /v1/chat/completions), says so.
#include <atomic>
#include <cstdio>
#include <iostream>
#include <thread>
#include <vector>

#include <httplib.h>

#include "bench_util.hpp"
#include "load.hpp"

namespace llmtrace::bench {
namespace {

constexpr const char* kChunk =
    R"({"id":"chatcmpl-fake","object":"chat.completion.chunk","created":1764115200,"model":"gpt-4o-mini",)"
    R"("choices":[{"index":0,"delta":{"content":"hello there "},"finish_reason":null}]})";

// A tiny OpenAI-compatible upstream on a free loopback port.
class fake_upstream {
 public:
  fake_upstream() {
    rng r(5);
    plain_ = make_chat_pair(r, 1200).response_json;
    srv_.set_tcp_nodelay(true);
    srv_.set_keep_alive_max_count(100000);
    srv_.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      if (req.body.find("\"stream\":true") == std::string::npos) {
        res.set_content(plain_, "application/json");
        return;
      }
      res.set_chunked_content_provider("text/event-stream", [](size_t, httplib::DataSink& sink) {
        const std::string ev = std::string("data: ") + kChunk + "\n\n";
        for (int i = 0; i < 3; ++i) sink.write(ev.data(), ev.size());
        const std::string done = "data: [DONE]\n\n";
        sink.write(done.data(), done.size());
        sink.done();
        return true;
      });
    });
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    const auto deadline = steady::now() + std::chrono::seconds(5);
    while (!srv_.is_running() && steady::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~fake_upstream() {
    srv_.stop();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  httplib::Server srv_;
  std::string plain_;
  int port_ = 0;
  std::thread thread_;
};

// Total time of a plain call, or time to the first body bytes of a streamed one; negative on failure.
double timed_call(httplib::Client& cli, const std::string& body, bool stream, int* status) {
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = body;
  req.set_header("Content-Type", "application/json");
  req.set_header("Authorization", "Bearer sk-bench-client");
  req.set_header("X-LLMTrace-Session-Id", "proxy-bench");
  double first_ms = -1;
  const auto s = steady::now();
  if (stream) {
    req.content_receiver = [&](const char*, size_t len, uint64_t, uint64_t) {
      if (first_ms < 0 && len > 0)
        first_ms = std::chrono::duration<double, std::milli>(steady::now() - s).count();
      return true;
    };
  }
  auto res = cli.send(req);
  const double total = std::chrono::duration<double, std::milli>(steady::now() - s).count();
  *status = res ? res->status : -1;
  if (!res || res->status != 200) return -1;
  return stream ? first_ms : total;
}

}  // namespace

int run_proxy(int argc, char** argv) {
  const std::string bin = arg_value(argc, argv, "--collector");
  const std::string work = arg_value(argc, argv, "--work", "/tmp");
  result_sink out(arg_value(argc, argv, "--out"));
  const int n = static_cast<int>(env_int("LLMTRACE_BENCH_PROXY_CALLS", 300));

  fake_upstream up;
  const std::string db = work + "/proxy.db";
  for (auto suffix : {"", "-wal", "-shm"}) std::remove((db + suffix).c_str());
  collector_process col;
  col.start(bin, db, {"--upstream", "http://127.0.0.1:" + std::to_string(up.port()) + "/v1"},
            {"OPENAI_API_KEY=sk-bench-server"});

  httplib::Client direct("127.0.0.1", up.port()), proxied("127.0.0.1", col.port());
  for (auto* c : {&direct, &proxied}) {
    c->set_keep_alive(true);
    c->set_tcp_nodelay(true);
    c->set_read_timeout(10, 0);
  }
  rng r(6);
  const std::string req = make_chat_pair(r, 1200).request_json;
  const std::string req_stream = req.substr(0, req.size() - 1) + R"(,"stream":true})";

  int status = 0;
  if (timed_call(proxied, req, false, &status) < 0) {
    result_row row;
    row.row = "5 Proxy overhead";
    row.metric = "added latency at p50, POST /v1/chat/completions";
    row.ours = "not measured: the proxy has not landed (collector answered " + std::to_string(status) + ")";
    row.target = "<= 1 ms";
    row.met = "n/a";
    out.add(row);
    return 0;
  }

  std::vector<double> d_plain, p_plain, d_ttft, p_ttft;
  int failures = 0;
  for (int i = 0; i < n; ++i) {
    // Interleaved so both paths see the same background noise.
    double v;
    if ((v = timed_call(direct, req, false, &status)) >= 0)
      d_plain.push_back(v);
    else
      ++failures;
    if ((v = timed_call(proxied, req, false, &status)) >= 0)
      p_plain.push_back(v);
    else
      ++failures;
    if ((v = timed_call(direct, req_stream, true, &status)) >= 0)
      d_ttft.push_back(v);
    else
      ++failures;
    if ((v = timed_call(proxied, req_stream, true, &status)) >= 0)
      p_ttft.push_back(v);
    else
      ++failures;
  }
  col.stop();
  const summary dp = summarize(d_plain), pp = summarize(p_plain), dt = summarize(d_ttft),
                pt = summarize(p_ttft);
  auto add = [&](const std::string& what, const summary& direct_s, const summary& proxy_s) {
    result_row row;
    row.row = "5 Proxy overhead";
    row.metric = "added latency at p50, " + what;
    row.ours = fmt_ms(proxy_s.p50 - direct_s.p50) + " (through collector " + fmt_ms(proxy_s.p50) + ", p99 " +
               fmt_ms(proxy_s.p99) + ")";
    row.peer = "direct to fake upstream " + fmt_ms(direct_s.p50) + " (p99 " + fmt_ms(direct_s.p99) + ")";
    row.ratio = fmt_ratio(direct_s.p50 > 0 ? proxy_s.p50 / direct_s.p50 : 0);
    row.target = "<= 1 ms added";
    row.met = proxy_s.p50 - direct_s.p50 <= 1.0 && failures == 0 ? "yes" : "no";
    out.add(row);
  };
  add("POST /v1/chat/completions (plain)", dp, pp);
  add("time to first token, \"stream\": true", dt, pt);
  out.note("Row 5: " + std::to_string(n) + " calls per path, interleaved, one keep-alive client each; " +
           std::to_string(failures) + " failed calls.");
  return failures == 0 ? 0 : 1;
}

}  // namespace llmtrace::bench
