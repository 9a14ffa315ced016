/* The C API exercised from real C: option versioning, argument checks, id insertion, flush, stats,
 * a bounded shutdown against a server that never answers, disabled and stopped clients, lt_last_error on
 * every failure, and invalid records dropped on the flusher and counted (never sent). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_server.h"
#include "llmtrace.h"

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

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_options_and_errors(void) {
  lt_options o;
  lt_client* c = NULL;
  char id[40];
  lt_options_init(&o);
  CHECK(o.version == LT_OPTIONS_VERSION);
  CHECK(o.max_batch_records == 512);
  CHECK(lt_client_new(NULL, &o) == LT_EINVAL);
  o.version = 999;
  CHECK(lt_client_new(&c, &o) == LT_EVERSION);
  CHECK(c == NULL);
  CHECK(strlen(lt_last_error()) > 0);
  lt_options_init(&o);
  o.endpoint = "ftp://nope";
  CHECK(lt_client_new(&c, &o) == LT_EINVAL);
  CHECK(lt_new_id(id, 10) == LT_EINVAL);
  CHECK(lt_new_id(id, sizeof(id)) == LT_OK);
  CHECK(strlen(id) == 36 && id[14] == '7');
  CHECK(strlen(lt_version()) > 0);
  lt_client_free(NULL); /* accepted */
  CHECK(lt_trace_json(NULL, "{}", 2) == LT_EINVAL);
  CHECK(lt_flush(NULL, 10) == LT_EINVAL);
}

static void test_trace_flush_stats(void) {
  char ep[128];
  fake_server* fs = fake_collector_start(ep, sizeof(ep));
  lt_options o;
  lt_client* c = NULL;
  lt_client_stats st;
  const char* with_id =
      "{\"id\":\"fixed-id-1\",\"session_id\":\"c-sess\",\"request\":{\"model\":\"m\"},\"status\":"
      "\"success\"}";
  const char* without_id =
      "  {\"session_id\":\"c-sess\",\"turn_number\":2,\"request\":{},\"status\":\"pending\"}  ";
  const char* empty = "{}";
  lt_options_init(&o);
  o.endpoint = ep;
  o.flush_interval_ms = 20;
  CHECK(lt_client_new(&c, &o) == LT_OK);
  CHECK(c != NULL);
  CHECK(lt_trace_json(c, with_id, strlen(with_id)) == LT_OK);
  CHECK(lt_trace_json(c, without_id, strlen(without_id)) == LT_OK);
  CHECK(lt_trace_json(c, empty, strlen(empty)) == LT_OK);
  CHECK(lt_trace_json(c, "[1,2]", 5) == LT_EINVAL);
  CHECK(strlen(lt_last_error()) > 0);
  CHECK(lt_trace_json(c, "{\"a\":", 5) == LT_EINVAL);
  CHECK(lt_trace_json(c, "{\"a\":1}xx", 7) == LT_OK); /* len bounds the text: "{\"a\":1}" */
  CHECK(strcmp(lt_last_error(), "") == 0);            /* a success clears it */
  /* Shaped like objects, so the calling thread queues them; the flusher's full check drops them. */
  CHECK(lt_trace_json(c, "{} {}", 5) == LT_OK);
  CHECK(lt_trace_json(c, "{\"a\":[1,}", 9) == LT_OK);
  CHECK(lt_flush(c, 5000) == LT_OK);
  CHECK(fake_records(fs) == 4);
  CHECK(fake_duplicates(fs) == 0);
  CHECK(fake_all_have_ids(fs));
  CHECK(fake_has_record_with(fs, "id", "fixed-id-1"));
  CHECK(fake_has_record_with(fs, "status", "pending"));
  CHECK(lt_stats(NULL, c) == LT_EINVAL);
  CHECK(lt_stats(&st, NULL) == LT_EINVAL);
  CHECK(lt_stats(&st, c) == LT_OK);
  CHECK(st.enqueued == 6);
  CHECK(st.sent == 4);
  CHECK(st.invalid == 2);
  CHECK(st.failed == 2);
  CHECK(st.dropped == 0);
  CHECK(st.queue_bytes == 0);
  CHECK(lt_shutdown(c, 2000) == LT_OK);
  CHECK(lt_trace_json(c, empty, 2) == LT_ESTOPPED);
  CHECK(strlen(lt_last_error()) > 0);
  lt_client_free(c);
  fake_stop(fs);
}

static void test_shutdown_deadline(void) {
  char ep[128];
  fake_server* fs = fake_hang_start(ep, sizeof(ep));
  lt_options o;
  lt_client* c = NULL;
  double t0, took;
  lt_options_init(&o);
  o.endpoint = ep;
  o.flush_interval_ms = 20;
  o.request_timeout_ms = 30000;
  CHECK(lt_client_new(&c, &o) == LT_OK);
  CHECK(lt_trace_json(c, "{}", 2) == LT_OK);
  CHECK(lt_flush(c, 200) == LT_ETIMEOUT);
  t0 = now_s();
  CHECK(lt_shutdown(c, 2000) == LT_ETIMEOUT);
  took = now_s() - t0;
  CHECK(took < 2.5);
  CHECK(strlen(lt_last_error()) > 0);
  lt_client_free(c);
  fake_stop(fs);
}

static void test_zero_initialised_options(void) {
  char ep[128];
  fake_server* fs = fake_collector_start(ep, sizeof(ep));
  lt_options o;
  lt_client* c = NULL;
  memset(&o, 0, sizeof(o));
  o.version = LT_OPTIONS_VERSION;
  o.endpoint = ep;
  CHECK(lt_client_new(&c, &o) == LT_OK);
  CHECK(lt_trace_json(c, "{\"session_id\":\"zero\"}", strlen("{\"session_id\":\"zero\"}")) == LT_OK);
  CHECK(lt_flush(c, 5000) == LT_OK);
  CHECK(fake_has_record_with(fs, "session_id", "zero"));
  lt_client_free(c);
  fake_stop(fs);
}

static void test_disabled(void) {
  lt_options o;
  lt_client* c = NULL;
  lt_options_init(&o);
  o.disabled = 1;
  CHECK(lt_client_new(&c, &o) == LT_OK);
  CHECK(lt_new_id(NULL, 0) == LT_EINVAL); /* leaves a message behind */
  CHECK(lt_new_id((char[40]){0}, 40) == LT_OK);
  CHECK(strcmp(lt_last_error(), "") == 0);
  CHECK(lt_trace_json(c, "{}", 2) == LT_EDISABLED);
  CHECK(strstr(lt_last_error(), "disabled") != NULL); /* every failure sets the message */
  CHECK(lt_flush(c, 10) == LT_EDISABLED);
  CHECK(strstr(lt_last_error(), "disabled") != NULL);
  lt_client_free(c);
}

int main(void) {
  test_options_and_errors();
  test_trace_flush_stats();
  test_shutdown_deadline();
  test_zero_initialised_options();
  test_disabled();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
