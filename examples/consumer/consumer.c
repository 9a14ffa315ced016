/* A C program outside the llmtrace tree that links the C API (llmtrace::llmtrace_c, pkg-config llmtrace-c).
 * Usage: consumer-c [session-id]   (LLMTRACE_ENDPOINT selects the collector) */
#include <stdio.h>
#include <string.h>

#include <llmtrace.h>

int main(int argc, char** argv) {
  const char* session = argc > 1 ? argv[1] : "consumer-c";
  lt_client* client = NULL;
  char json[512];
  int rc = lt_client_new(&client, NULL); /* defaults + LLMTRACE_ENDPOINT / LLMTRACE_API_KEY */
  if (rc != LT_OK) {
    fprintf(stderr, "lt_client_new: %s\n", lt_last_error());
    return 1;
  }
  snprintf(json, sizeof(json),
           "{\"session_id\":\"%s\",\"status\":\"success\","
           "\"request\":{\"model\":\"consumer-model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi from "
           "C\"}]},"
           "\"response\":{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"hello\"}}]}}",
           session);
  rc = lt_trace_json(client, json, strlen(json));
  if (rc != LT_OK) fprintf(stderr, "lt_trace_json: %d %s\n", rc, lt_last_error());
  rc = lt_shutdown(client, 5000);
  if (rc != LT_OK) fprintf(stderr, "lt_shutdown: %d %s\n", rc, lt_last_error());
  lt_client_free(client);
  printf("shutdown: %d\n", rc);
  return rc == LT_OK ? 0 : 1;
}
