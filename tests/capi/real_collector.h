/* C-callable wrapper around a real collector started in-process (tests/support/test_support.hpp: all routes,
 * SQLite temp file, a free loopback port), so the C API's score test talks to the real scores API.
 * real_collector_stop stops, joins and frees it. */
#ifndef LLMTRACE_TEST_REAL_COLLECTOR_H
#define LLMTRACE_TEST_REAL_COLLECTOR_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef struct real_collector real_collector;
/* api_key NULL or "": no auth. The base URL is written into endpoint. NULL on failure. */
real_collector* real_collector_start(char* endpoint, size_t len, const char* api_key);
/* Number of scores GET /api/records/<id> (target "record") or /api/sessions/<id> shows; -1 on error. */
int real_collector_score_count(real_collector* rc, const char* target, const char* id);
/* 1 when that target has a score whose name, value (as JSON text: "false", "0.5", "\"label\"") and
 * comment (NULL: none) are these. */
int real_collector_has_score(real_collector* rc, const char* target, const char* id, const char* name,
                             const char* value_json, const char* comment);
void real_collector_stop(real_collector* rc);
#ifdef __cplusplus
}
#endif
#endif
