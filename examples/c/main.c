/* examples/c: a console visitor. Inits, starts a session with a random key, prints the key for
 * the visitor to read to the agent, prints every event with its properties, and ends on Enter
 * or Ctrl-C.
 *
 *   glance_example_c SERVICE_URL [CA_CERT_PEM] [GROUP_ID]
 *
 * (Set GLANCE_SYNTHETIC_DISPLAY=1280x800 to share a synthetic desktop on a machine without a
 * screen.) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "glance.h"

static volatile sig_atomic_t stop = 0;
static volatile sig_atomic_t ended = 0;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static void on_event(const GlanceEvent *e, void *user_data) {
  (void)user_data;
  GlanceEventCode code = glance_event_code(e);
  printf("[%s] %s\n", glance_event_code_name(code), glance_event_message(e));
  for (size_t i = 0; i < glance_event_property_count(e); i++) {
    const char *name = glance_event_property_name(e, i);
    printf("    %s = %s\n", name, glance_event_property(e, name));
  }
  if (code == EventConnectedToSession)
    printf("\n    >>> Read this key to the agent: %s <<<\n\n", glance_event_property(e, "sessionkey"));
  if (code == EventSessionEnded) ended = 1;
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s SERVICE_URL [CA_CERT_PEM] [GROUP_ID]\n", argv[0]);
    return 2;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  printf("libglance %s\n", glance_version());
  GlanceVisitor *v = glance_visitor_new(on_event, NULL);
  if (!v) return 1;
  GlanceVisitorConfig cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.group_id = argc > 3 ? atoi(argv[3]) : 1;
  cfg.name = "Example Visitor";
  cfg.service_url = argv[1];
  cfg.ca_cert_path = argc > 2 ? argv[2] : NULL;
  if (glance_visitor_init(v, &cfg) != GLANCE_OK ||
      glance_visitor_start_session_key(v, GLANCE_KEYTYPE_RANDOM) != GLANCE_OK) {
    glance_visitor_free(v);
    return 1;
  }
  printf("Press Enter or Ctrl-C to end the session.\n");
  /* Wait for Enter, a signal, or the session ending by itself. */
  while (!stop && !ended) {
    fd_set fds;
    FD_ZERO(&fds);
    FD_SET(0, &fds);
    struct timeval tv = {0, 200000};
    int r = select(1, &fds, NULL, NULL, &tv);
    if (r > 0) {
      char buf[256];
      if (!fgets(buf, sizeof buf, stdin) || buf[0] == '\n') break;
    }
  }
  if (!ended) glance_visitor_end_session(v);
  glance_visitor_free(v); /* delivers EventSessionEnded, then returns */
  return 0;
}
