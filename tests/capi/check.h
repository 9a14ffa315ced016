/* The C API tests' one assertion: counts passes and failures and names a failed condition on stderr; main()
 * exits non-zero unless something passed and nothing failed. One definition per test program. */
#ifndef LLMTRACE_TEST_CHECK_H
#define LLMTRACE_TEST_CHECK_H
#include <stdio.h>

static int passed = 0, failed = 0;
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (cond) {                                                                \
      ++passed;                                                                \
    } else {                                                                   \
      ++failed;                                                                \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

#endif
