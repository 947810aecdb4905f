/* app_window: an application over libglance with a window of its own (Xlib), for the test of
 * the default display (issue 13): it shares with no display name, which is this application,
 * so agents must see its window exactly and nothing of any other client.
 *
 * Usage: app_window GROUP_ID SESSION_URL CA_CERT_PATH   (DISPLAY names the X server)
 * The window is 300x200 at (60,60), green (#00C000) with a blue (#0000E0) 100x60 child at
 * (40,30), and carries _NET_WM_PID as toolkits set it. Prints "WINDOW <id>", then
 * "KEY <key>" once connected. Commands on stdin, one per line, each answered "OK <cmd>":
 *   move X Y    XMoveWindow
 *   raise       XRaiseWindow
 *   lower       XLowerWindow
 *   quit        end the session, free the visitor, exit 0 */
#include "glance.h"

#include <X11/Xatom.h>
#include <X11/Xlib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int g_initialized, g_connected, g_failed, g_ended;
static char g_key[128];

static void on_event(const GlanceEvent *e, void *user) {
  (void)user;
  int code = (int)glance_event_code(e);
  pthread_mutex_lock(&lock);
  fprintf(stderr, "app_window: event %s: %s\n", glance_event_code_name(code), glance_event_message(e));
  if (code == EventVisitorInitialized) g_initialized = 1;
  if (code == EventConnectedToSession) {
    const char *k = glance_event_property(e, "sessionkey");
    snprintf(g_key, sizeof g_key, "%s", k ? k : "");
    g_connected = 1;
  }
  if (code == EventStartSessionFailed) g_failed = 1;
  if (code == EventSessionEnded) g_ended = 1;
  pthread_cond_broadcast(&cond);
  pthread_mutex_unlock(&lock);
}

/* Waits (at most `secs`) until *flag or *also is set. */
static int wait_for(int *flag, int *also, int secs) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += secs;
  pthread_mutex_lock(&lock);
  while (!*flag && !(also && *also)) {
    if (pthread_cond_timedwait(&cond, &lock, &until) != 0) break;
  }
  int ok = *flag;
  pthread_mutex_unlock(&lock);
  return ok;
}

static Window make_window(Display *d) {
  int s = DefaultScreen(d);
  Window root = RootWindow(d, s);
  XSetWindowAttributes a;
  memset(&a, 0, sizeof a);
  a.background_pixel = 0x00C000;
  Window w = XCreateWindow(d, root, 60, 60, 300, 200, 0, CopyFromParent, InputOutput,
                           CopyFromParent, CWBackPixel, &a);
  a.background_pixel = 0x0000E0;
  Window child = XCreateWindow(d, w, 40, 30, 100, 60, 0, CopyFromParent, InputOutput,
                               CopyFromParent, CWBackPixel, &a);
  Atom pid_atom = XInternAtom(d, "_NET_WM_PID", False);
  unsigned long pid = (unsigned long)getpid();
  XChangeProperty(d, w, pid_atom, XA_CARDINAL, 32, PropModeReplace, (unsigned char *)&pid, 1);
  XStoreName(d, w, "app_window");
  XMapWindow(d, child);
  XMapWindow(d, w);
  XSync(d, False);
  return w;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: app_window GROUP_ID SESSION_URL CA_CERT_PATH\n");
    return 2;
  }
  Display *d = XOpenDisplay(NULL);
  if (!d) {
    fprintf(stderr, "app_window: cannot open the X display\n");
    return 1;
  }
  Window w = make_window(d);
  printf("WINDOW %lu\n", (unsigned long)w);
  fflush(stdout);

  GlanceVisitor *v = glance_visitor_new(on_event, NULL);
  if (!v) return 1;
  GlanceVisitorConfig c;
  memset(&c, 0, sizeof c);
  c.group_id = atoi(argv[1]);
  c.name = "app_window";
  c.service_url = argv[2];
  c.ca_cert_path = argv[3];
  if (glance_visitor_init(v, &c) != GLANCE_OK || !wait_for(&g_initialized, NULL, 10)) {
    fprintf(stderr, "app_window: init failed\n");
    return 1;
  }
  /* No display name: the default display, this application. */
  if (glance_visitor_start_session_key(v, GLANCE_KEYTYPE_RANDOM) != GLANCE_OK ||
      !wait_for(&g_connected, &g_failed, 30)) {
    fprintf(stderr, "app_window: the session did not start\n");
    return 1;
  }
  printf("KEY %s\n", g_key);
  fflush(stdout);

  char line[256];
  while (fgets(line, sizeof line, stdin)) {
    int x, y;
    if (sscanf(line, "move %d %d", &x, &y) == 2) {
      XMoveWindow(d, w, x, y);
    } else if (strncmp(line, "raise", 5) == 0) {
      XRaiseWindow(d, w);
    } else if (strncmp(line, "lower", 5) == 0) {
      XLowerWindow(d, w);
    } else if (strncmp(line, "quit", 4) == 0) {
      break;
    } else {
      fprintf(stderr, "app_window: unknown command %s", line);
      continue;
    }
    XSync(d, False);
    line[strcspn(line, "\n")] = 0;
    printf("OK %s\n", line);
    fflush(stdout);
  }
  glance_visitor_end_session(v);
  wait_for(&g_ended, NULL, 10);
  glance_visitor_free(v);
  XCloseDisplay(d);
  printf("QUIT\n");
  fflush(stdout);
  return 0;
}
