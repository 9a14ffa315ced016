/* C-callable wrappers around the SDK suite's fake servers, so the C API test itself stays real C.
 * Each handle owns a server thread on a free loopback port; *_stop joins and frees it. */
#ifndef LLMTRACE_TEST_FAKE_SERVER_H
#define LLMTRACE_TEST_FAKE_SERVER_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef struct fake_server fake_server;
/* A collector that accepts every record; endpoint written into buf. */
fake_server* fake_collector_start(char* endpoint, size_t len);
/* A listener that accepts connections and never answers. */
fake_server* fake_hang_start(char* endpoint, size_t len);
size_t fake_records(fake_server* s);
size_t fake_duplicates(fake_server* s);
/* 1 when every received record has a 36-char "id" and the field `key` equals `value` in at least one. */
int fake_all_have_ids(fake_server* s);
int fake_has_record_with(fake_server* s, const char* key, const char* value);
void fake_stop(fake_server* s);
#ifdef __cplusplus
}
#endif
#endif
