/* windows_share.c: a minimal visitor that shares this machine's real screen through the C ABI
 * (built with MinGW against glance.dll and run under Wine by scripts/cross-windows.sh, but
 * plain C11 that builds anywhere). It lists the displays (GetDisplayCount, GetMainMonitor,
 * GetDisplayName, GetDisplayType) as "MAIN <index>" and "DISPLAY <index> <type> <name>" lines,
 * starts a session on the main monitor ("SHARING <key>"), shares, ends it, and prints
 * "SHARE OK key=<key>" and exits 0 on success.
 * SECONDS: share that long. "-": take commands from stdin instead, one a line, each answered
 * by a line "DONE <command> rc=<GlanceResult> shown=<display name in GetSessionInfo>":
 *   show NAME   ShowDisplay(NAME) ("main" for the primary monitor)
 *   rc on|off   EnableRC
 *   end         EndSession (also at the end of stdin)
 * Every event is printed as "event <name>: <message>".
 * Usage: windows_share GROUP_ID SESSION_URL CA_CERT_PATH SECONDS|- */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <windows.h>
static void sleep_ms(unsigned ms) { Sleep(ms); }
#else
#include <time.h>
static void sleep_ms(unsigned ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}
#endif

#include "glance.h"

static volatile int g_initialized, g_connected, g_failed, g_ended;
static char g_key[128];

static void on_event(const GlanceEvent *e, void *user) {
  (void)user;
  int code = (int)glance_event_code(e);
  const char *name = glance_event_code_name(code);
  const char *msg = glance_event_message(e);
  printf("event %s: %s\n", name, msg ? msg : "");
  fflush(stdout);
  if (code == EventVisitorInitialized) g_initialized = 1;
  if (code == EventConnectedToSession) {
    const char *k = glance_event_property(e, "sessionkey");
    snprintf(g_key, sizeof g_key, "%s", k ? k : "");
    g_connected = 1;
  }
  if (code == EventStartSessionFailed) g_failed = 1;
  if (code == EventSessionEnded) g_ended = 1;
}

static int wait_for(volatile int *flag, int seconds) {
  for (int i = 0; i < seconds * 20 && !*flag && !g_failed; i++) sleep_ms(50);
  return *flag;
}

/* The commands of the "-" mode, until "end" or the end of stdin. */
static void run_commands(GlanceVisitor *v) {
  char line[512];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\r\n")] = 0;
    GlanceResult rc = GLANCE_OK;
    if (strncmp(line, "show ", 5) == 0) {
      GlanceDisplayParams p;
      memset(&p, 0, sizeof p);
      p.display_name = line + 5;
      p.scale = 1.0f;
      rc = glance_visitor_show_display(v, &p);
      /* ShowDisplay returns at once; the session task opens the display and only then shows
       * it (GetSessionInfo names it from then on): wait for that, bounded. */
      for (int i = 0; rc == GLANCE_OK && i < 100; i++) {
        GlanceSessionInfo now;
        memset(&now, 0, sizeof now);
        glance_visitor_get_session_info(v, &now);
        if (strcmp(now.display_name, p.display_name) == 0 || strcmp(p.display_name, "main") == 0)
          break;
        sleep_ms(100);
      }
      sleep_ms(200);
    } else if (strcmp(line, "rc on") == 0 || strcmp(line, "rc off") == 0) {
      rc = glance_visitor_enable_rc(v, line[4] == 'n');
      sleep_ms(300);
    } else if (strcmp(line, "end") == 0) {
      break;
    } else if (line[0]) {
      fprintf(stderr, "unknown command %s\n", line);
      continue;
    }
    GlanceSessionInfo info;
    memset(&info, 0, sizeof info);
    glance_visitor_get_session_info(v, &info);
    printf("DONE %s rc=%d shown=%s rcon=%d\n", line, (int)rc, info.display_name,
           (int)info.rc_enabled);
    fflush(stdout);
  }
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s GROUP_ID SESSION_URL CA_CERT_PATH SECONDS|-\n", argv[0]);
    return 2;
  }
  GlanceVisitor *v = glance_visitor_new(on_event, NULL);
  if (!v) return 1;
  GlanceVisitorConfig c;
  memset(&c, 0, sizeof c);
  c.group_id = atoi(argv[1]);
  c.name = "Windows visitor";
  c.service_url = argv[2];
  c.ca_cert_path = argv[3];
  if (glance_visitor_init(v, &c) != GLANCE_OK || !wait_for(&g_initialized, 10)) {
    fprintf(stderr, "init failed\n");
    return 1;
  }
  int n = glance_visitor_get_display_count(v);
  int main_monitor = glance_visitor_get_main_monitor(v);
  printf("COUNT %d\nMAIN %d\n", n, main_monitor);
  for (int i = 0; i < n; i++) {
    char *name = glance_visitor_get_display_name(v, i);
    printf("DISPLAY %d %d %s\n", i, (int)glance_visitor_get_display_type(v, i),
           name ? name : "(null)");
    glance_string_free(name);
  }
  fflush(stdout);
  if (n < 1) {
    fprintf(stderr, "no displays\n");
    return 1;
  }
  /* "main": the monitor whole (the default display is this program's own windows only). */
  GlanceStartParams sp;
  glance_start_params_init(&sp);
  sp.display_params.display_name = "main";
  if (glance_visitor_start_session_params(v, &sp) != GLANCE_OK || !wait_for(&g_connected, 30)) {
    fprintf(stderr, "start session failed\n");
    return 1;
  }
  printf("SHARING %s\n", g_key);
  fflush(stdout);
  if (strcmp(argv[4], "-") == 0)
    run_commands(v);
  else
    sleep_ms((unsigned)atoi(argv[4]) * 1000u);
  glance_visitor_end_session(v);
  wait_for(&g_ended, 10);
  glance_visitor_free(v);
  printf("SHARE OK key=%s\n", g_key);
  return 0;
}
