#include "bench_util.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <httplib.h>

extern char** environ;

namespace llmtrace::bench {

double percentile(std::vector<double>& samples, double q) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  // Nearest rank: the smallest value with at least q of the samples at or below it.
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples.size())));
  if (rank == 0) rank = 1;
  return samples[std::min(rank, samples.size()) - 1];
}

summary summarize(std::vector<double> samples) {
  summary s;
  s.n = samples.size();
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples.size())));
    if (rank == 0) rank = 1;
    return samples[std::min(rank, samples.size()) - 1];
  };
  s.p50 = at(0.50);
  s.p95 = at(0.95);
  s.p99 = at(0.99);
  s.p999 = at(0.999);
  s.max = samples.back();
  return s;
}

std::string fmt_ns(double ns) {
  char buf[64];
  if (ns < 1000)
    std::snprintf(buf, sizeof buf, "%.0f ns", ns);
  else if (ns < 1e6)
    std::snprintf(buf, sizeof buf, "%.2f us", ns / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.2f ms", ns / 1e6);
  return buf;
}

std::string fmt_ms(double ms) {
  char buf[64];
  if (ms < 10)
    std::snprintf(buf, sizeof buf, "%.2f ms", ms);
  else
    std::snprintf(buf, sizeof buf, "%.1f ms", ms);
  return buf;
}

std::string fmt_num(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  auto dot = s.find('.');
  std::string ip = s.substr(0, dot == std::string::npos ? s.size() : dot);
  std::string rest = dot == std::string::npos ? "" : s.substr(dot);
  bool neg = !ip.empty() && ip[0] == '-';
  if (neg) ip.erase(0, 1);
  std::string out;
  for (std::size_t i = 0; i < ip.size(); ++i) {
    if (i && (ip.size() - i) % 3 == 0) out += ',';
    out += ip[i];
  }
  return (neg ? "-" : "") + out + rest;
}

std::string fmt_ratio(double r) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2fx", r);
  return buf;
}

std::string fmt_bytes(double b) {
  char buf[64];
  if (b < 1024)
    std::snprintf(buf, sizeof buf, "%.0f B", b);
  else if (b < 1024.0 * 1024)
    std::snprintf(buf, sizeof buf, "%.1f KB", b / 1024);
  else if (b < 1024.0 * 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.1f MB", b / (1024.0 * 1024));
  else
    std::snprintf(buf, sizeof buf, "%.2f GB", b / (1024.0 * 1024 * 1024));
  return buf;
}

void result_sink::add(const result_row& r) {
  std::string line = "| " + r.row + " | " + r.metric + " | " + r.ours + " | " + r.peer + " | " + r.ratio +
                     " | " + r.target + " | " + r.met + " |";
  std::cout << line << std::endl;
  if (!path_.empty()) {
    std::ofstream f(path_, std::ios::app);
    f << line << "\n";
  }
}

void result_sink::note(const std::string& text) {
  std::cout << "note: " << text << std::endl;
  if (!path_.empty()) {
    std::ofstream f(path_ + ".notes", std::ios::app);
    f << "- " << text << "\n";
  }
}

uint64_t rng::next() {
  uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::string vocab_word(uint32_t i) {
  // Consonant-vowel syllables: readable, distinct, and tokenised as one word by FTS5 unicode61.
  static const char* cons = "bdfgklmnprstvz";  // 14
  static const char* vow = "aeiou";            // 5
  std::string w;
  uint32_t x = i;
  const int syllables = 2 + static_cast<int>(i % 3);
  for (int k = 0; k < syllables; ++k) {
    w += cons[x % 14];
    x /= 14;
    w += vow[x % 5];
    x /= 5;
  }
  // Make the high bits visible so words stay unique beyond what the syllables encode.
  if (x) w += cons[x % 14];
  return w;
}

std::string words(rng& r, std::size_t bytes) {
  std::string out;
  out.reserve(bytes + 16);
  while (out.size() < bytes) {
    if (!out.empty()) out += ' ';
    // Zipf-ish: a few words are common, most are rare, like real text.
    const double u = r.unit();
    const auto i = static_cast<uint32_t>(std::pow(u, 2.5) * vocab_size);
    out += vocab_word(i);
  }
  out.resize(bytes);
  if (!out.empty() && out.back() == ' ') out.back() = 'a';
  return out;
}

chat_pair make_chat_pair(rng& r, std::size_t bytes, const std::string& extra_token) {
  // Fixed JSON scaffolding is ~330 bytes; the rest is message text split 70/30 prompt/answer.
  const std::size_t text = bytes > 400 ? bytes - 330 : 64;
  const std::size_t prompt = text * 7 / 10;
  const std::size_t answer = text - prompt;
  const std::string sys =
      extra_token.empty() ? "You are a helpful assistant." : "You help with " + extra_token + ".";
  chat_pair p;
  p.request_json = R"({"model":"gpt-4o-mini","temperature":0.2,"messages":[{"role":"system","content":")" +
                   sys + R"("},{"role":"user","content":")" +
                   words(r, prompt > sys.size() ? prompt - sys.size() : 16) + R"("}]})";
  const uint64_t pt = 50 + r.below(400), ct = 20 + r.below(200);
  p.response_json =
      R"({"id":"chatcmpl-bench","object":"chat.completion","created":1764115200,)"
      R"("model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":")" +
      words(r, answer) + R"("},"finish_reason":"stop"}],"usage":{"prompt_tokens":)" + std::to_string(pt) +
      R"(,"completion_tokens":)" + std::to_string(ct) + R"(,"total_tokens":)" + std::to_string(pt + ct) +
      "}}";
  return p;
}

