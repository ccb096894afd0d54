/* The phones of benchmarks/bench_media.py: many RTP streams on a few UDP sockets.
 *
 * bench_media.py compiles this with gcc at run time: in Python (the script's `--phones` mode,
 * the same protocol, for a machine without gcc) the phones fell behind their 20 ms schedule
 * already at 20,000 packets a second each way on the 2-core development machine.
 *
 * Protocol: lines on stdin, answers on stdout.
 *   sockets K           bind K UDP sockets on 127.0.0.1; answer "ports P1 ... PK"
 *   payload PT HEX      the 160-byte frame (hex) to send on payload type PT
 *   stream S DST SRC PT a stream on socket S: sends 20 ms frames of PT to 127.0.0.1:DST
 *                       (DST 0: receive only) and receives what comes from port SRC
 *   ready               answer "ok" (all streams are known)
 *   send                start sending: every sending stream every 20 ms, their phases
 *                       spread evenly over the 20 ms
 *   mark                start of the measurement window (now)
 *   stop Q              end of the window; stop sending, go on receiving until Q seconds
 *                       pass without a packet (at most Q + 2.5 s; Q = 0: not at all),
 *                       answer "result k=v ...", exit
 * End of stdin: exit at once.
 *
 * Arrival times are the kernel's receive timestamps (SO_TIMESTAMPNS), so how busy this
 * process is does not change the gaps it measures. A packet is late when it arrives more
 * than 40 ms after the one before it on its stream (two 20 ms periods). Counted over the
 * window: received, late, largest gap, and the packets the sequence numbers say were sent
 * (expected); over the whole run: sent and received.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOCKETS 64
#define MAX_STREAMS 65536
#define BATCH 64
#define FRAME 160
#define PERIOD_NS 20000000LL
#define LATE_NS 40000000LL

typedef struct {
    int sock;
    uint16_t dst;
    uint8_t pt;
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
    int started;
    /* receiving */
    int64_t last_ns;
    int seen;
    uint16_t max_seq;
    int64_t cycles;
    int in_window;
    int64_t first_ext, last_ext;
} stream_t;

static int socks[MAX_SOCKETS];
static int nsocks;
static stream_t *streams;
static int nstreams;
static int *senders;
static int nsenders;
static int32_t by_port[65536];
static uint8_t payloads[128][FRAME];

static int64_t mark_ns, stop_ns; /* CLOCK_REALTIME, like the kernel's timestamps */
static uint64_t sent, received, unknown, send_errors, send_late;
static uint64_t win_received, win_late, win_expected;
static int64_t max_gap_ns, max_send_lag_ns;

