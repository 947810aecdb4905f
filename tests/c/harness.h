/* harness.h: shared by the C and C++ test programs. Starts glance-server by its ready line,
 * records SDK events in a thread-safe queue, and counts checks. Header-only, C11 / C++17. */
#ifndef GLANCE_TEST_HARNESS_H
#define GLANCE_TEST_HARNESS_H

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "glance.h"

#define H_UNUSED __attribute__((unused))

static int h_passed = 0, h_failed = 0;

#define CHECK(cond, ...)                                                   \
  do {                                                                     \
    if (cond) {                                                            \
      h_passed++;                                                          \
    } else {                                                               \
      h_failed++;                                                          \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);      \
      fprintf(stderr, __VA_ARGS__);                                        \
      fprintf(stderr, "\n");                                               \
    }                                                                      \
  } while (0)

/* ---- the server ---- */
typedef struct Server {
  pid_t pid;
  char session_url[256];
  char ca_cert[1024];
  int group_id;
  char state_dir[256];
} Server;

/* Copies the string value of "key" from a flat JSON object into out. */
H_UNUSED static int h_json_str(const char *json, const char *key, char *out, size_t cap) {
  char pat[128];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(json, pat);
  if (!p) return 0;
  p += strlen(pat);
  while (*p == ' ') p++;
  if (*p == '"') {
    p++;
    size_t n = 0;
    while (*p && *p != '"' && n + 1 < cap) out[n++] = *p++;
    out[n] = 0;
  } else {
    size_t n = 0;
    while (*p && *p != ',' && *p != '}' && n + 1 < cap) out[n++] = *p++;
    out[n] = 0;
  }
  return 1;
}

/* Starts `path --listen 127.0.0.1:0 --state-dir TMP [extra...]` and reads its ready line. */
H_UNUSED static int h_server_start(Server *s, const char *path, const char *config_text) {
  memset(s, 0, sizeof *s);
  snprintf(s->state_dir, sizeof s->state_dir, "/tmp/glance-ctest-XXXXXX");
  if (!mkdtemp(s->state_dir)) return 0;
  char config_path[512] = "";
  if (config_text) {
    snprintf(config_path, sizeof config_path, "%s/groups.toml", s->state_dir);
    FILE *f = fopen(config_path, "w");
    if (!f) return 0;
    fputs(config_text, f);
    fclose(f);
  }
  int fds[2];
  if (pipe(fds) != 0) return 0;
  pid_t pid = fork();
  if (pid < 0) return 0;
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    if (config_text)
      execl(path, path, "--listen", "127.0.0.1:0", "--state-dir", s->state_dir, "--config",
            config_path, (char *)NULL);
    else
      execl(path, path, "--listen", "127.0.0.1:0", "--state-dir", s->state_dir, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  s->pid = pid;
  FILE *r = fdopen(fds[0], "r");
  static char line[8192];
  if (!r || !fgets(line, sizeof line, r)) return 0;
  /* Keep the pipe open (the server may print more); it closes when we exit. */
  char group[32] = "";
  if (!h_json_str(line, "session_url", s->session_url, sizeof s->session_url)) return 0;
  if (!h_json_str(line, "ca_cert", s->ca_cert, sizeof s->ca_cert)) return 0;
  if (!h_json_str(line, "group_id", group, sizeof group)) return 0;
  s->group_id = atoi(group);
  return 1;
}

H_UNUSED static void h_server_stop(Server *s) {
  if (s->pid > 0) {
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
  }
}

/* ---- the event queue ---- */
#define H_MAX_EVENTS 512
typedef struct Ev {
  int code;
  int type;
  char message[512];
  char sessionkey[128];
  char reason[128];
  char error[128];
  char count[32];
} Ev;

typedef struct Events {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  Ev items[H_MAX_EVENTS];
  int head, tail;
} Events;

H_UNUSED static void h_events_init(Events *q) {
  memset(q, 0, sizeof *q);
  pthread_mutex_init(&q->mu, NULL);
  pthread_cond_init(&q->cv, NULL);
}

H_UNUSED static void h_copy_prop(const GlanceEvent *e, const char *name, char *out, size_t cap) {
  const char *v = glance_event_property(e, name);
  snprintf(out, cap, "%s", v ? v : "");
}

/* The callback: copy what the tests look at, then signal. */
H_UNUSED static void h_on_event(const GlanceEvent *e, void *user_data) {
  Events *q = (Events *)user_data;
  Ev ev;
  memset(&ev, 0, sizeof ev);
  ev.code = (int)glance_event_code(e);
  ev.type = (int)glance_event_type(e);
  snprintf(ev.message, sizeof ev.message, "%s", glance_event_message(e));
  h_copy_prop(e, "sessionkey", ev.sessionkey, sizeof ev.sessionkey);
  h_copy_prop(e, "reason", ev.reason, sizeof ev.reason);
  h_copy_prop(e, "error", ev.error, sizeof ev.error);
  h_copy_prop(e, "count", ev.count, sizeof ev.count);
  pthread_mutex_lock(&q->mu);
  if (q->tail - q->head < H_MAX_EVENTS) q->items[q->tail++ % H_MAX_EVENTS] = ev;
  pthread_cond_broadcast(&q->cv);
  pthread_mutex_unlock(&q->mu);
}

/* Waits up to `secs` for the next event whose code is `code`, skipping others (printed).
 * Returns 1 and fills *out when found. */
H_UNUSED static int h_wait(Events *q, int code, int secs, Ev *out) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += secs;
  pthread_mutex_lock(&q->mu);
  for (;;) {
    while (q->head < q->tail) {
      Ev ev = q->items[q->head++ % H_MAX_EVENTS];
      if (ev.code == code) {
        pthread_mutex_unlock(&q->mu);
        if (out) *out = ev;
        return 1;
      }
      fprintf(stderr, "  (skipped %s: %s)\n", glance_event_code_name(ev.code), ev.message);
    }
    if (pthread_cond_timedwait(&q->cv, &q->mu, &deadline) != 0) break;
  }
  pthread_mutex_unlock(&q->mu);
  fprintf(stderr, "  timed out waiting for %s\n", glance_event_code_name(code));
  return 0;
}

H_UNUSED static int h_report(const char *name) {
  printf("%s: %d passed, %d failed\n", name, h_passed, h_failed);
  return h_failed == 0 ? 0 : 1;
}

#endif
