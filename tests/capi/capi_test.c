/* The C API exercised from real C: option versioning, argument checks, id insertion, flush, stats,
 * a bounded shutdown against a server that never answers, disabled and stopped clients, lt_last_error on
 * every failure, and invalid records dropped on the flusher and counted (never sent). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "fake_server.h"
#include "llmtrace.h"

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
  /* protocol (options version 2): native by default, OTLP JSON or nothing else. */
  lt_options_init(&o);
  CHECK(o.protocol == LT_PROTOCOL_NATIVE);
  o.protocol = 7;
  CHECK(lt_client_new(&c, &o) == LT_EINVAL);
  CHECK(c == NULL);
  o.protocol = LT_PROTOCOL_OTLP_JSON;
  o.disabled = 1;
  CHECK(lt_client_new(&c, &o) == LT_OK);
  lt_client_free(c);
  c = NULL;
  /* A version 1 caller (no protocol field) is still accepted. */
  lt_options_init(&o);
  o.version = 1;
  o.disabled = 1;
  CHECK(lt_client_new(&c, &o) == LT_OK);
  lt_client_free(c);
  c = NULL;
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

static int is_lower_hex(const char* s, size_t n) {
  size_t i;
  if (strlen(s) != n) return 0;
  for (i = 0; i < n; ++i)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

/* A span tree from C: agent -> llm -> tool, ids in OTel text form, links and kinds on the wire. */
static void test_spans(void) {
  char ep[128];
  char agent_id[17], trace_id[33], llm_id[17];
  fake_server* fs = fake_collector_start(ep, sizeof(ep));
  lt_options o;
  lt_client* c = NULL;
  lt_span *agent = NULL, *llm = NULL, *tool = NULL, *lost = NULL, *other = NULL;
  lt_options_init(&o);
  o.endpoint = ep;
  o.flush_interval_ms = 20;
  CHECK(lt_client_new(&c, &o) == LT_OK);
  CHECK(lt_span_start(NULL, c, NULL, "x", LT_KIND_LLM, NULL, 0) == LT_EINVAL);
  CHECK(lt_span_start(&agent, NULL, NULL, "x", LT_KIND_LLM, NULL, 0) == LT_EINVAL);
  CHECK(lt_span_start(&agent, c, NULL, "x", (lt_kind)42, NULL, 0) == LT_EINVAL);
  CHECK(agent == NULL);
  CHECK(strlen(lt_last_error()) > 0);
  CHECK(lt_span_end(NULL, NULL, NULL, NULL) == LT_EINVAL);
  CHECK(lt_span_start(&agent, c, NULL, "c-plan", LT_KIND_AGENT, "c-span-sess", 3) == LT_OK);
  CHECK(is_lower_hex(lt_span_id(agent), 16));
  CHECK(is_lower_hex(lt_span_trace_id(agent), 32));
  CHECK(strcmp(lt_span_parent_id(agent), "") == 0);
  CHECK(strcmp(lt_span_session_id(agent), "c-span-sess") == 0);
  strcpy(agent_id, lt_span_id(agent));
  strcpy(trace_id, lt_span_trace_id(agent));
  CHECK(lt_span_start(&llm, c, agent, "c-chat", LT_KIND_LLM, "ignored", 9) == LT_OK);
  CHECK(strcmp(lt_span_parent_id(llm), agent_id) == 0);
  CHECK(strcmp(lt_span_trace_id(llm), trace_id) == 0);
  CHECK(strcmp(lt_span_session_id(llm), "c-span-sess") == 0);
  strcpy(llm_id, lt_span_id(llm));
  lt_span_free(agent); /* a parent may go first: the children copied what they need; sent as not ended */
  CHECK(lt_span_start(&tool, c, llm, "c-search", LT_KIND_TOOL, NULL, 0) == LT_OK);
  CHECK(lt_span_end(tool, "{\"q\":\"x\"}", "{\"hits\":[]}", NULL) == LT_OK);
  CHECK(lt_span_end(tool, NULL, NULL, NULL) == LT_OK); /* second end: nothing sent */
  lt_span_free(tool);
  CHECK(lt_span_fail(llm, "rate limited", "{\"model\":\"m\"}", NULL) == LT_OK);
  lt_span_free(llm);
  CHECK(lt_span_start(&lost, c, NULL, "c-lost", LT_KIND_CHAIN, NULL, 0) == LT_OK);
  CHECK(strlen(lt_span_session_id(lost)) == 36); /* generated */
  lt_span_free(lost);
  lt_span_free(NULL);
  CHECK(lt_flush(c, 5000) == LT_OK);
  CHECK(fake_records(fs) == 4);
  CHECK(fake_duplicates(fs) == 0);
  CHECK(fake_has_record_with(fs, "id", agent_id));
  CHECK(fake_has_record_with(fs, "parent_id", agent_id));
  CHECK(fake_has_record_with(fs, "parent_id", llm_id));
  CHECK(fake_has_record_with(fs, "trace_id", trace_id));
  CHECK(fake_has_record_with(fs, "kind", "agent"));
  CHECK(fake_has_record_with(fs, "kind", "tool"));
  CHECK(fake_has_record_with(fs, "kind", "chain"));
  CHECK(fake_has_record_with(fs, "name", "c-search"));
  CHECK(fake_has_record_with(fs, "error_message", "span not ended"));
  CHECK(fake_has_record_with(fs, "error_message", "rate limited"));
  CHECK(lt_shutdown(c, 2000) == LT_OK);
  CHECK(lt_span_start(&other, c, NULL, "late", LT_KIND_LLM, NULL, 0) == LT_OK); /* ids still made */
  CHECK(lt_span_end(other, NULL, NULL, NULL) == LT_ESTOPPED);
  lt_span_free(other);
  lt_client_free(c);
  fake_stop(fs);
}

int main(void) {
  test_options_and_errors();
  test_trace_flush_stats();
  test_shutdown_deadline();
  test_zero_initialised_options();
  test_disabled();
  test_spans();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
