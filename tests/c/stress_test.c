/* stress_test.c: 8 threads call the API at once for a bounded time (start, pause, info, end,
 * free and re-create, on a shared pool of handles) against a real glance-server. Passes when
 * nothing crashes or deadlocks (a watchdog aborts after the bound) and every call returns a
 * defined GlanceResult. Usage: stress_test PATH/TO/glance-server [SECONDS] */
#include "harness.h"

#include <stdatomic.h>

#define THREADS 8
#define POOL 3

static Server srv;
static _Atomic(GlanceVisitor *) pool[POOL];
static atomic_int calls, bad_results, stop_flag;
static atomic_long events_seen;

static void count_event(const GlanceEvent *e, void *u) {
  (void)u;
  (void)glance_event_code(e);
  atomic_fetch_add(&events_seen, 1);
}

static GlanceVisitor *make(void) {
  GlanceVisitor *v = glance_visitor_new(count_event, NULL);
  GlanceVisitorConfig c;
  memset(&c, 0, sizeof c);
  c.group_id = srv.group_id;
  c.service_url = srv.session_url;
  c.ca_cert_path = srv.ca_cert;
  glance_visitor_init(v, &c);
  return v;
}

static int defined(GlanceResult r) { return r <= 0 && r >= GLANCE_ERROR_INTERNAL; }

static void *worker(void *arg) {
  unsigned seed = (unsigned)(size_t)arg * 7919u + 1;
  while (!atomic_load(&stop_flag)) {
    int i = rand_r(&seed) % POOL;
    GlanceVisitor *v = atomic_load(&pool[i]);
    GlanceResult r = GLANCE_OK;
    GlanceSessionInfo info;
    switch (rand_r(&seed) % 8) {
      case 0: r = glance_visitor_start_session_key(v, GLANCE_KEYTYPE_RANDOM); break;
      case 1: r = glance_visitor_pause(v, rand_r(&seed) % 2); break;
      case 2: r = glance_visitor_get_session_info(v, &info); break;
      case 3: r = glance_visitor_end_session(v); break;
      case 4: r = glance_visitor_start_session(v); break;
      case 5: {
        /* free and replace: other threads may still hold the old pointer */
        GlanceVisitor *fresh = make();
        GlanceVisitor *old = atomic_exchange(&pool[i], fresh);
        glance_visitor_free(old);
        break;
      }
      case 6: {
        char *n = glance_visitor_get_display_name(v, 0);
        glance_string_free(n);
        r = (GlanceResult)(glance_visitor_get_display_count(v) >= 0 ? 0 : glance_visitor_get_display_count(v));
        break;
      }
      default: usleep(1000 * (rand_r(&seed) % 20)); break;
    }
    atomic_fetch_add(&calls, 1);
    if (!defined(r)) atomic_fetch_add(&bad_results, 1);
  }
  return NULL;
}

static void *watchdog(void *arg) {
  int secs = *(int *)arg;
  sleep((unsigned)secs);
  fprintf(stderr, "stress_test: deadlock suspected (still running after %d s)\n", secs);
  abort();
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int secs = argc > 2 ? atoi(argv[2]) : 8;
  setenv("GLANCE_SYNTHETIC_DISPLAY", "160x120", 1);
  if (!h_server_start(&srv, argv[1], NULL)) return 2;
  int limit = secs + 60;
  pthread_t wd;
  pthread_create(&wd, NULL, watchdog, &limit);
  pthread_detach(wd);
  for (int i = 0; i < POOL; i++) atomic_store(&pool[i], make());
  pthread_t t[THREADS];
  for (size_t i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)i);
  sleep((unsigned)secs);
  atomic_store(&stop_flag, 1);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < POOL; i++) glance_visitor_free(atomic_load(&pool[i]));
  CHECK(atomic_load(&calls) > 100, "calls made: %d", atomic_load(&calls));
  CHECK(atomic_load(&bad_results) == 0, "undefined results: %d", atomic_load(&bad_results));
  CHECK(atomic_load(&events_seen) > 0, "events seen");
  fprintf(stderr, "stress_test: %d calls, %ld events in %d s on %d threads\n", atomic_load(&calls),
          atomic_load(&events_seen), secs, THREADS);
  h_server_stop(&srv);
  return h_report("c_stress_test");
}
