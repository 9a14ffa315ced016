// llmtrace-collector entry point. Placeholder until the collector core lands.
#include <cstdio>

int main() {
  std::puts("llmtrace-collector " LLMTRACE_VERSION);
  return 0;
}