static int64_t clock_ns(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

/* stdin, line by line, without stdio's buffering (poll() must see what is unread) */
static char inbuf[1 << 20];
static size_t inlen;

static int take_line(char *out, size_t size) {
    char *nl = memchr(inbuf, '\n', inlen);
    if (!nl) return 0;
    size_t n = (size_t)(nl - inbuf);
    if (n >= size) n = size - 1;
    memcpy(out, inbuf, n);
    out[n] = 0;
    size_t used = (size_t)(nl - inbuf) + 1;
    memmove(inbuf, inbuf + used, inlen - used);
    inlen -= used;
    return 1;
}

static int fill_input(void) { /* 0 at end of input */
    if (inlen == sizeof inbuf) die("input line too long");
    ssize_t n = read(0, inbuf + inlen, sizeof inbuf - inlen);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
    if (n <= 0) return 0;
    inlen += (size_t)n;
    return 1;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return 0;
}

static void open_sockets(int k) {
    if (k < 1 || k > MAX_SOCKETS) die("sockets");
    nsocks = k;
    printf("ports");
    for (int i = 0; i < k; i++) {
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (s < 0) die("socket");
        int size = 4 << 20, on = 1;
        setsockopt(s, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        setsockopt(s, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        if (setsockopt(s, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) < 0) die("SO_TIMESTAMPNS");
        struct sockaddr_in a = {.sin_family = AF_INET};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
        socklen_t len = sizeof a;
        getsockname(s, (struct sockaddr *)&a, &len);
        socks[i] = s;
        printf(" %d", ntohs(a.sin_port));
    }
    printf("\n");
    fflush(stdout);
}

static void send_one(stream_t *st) {
    uint8_t packet[12 + FRAME];
    packet[0] = 0x80;
    packet[1] = st->pt | (st->started ? 0 : 0x80); /* the marker on the first packet */
    st->started = 1;
    packet[2] = st->seq >> 8;
    packet[3] = st->seq & 0xFF;
    uint32_t ts = htonl(st->ts), ssrc = htonl(st->ssrc);
    memcpy(packet + 4, &ts, 4);
    memcpy(packet + 8, &ssrc, 4);
    memcpy(packet + 12, payloads[st->pt], FRAME);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(st->dst)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (sendto(socks[st->sock], packet, sizeof packet, 0, (struct sockaddr *)&to, sizeof to) < 0)
        send_errors++;
    sent++;
    st->seq++;
    st->ts += FRAME;
}

static void arrived(uint16_t port, const uint8_t *data, int len, int64_t at) {
    int32_t index = by_port[port];
    if (index < 0 || len < 12) {
        unknown++;
        return;
    }
    stream_t *st = &streams[index];
    received++;
    uint16_t seq = (uint16_t)(data[2] << 8 | data[3]);
    if (!st->seen) {
        st->max_seq = seq;
        st->cycles = 0;
    } else if ((uint16_t)(seq - st->max_seq) < 0x8000) {
        if (seq < st->max_seq) st->cycles += 65536;
        st->max_seq = seq;
    }
    int64_t ext = st->cycles + (int64_t)seq;
    int windowed = mark_ns && at >= mark_ns && (!stop_ns || at < stop_ns);
    if (windowed) {
        win_received++;
        if (st->seen) {
            int64_t gap = at - st->last_ns;
            if (gap > LATE_NS) win_late++;
            if (gap > max_gap_ns) max_gap_ns = gap;
        }
        if (!st->in_window) {
            st->in_window = 1;
            st->first_ext = st->last_ext = ext;
        } else if (ext > st->last_ext) {
            st->last_ext = ext;
        }
    }
    st->seen = 1;
    st->last_ns = at;
}

static int64_t receive_all(int s) { /* returns how many packets it read */
    static uint8_t bufs[BATCH][2048];
    static char controls[BATCH][64];
    static struct sockaddr_in froms[BATCH];
    static struct iovec iovs[BATCH];
    static struct mmsghdr msgs[BATCH];
    int64_t total = 0;
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            iovs[i].iov_base = bufs[i];
            iovs[i].iov_len = sizeof bufs[i];
            msgs[i].msg_hdr = (struct msghdr){
                .msg_name = &froms[i], .msg_namelen = sizeof froms[i], .msg_iov = &iovs[i],
                .msg_iovlen = 1, .msg_control = controls[i], .msg_controllen = sizeof controls[i]};
        }
        int n = recvmmsg(s, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) break;
        int64_t fallback = clock_ns(CLOCK_REALTIME);
        for (int i = 0; i < n; i++) {
            int64_t at = fallback;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c;
                 c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                    struct timespec t;
                    memcpy(&t, CMSG_DATA(c), sizeof t);
                    at = (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
                }
            }
            arrived(ntohs(froms[i].sin_port), bufs[i], (int)msgs[i].msg_len, at);
        }
        total += n;
        if (n < BATCH) break;
    }
    return total;
}

static void result(void) {
    for (int i = 0; i < nstreams; i++)
        if (streams[i].in_window) win_expected += streams[i].last_ext - streams[i].first_ext + 1;
    int seen = 0;
    for (int i = 0; i < nstreams; i++) seen += streams[i].in_window;
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    printf("result sent=%llu received=%llu unknown=%llu send_errors=%llu send_late=%llu "
           "max_send_lag_us=%lld window_received=%llu window_late=%llu window_expected=%llu "
           "window_streams=%d max_gap_us=%lld cpu=%.3f\n",
           (unsigned long long)sent, (unsigned long long)received, (unsigned long long)unknown,
           (unsigned long long)send_errors, (unsigned long long)send_late,
           (long long)(max_send_lag_ns / 1000), (unsigned long long)win_received,
           (unsigned long long)win_late, (unsigned long long)win_expected, seen,
           (long long)(max_gap_ns / 1000),
           u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6);
    fflush(stdout);
}