std::string make_trace_json(const std::string& id, const std::string& session_id, int64_t turn,
                            const chat_pair& p, bool error) {
  std::string s;
  s.reserve(p.request_json.size() + p.response_json.size() + 256);
  s += R"({"id":")" + id + R"(","session_id":")" + session_id + R"(","turn_number":)" + std::to_string(turn);
  s += R"(,"request":)" + p.request_json;
  if (error) {
    s += R"(,"response":null,"status":"error","error_message":"upstream timeout after 30 s")";
  } else {
    s += R"(,"response":)" + p.response_json + R"(,"status":"success")";
  }
  s += R"(,"metadata":{"app":"bench","env":"dev"},"latency_ms":812.5})";
  return s;
}

int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    throw std::runtime_error("bind() failed");
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

double process_cpu_seconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // The command name may hold spaces: fields are counted after the closing parenthesis.
  auto close = all.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(all.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  // After ')' come field 3 (state) onwards; utime is field 14, stime 15.
  for (int i = 3; i <= 15 && (in >> field); ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double process_thread_cpu_seconds(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  double total = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream f(dir + "/" + e->d_name + "/schedstat");
      double ns = 0;
      if (f >> ns) total += ns;
    }
    ::closedir(d);
  }
  return total / 1e9;
}

namespace {
int64_t status_kb(pid_t pid, const std::string& key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key, 0) == 0) return std::atoll(line.c_str() + key.size()) * 1024;
  }
  return 0;
}
}  // namespace

int64_t process_rss_bytes(pid_t pid) {
  return status_kb(pid, "VmRSS:");
}
int64_t process_rss_anon_bytes(pid_t pid) {
  return status_kb(pid, "RssAnon:");
}
int64_t process_rss_file_bytes(pid_t pid) {
  return status_kb(pid, "RssFile:") + status_kb(pid, "RssShmem:");
}

std::string rss_text(pid_t pid) {
  return fmt_bytes(static_cast<double>(process_rss_bytes(pid))) + " (anon " +
         fmt_bytes(static_cast<double>(process_rss_anon_bytes(pid))) + ", file-backed " +
         fmt_bytes(static_cast<double>(process_rss_file_bytes(pid))) + ")";
}

int64_t file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return st.st_size;
}

collector_process::~collector_process() {
  stop();
}

void collector_process::start(const std::string& binary, const std::string& db,
                              const std::vector<std::string>& extra_args,
                              const std::vector<std::string>& extra_env, std::chrono::milliseconds timeout) {
  port_ = free_loopback_port();
  std::vector<std::string> args = {binary, "--host", "127.0.0.1",   "--port", std::to_string(port_),
                                   "--db", db,       "--log-level", "warn"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  // For profiling: e.g. LLMTRACE_BENCH_COLLECTOR_WRAPPER="valgrind --tool=callgrind" runs the collector under
  // it.
  if (const char* wrap = std::getenv("LLMTRACE_BENCH_COLLECTOR_WRAPPER"); wrap && *wrap) {
    std::istringstream in(wrap);
    std::vector<std::string> prefix;
    for (std::string w; in >> w;) prefix.push_back(w);
    args.insert(args.begin(), prefix.begin(), prefix.end());
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) env_store.emplace_back(*e);
  env_store.insert(env_store.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  // The collector's log goes next to the database, so a failing run can be diagnosed.
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const std::string log = log_.empty() ? db + ".log" : log_;
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  const auto t0 = steady::now();
  int rc = posix_spawnp(&pid_, args[0].c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    pid_ = -1;
    throw std::runtime_error("cannot start " + binary);
  }
  httplib::Client cli("127.0.0.1", port_);
  cli.set_connection_timeout(0, 200000);
  cli.set_read_timeout(1, 0);
  const auto deadline = t0 + timeout;
  while (steady::now() < deadline) {
    auto res = cli.Get("/healthz");
    if (res && res->status == 200) {
      start_ms_ = std::chrono::duration<double, std::milli>(steady::now() - t0).count();
      return;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("collector exited during start-up (see " + log + ")");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  stop();
  throw std::runtime_error("collector did not answer /healthz in time (see " + log + ")");
}

int collector_process::stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  const auto deadline = steady::now() + std::chrono::seconds(10);
  while (steady::now() < deadline) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

std::string arg_value(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == name) return argv[i + 1];
  return fallback;
}

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  long long x = std::strtoll(v, &end, 10);
  return (end && *end == 0 && x > 0) ? x : fallback;
}

}  // namespace llmtrace::bench
