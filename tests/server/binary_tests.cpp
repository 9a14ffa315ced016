// The built llmtrace-collector executable: --version, --help, bad flags, port in use, unopenable database,
// and a real start, /healthz, SIGTERM -> exit 0.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "support/test_support.hpp"

extern char** environ;

using llmtrace::testing::free_port;
using llmtrace::testing::temp_dir;
using llmtrace::testing::wait_until;

namespace {

struct child {
  pid_t pid = -1;
  std::string out_path;

  // Exit code, or -1 if it did not exit within the timeout (then it is killed).
  int wait_exit(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
    int status = 0;
    bool exited = wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, timeout);
    if (!exited) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  std::string output() const {
    std::ifstream in(out_path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
};

child spawn(const temp_dir& dir, std::vector<std::string> args) {
  static int n = 0;
  child c;
  c.out_path = dir.file("out" + std::to_string(n++) + ".txt");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, c.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  args.insert(args.begin(), LLMTRACE_COLLECTOR_BIN);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int rc = posix_spawn(&c.pid, LLMTRACE_COLLECTOR_BIN, &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  REQUIRE(rc == 0);
  return c;
}

}  // namespace

TEST_CASE("binary: --version and --help exit 0") {
  temp_dir dir;
  auto v = spawn(dir, {"--version"});
  CHECK(v.wait_exit() == 0);
  CHECK(v.output().find(LLMTRACE_VERSION) != std::string::npos);
  auto h = spawn(dir, {"--help"});
  CHECK(h.wait_exit() == 0);
  auto text = h.output();
  for (auto flag : {"--host", "--port", "--db", "--api-key", "--upstream", "--version"})
    CHECK_MESSAGE(text.find(flag) != std::string::npos, flag);
}

TEST_CASE("binary: a bad flag or value exits non-zero with a message") {
  temp_dir dir;
  auto a = spawn(dir, {"--no-such-flag"});
  CHECK(a.wait_exit() > 0);
  CHECK(a.output().find("no-such-flag") != std::string::npos);
  auto b = spawn(dir, {"--port", "notaport"});
  CHECK(b.wait_exit() > 0);
  CHECK_FALSE(b.output().empty());
}

TEST_CASE("binary: port in use and unopenable database exit non-zero") {
  temp_dir dir;
  httplib::Server blocker;
  int port = blocker.bind_to_any_port("127.0.0.1");
  REQUIRE(port > 0);
  auto busy = spawn(dir, {"--port", std::to_string(port), "--db", dir.file("a.db")});
  int busy_code = busy.wait_exit();
  CHECK(busy_code > 0);  // -1 would mean it kept running (e.g. shared the port through SO_REUSEPORT)
  CHECK(busy.output().find(std::to_string(port)) != std::string::npos);

  auto bad_db = spawn(dir, {"--port", "0", "--db", dir.file("missing-dir/sub/x.db")});
  CHECK(bad_db.wait_exit() > 0);
  CHECK_FALSE(bad_db.output().empty());
}

TEST_CASE("binary: starts, serves /healthz, exits 0 on SIGTERM") {
  temp_dir dir;
  int port = free_port();
  auto c = spawn(dir, {"--port", std::to_string(port), "--db", dir.file("t.db")});
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(0, 200000);
  bool up = wait_until([&] {
    auto r = cli.Get("/healthz");
    return r && r->status == 200;
  });
  INFO(c.output());
  REQUIRE(up);
  auto r = cli.Post("/api/trace", R"({"session_id":"bin"})", "application/json");
  REQUIRE(r);
  CHECK(r->status == 201);
  ::kill(c.pid, SIGTERM);
  CHECK(c.wait_exit() == 0);
  CHECK(c.output().find("listening on http://127.0.0.1:" + std::to_string(port)) != std::string::npos);
}

TEST_CASE(
    "binary: a price file that does not parse or has a negative price stops the start, naming line and "
    "field") {
  temp_dir dir;
  const std::string bad_json = dir.file("bad.json");
  const std::string negative = dir.file("negative.json");
  {
    std::ofstream(bad_json) << "{\n  \"models\": {\n    \"m\": {\"input\": 1 \"output\": 2}\n  }\n}\n";
    std::ofstream(negative) << "{\n  \"models\": {\n    \"m\": {\"input\": 1, \"output\": -3}\n  }\n}\n";
  }
  auto a = spawn(dir, {"--port", "0", "--db", dir.file("a.db"), "--prices", bad_json});
  CHECK(a.wait_exit() > 0);
  CHECK(a.output().find("line 3") != std::string::npos);
  CHECK(a.output().find("bad.json") != std::string::npos);
  auto b = spawn(dir, {"--port", "0", "--db", dir.file("b.db"), "--prices", negative});
  CHECK(b.wait_exit() > 0);
  CHECK(b.output().find("line 3") != std::string::npos);
  CHECK(b.output().find("models.m.output") != std::string::npos);
  auto missing = spawn(dir, {"--port", "0", "--db", dir.file("c.db"), "--prices", dir.file("none.json")});
  CHECK(missing.wait_exit() > 0);
  CHECK(missing.output().find("none.json") != std::string::npos);
}
