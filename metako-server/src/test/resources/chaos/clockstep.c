/*
 * Steps the wall clock of one process, for the fault harness (ChaosIT): preloaded with LD_PRELOAD, it adds
 * the offset in milliseconds written in the file named by METAKO_CLOCK_OFFSET_FILE (re-read at most every
 * 200 ms) to CLOCK_REALTIME as clock_gettime, gettimeofday and time report it. Monotonic clocks and timed
 * waits are left alone, as on a host whose clock is stepped by NTP or an operator.
 *
 * Why not libfaketime: it also wraps pthread_cond_timedwait and the monotonic clock, and a Java 17 instance
 * under it (Debian's 0.9.10) did not even finish starting within 90 s on a 2-core machine.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int (*real_clock_gettime)(clockid_t, struct timespec *);
static const char *offset_file;
static _Atomic long long offset_ns;
static _Atomic long long read_at_ms = -1000000;

__attribute__((constructor)) static void init(void) {
    real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
    offset_file = getenv("METAKO_CLOCK_OFFSET_FILE");
}

/* open/read/close only: no malloc, so it is safe wherever the clock is read */
static void refresh(void) {
    struct timespec m;
    real_clock_gettime(CLOCK_MONOTONIC_COARSE, &m);
    long long now = (long long) m.tv_sec * 1000 + m.tv_nsec / 1000000;
    long long last = atomic_load(&read_at_ms);
    if (now - last < 200 || !atomic_compare_exchange_strong(&read_at_ms, &last, now)) {
        return;
    }
    int fd = open(offset_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    char buf[32];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n > 0) {
        buf[n] = 0;
        atomic_store(&offset_ns, strtoll(buf, NULL, 10) * 1000000LL);
    }
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    if (!real_clock_gettime) {
        real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
    }
    int r = real_clock_gettime(id, ts);
    if (r == 0 && offset_file && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
        refresh();
        long long ns = (long long) ts->tv_sec * 1000000000LL + ts->tv_nsec + atomic_load(&offset_ns);
        ts->tv_sec = ns / 1000000000LL;
        ts->tv_nsec = ns % 1000000000LL;
    }
    return r;
}

int gettimeofday(struct timeval *tv, void *tz) {
    (void) tz;
    struct timespec ts;
    int r = clock_gettime(CLOCK_REALTIME, &ts);
    if (r == 0 && tv) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return r;
}

time_t time(time_t *t) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (t) {
        *t = ts.tv_sec;
    }
    return ts.tv_sec;
}