int main(void) {
    char line[4096];
    streams = calloc(MAX_STREAMS, sizeof *streams);
    senders = calloc(MAX_STREAMS, sizeof *senders);
    if (!streams || !senders) die("calloc");
    for (int i = 0; i < 65536; i++) by_port[i] = -1;
    memset(payloads, 0xFF, sizeof payloads);

    int sending = 0, stopping = 0;
    int64_t send_start = 0, packet_no = 0, drain_until = 0, drain_limit = 0, quiet = 0;
    struct pollfd fds[MAX_SOCKETS + 1];
    for (;;) {
        /* commands */
        while (take_line(line, sizeof line)) {
            int a, b, c, d;
            if (sscanf(line, "sockets %d", &a) == 1) {
                open_sockets(a);
            } else if (strncmp(line, "payload ", 8) == 0) {
                char *hex = strchr(line + 8, ' ');
                int pt = atoi(line + 8);
                if (!hex || pt < 0 || pt > 127 || strlen(hex + 1) < 2 * FRAME) die("payload");
                for (int i = 0; i < FRAME; i++)
                    payloads[pt][i] = (uint8_t)(hexval(hex[1 + 2 * i]) << 4 | hexval(hex[2 + 2 * i]));
            } else if (sscanf(line, "stream %d %d %d %d", &a, &b, &c, &d) == 4) {
                if (nstreams >= MAX_STREAMS || a < 0 || a >= nsocks) die("stream");
                stream_t *st = &streams[nstreams];
                st->sock = a;
                st->dst = (uint16_t)b;
                st->pt = (uint8_t)d;
                st->ssrc = 0x5B000000u + (uint32_t)nstreams;
                st->seq = (uint16_t)(st->ssrc * 7);
                st->ts = st->ssrc * 13u;
                if (c > 0) by_port[c] = nstreams;
                if (b > 0) senders[nsenders++] = nstreams;
                nstreams++;
            } else if (strcmp(line, "ready") == 0) {
                printf("ok\n");
                fflush(stdout);
            } else if (strcmp(line, "send") == 0) {
                sending = nsenders > 0;
                send_start = clock_ns(CLOCK_MONOTONIC);
                packet_no = 0;
            } else if (strcmp(line, "mark") == 0) {
                mark_ns = clock_ns(CLOCK_REALTIME);
            } else if (strncmp(line, "stop ", 5) == 0) {
                stop_ns = clock_ns(CLOCK_REALTIME);
                sending = 0;
                stopping = 1;
                quiet = (int64_t)(atof(line + 5) * 1e9);
                drain_until = clock_ns(CLOCK_MONOTONIC) + quiet;
                drain_limit = drain_until + (quiet ? 2500000000LL : 0);
            } else if (line[0]) {
                fprintf(stderr, "media_phones: unknown command: %s\n", line);
                return 2;
            }
        }
        /* what is due to be sent: packet g goes to sender g % n at start + g * 20 ms / n */
        int64_t now = clock_ns(CLOCK_MONOTONIC), next_due = now + 50000000LL;
        if (sending) {
            for (;;) {
                int64_t due = send_start + packet_no * PERIOD_NS / nsenders;
                if (due > now) {
                    next_due = due;
                    break;
                }
                int64_t lag = now - due;
                if (lag > PERIOD_NS) send_late++;
                if (lag > max_send_lag_ns) max_send_lag_ns = lag;
                send_one(&streams[senders[packet_no % nsenders]]);
                packet_no++;
            }
        }
        if (stopping && (now >= drain_until || now >= drain_limit)) {
            result();
            return 0;
        }
        /* wait for packets, input or the next send; at least 1 ms (sends go out in batches) */
        int64_t wait = next_due - now;
        if (stopping && drain_until - now < wait) wait = drain_until - now;
        if (wait < 1000000LL) wait = 1000000LL;
        struct timespec timeout = {wait / 1000000000LL, wait % 1000000000LL};
        for (int i = 0; i < nsocks; i++) fds[i] = (struct pollfd){.fd = socks[i], .events = POLLIN};
        fds[nsocks] = (struct pollfd){.fd = 0, .events = POLLIN};
        if (ppoll(fds, nsocks + 1, &timeout, NULL) < 0 && errno != EINTR) die("ppoll");
        for (int i = 0; i < nsocks; i++) {
            if (fds[i].revents & POLLIN) {
                int64_t got = receive_all(socks[i]);
                if (stopping && got > 0) {
                    int64_t later = clock_ns(CLOCK_MONOTONIC) + quiet;
                    if (later > drain_until) drain_until = later;
                }
            }
        }
        if (fds[nsocks].revents & (POLLIN | POLLHUP)) {
            if (!fill_input()) return 0; /* the script is gone */
        }
    }
}
