// reliability_tests main. Tests in the doctest suite "known_bugs" document a bug that is not fixed yet: they
// fail on it, so they stay out of the default run (and out of CTest discovery) unless
// LLMTRACE_KNOWN_BUGS=1 is set. docs/RELIABILITY.md lists them.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  doctest::Context context;
  const char* known = std::getenv("LLMTRACE_KNOWN_BUGS");
  if (!known || std::strcmp(known, "1") != 0) context.addFilter("test-suite-exclude", "known_bugs");
  context.applyCommandLine(argc, argv);
  return context.run();
}
