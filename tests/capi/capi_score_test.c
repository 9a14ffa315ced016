/* lt_score_send from real C against a real collector: a thumbs-down with a comment, a number on a session and
 * a label are stored and read back; an unknown id is LT_ENOTFOUND (404); a bad value is LT_EREJECTED (400)
 * with the field in lt_last_error; the API key is sent; argument checks and a collector that is not there
 * (LT_EUNREACHABLE) fail with a message, never a crash. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "llmtrace.h"
#include "real_collector.h"

static lt_client* client_for(const char* endpoint, const char* key) {
  lt_options o;
  lt_client* c = NULL;
  lt_options_init(&o);
  o.endpoint = endpoint;
  o.api_key = key;
  o.connect_timeout_ms = 500;
  if (lt_client_new(&c, &o) != LT_OK) return NULL;
  return c;
}

/* Queues one record with a known id in session `sid` and waits until the collector has it. */
static int store_record(lt_client* c, const char* id, const char* sid) {
  char json[256];
  int n = snprintf(json, sizeof json,
                   "{\"id\":\"%s\",\"session_id\":\"%s\",\"turn_number\":1,\"request\":{\"model\":\"m\"}}",
                   id, sid);
  if (lt_trace_json(c, json, (size_t)n) != LT_OK) return 0;
  return lt_flush(c, 5000) == LT_OK;
}

static void test_stored_and_read_back(void) {
  char ep[128], rid[40];
  real_collector* rc = real_collector_start(ep, sizeof ep, NULL);
  lt_client* c;
  lt_score s;
  CHECK(rc != NULL);
  if (!rc) return;
  c = client_for(ep, NULL);
  CHECK(c != NULL);
  lt_new_id(rid, sizeof rid);
  CHECK(store_record(c, rid, "c-score"));

  lt_score_init(&s);
  CHECK(s.version == LT_SCORE_VERSION && s.target == LT_SCORE_RECORD && s.type == LT_SCORE_BOOL);
  s.target_id = rid;
  s.name = "thumbs";
  s.boolean = 0;
  s.comment = "wrong refund amount";
  CHECK(lt_score_send(c, &s) == LT_OK);
  CHECK(strcmp(lt_last_error(), "") == 0);
  CHECK(real_collector_has_score(rc, "record", rid, "thumbs", "false", "wrong refund amount"));

  lt_score_init(&s);
  s.target_id = rid;
  s.name = "verdict";
  s.type = LT_SCORE_LABEL;
  s.label = "hallucination";
  CHECK(lt_score_send(c, &s) == LT_OK);
  CHECK(real_collector_has_score(rc, "record", rid, "verdict", "\"hallucination\"", NULL));

  lt_score_init(&s);
  s.target = LT_SCORE_SESSION;
  s.target_id = "c-score";
  s.name = "quality";
  s.type = LT_SCORE_NUMBER;
  s.number = 0.5;
  CHECK(lt_score_send(c, &s) == LT_OK);
  CHECK(real_collector_has_score(rc, "session", "c-score", "quality", "0.5", NULL));
  CHECK(real_collector_score_count(rc, "record", rid) == 2);

  lt_client_free(c);
  real_collector_stop(rc);
}

static void test_errors(void) {
  char ep[128], rid[40], long_label[2048];
  real_collector* rc = real_collector_start(ep, sizeof ep, "c-key");
  lt_client *c, *nokey;
  lt_score s;
  CHECK(rc != NULL);
  if (!rc) return;
  c = client_for(ep, "c-key");
  CHECK(c != NULL);
  lt_new_id(rid, sizeof rid);
  CHECK(store_record(c, rid, "c-score-err"));

  /* Unknown id: 404 from the collector. */
  lt_score_init(&s);
  s.target_id = "no-such-record";
  s.name = "thumbs";
  CHECK(lt_score_send(c, &s) == LT_ENOTFOUND);
  CHECK(strstr(lt_last_error(), "404") != NULL);
  s.target = LT_SCORE_SESSION;
  CHECK(lt_score_send(c, &s) == LT_ENOTFOUND);

  /* A label over the collector's 1024 bytes: 400, field "value". */
  memset(long_label, 'x', sizeof long_label - 1);
  long_label[sizeof long_label - 1] = '\0';
  lt_score_init(&s);
  s.target_id = rid;
  s.name = "verdict";
  s.type = LT_SCORE_LABEL;
  s.label = long_label;
  CHECK(lt_score_send(c, &s) == LT_EREJECTED);
  CHECK(strstr(lt_last_error(), "400") != NULL);
  CHECK(strstr(lt_last_error(), "field: value") != NULL);

  /* The API key is the client's: without it, 401. */
  nokey = client_for(ep, NULL);
  lt_score_init(&s);
  s.target_id = rid;
  s.name = "thumbs";
  s.boolean = 1;
  CHECK(lt_score_send(nokey, &s) == LT_EREJECTED);
  CHECK(strstr(lt_last_error(), "401") != NULL);
  lt_client_free(nokey);

  /* Refused before sending. */
  CHECK(lt_score_send(NULL, &s) == LT_EINVAL);
  CHECK(lt_score_send(c, NULL) == LT_EINVAL);
  s.type = 9;
  CHECK(lt_score_send(c, &s) == LT_EINVAL);
  s.type = LT_SCORE_NUMBER;
  s.number = NAN;
  CHECK(lt_score_send(c, &s) == LT_EINVAL);
  CHECK(strlen(lt_last_error()) > 0);
  s.number = 1;
  s.name = "";
  CHECK(lt_score_send(c, &s) == LT_EINVAL);
  s.name = "thumbs";
  s.target_id = NULL;
  CHECK(lt_score_send(c, &s) == LT_EINVAL);
  s.target_id = rid;
  s.target = 5;
  CHECK(lt_score_send(c, &s) == LT_EINVAL);
  s.target = LT_SCORE_RECORD;
  s.version = 99;
  CHECK(lt_score_send(c, &s) == LT_EVERSION);
  CHECK(real_collector_score_count(rc, "record", rid) == 0);

  /* Shut down: nothing sent. */
  s.version = LT_SCORE_VERSION;
  CHECK(lt_shutdown(c, 2000) == LT_OK);
  CHECK(lt_score_send(c, &s) == LT_ESTOPPED);
  CHECK(real_collector_score_count(rc, "record", rid) == 0);
  lt_client_free(c);
  real_collector_stop(rc);
}

static void test_unreachable(void) {
  char ep[128];
  real_collector* rc = real_collector_start(ep, sizeof ep, NULL);
  lt_client* c;
  lt_score s;
  CHECK(rc != NULL);
  if (!rc) return;
  real_collector_stop(rc); /* its port is now closed */
  c = client_for(ep, NULL);
  lt_score_init(&s);
  s.target_id = "r1";
  s.name = "thumbs";
  CHECK(lt_score_send(c, &s) == LT_EUNREACHABLE);
  CHECK(strstr(lt_last_error(), "cannot reach") != NULL);
  lt_client_free(c);
}

int main(void) {
  test_stored_and_read_back();
  test_errors();
  test_unreachable();
  printf("capi score: %d passed, %d failed\n", passed, failed);
  return failed == 0 && passed > 0 ? 0 : 1;
}
