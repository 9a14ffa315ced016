/* C example: create a client, send the pending and final reports of one call (same id), shut down.
 * Usage: llmtrace-example-c [session-id]   (LLMTRACE_ENDPOINT selects the collector) */
#include <stdio.h>
#include <string.h>

#include "llmtrace.h"

int main(int argc, char** argv) {
  const char* session = argc > 1 ? argv[1] : "c-example";
  lt_client* client = NULL;
  char id[37];
  char json[1024];
  lt_client_stats stats;
  lt_status rc;

  rc = lt_client_new(&client, NULL); /* defaults + LLMTRACE_ENDPOINT / LLMTRACE_API_KEY */
  if (rc != LT_OK) {
    fprintf(stderr, "lt_client_new: %s\n", lt_last_error());
    return 1;
  }
  lt_new_id(id, sizeof(id));
  snprintf(
      json, sizeof(json),
      "{\"id\":\"%s\",\"session_id\":\"%s\",\"turn_number\":1,\"status\":\"pending\","
      "\"request\":{\"model\":\"c-model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi from C\"}]}}",
      id, session);
  rc = lt_trace_json(client, json, strlen(json)); /* LT_OK, or why not: see lt_last_error() */
  if (rc != LT_OK) fprintf(stderr, "lt_trace_json: %d %s\n", rc, lt_last_error());
  snprintf(
      json, sizeof(json),
      "{\"id\":\"%s\",\"session_id\":\"%s\",\"turn_number\":1,\"status\":\"success\",\"latency_ms\":12.5,"
      "\"request\":{\"model\":\"c-model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi from C\"}]},"
      "\"response\":{\"model\":\"c-model\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
      "\"content\":\"hello\"}}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}}",
      id, session);
  rc = lt_trace_json(client, json, strlen(json));
  if (rc != LT_OK) fprintf(stderr, "lt_trace_json: %d %s\n", rc, lt_last_error());

  rc = lt_shutdown(client, 5000);
  if (rc != LT_OK) fprintf(stderr, "lt_shutdown: %d %s\n", rc, lt_last_error());
  /* Output parameter first. invalid: records the flusher found not to be valid JSON (never sent). */
  if (lt_stats(&stats, client) == LT_OK && (stats.failed || stats.dropped))
    fprintf(stderr, "failed %llu (invalid %llu), dropped %llu\n", (unsigned long long)stats.failed,
            (unsigned long long)stats.invalid, (unsigned long long)stats.dropped);
  lt_client_free(client);
  printf("%s\n", id);
  return rc == LT_OK ? 0 : 1;
}
