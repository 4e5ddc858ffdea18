/* cli_stats.c - `tokentap stats`: tokentap's own accounting.
 *
 * What was captured but could not be kept is counted, never silent:
 *   - by traced processes (spans neither delivered nor spooled, calls
 *     sampled out), in "count" frames the daemon keeps per process in table
 *     proc_counters;
 *   - by tokentapd (frames and spans it refused, incomplete spool frames,
 *     clients refused or dropped), summed over its lifetimes in table
 *     counters.
 * Plus what is still waiting: the spool backlog, and whether a daemon
 * answers on the socket. */
#include "cli.h"
#include "fwd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon_client.h"
#include "sink.h"
#include "store.h"
#include "wire.h"

struct stats {
    char db[PATH_MAX], spool[PATH_MAX], sock[PATH_MAX];
    bool store_exists;
    int64_t spans;
    struct tt_sink_deltas c;        /* daemon counters, all lifetimes */
    uint64_t lost, sampled_out, procs_losing;
    json_t *reasons;                /* {"reason": spans} */
    uint64_t spool_files, spool_bytes;
    /* forwarding queues on disk: [0] otlp, [1] clickhouse */
    uint64_t fwd_files[2], fwd_records[2], fwd_bytes[2];
    bool daemon_up;
    int64_t daemon_pid;
};

static uint64_t col_u64(sqlite3_stmt *st, int i)
{
    sqlite3_int64 v = sqlite3_column_int64(st, i);

    return v > 0 ? (uint64_t)v : 0;
}

static int read_store(struct stats *s)
{
    struct tt_store *st = NULL;
    sqlite3_stmt *q = NULL;
    int rc = tt_store_open(s->db, true, &st);

    if (rc != TT_OK)
        return rc;
    /* The health command reads the whole file: a store that fails SQLite's
     * quick_check is reported, never counted as healthy (issue #9). */
    char finding[256], msg[4096];
    if ((rc = tt_store_check(st, finding, sizeof(finding))) != TT_OK) {
        if (rc == TT_ERR_CORRUPT) {
            tt_store_corrupt_msg(msg, sizeof(msg), s->db, finding);
            fprintf(stderr, "tokentap stats: %s\n", msg);
        } else {
            fprintf(stderr, "tokentap stats: %s: %s\n", s->db, finding);
        }
        tt_store_close(st);
        return rc;
    }
    sqlite3 *db = tt_store_db(st);
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM spans", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
        /* Never a silent 0: say why the store cannot be read. */
        fprintf(stderr, "tokentap stats: %s: %s\n", s->db, sqlite3_errmsg(db));
        sqlite3_finalize(q);
        tt_store_close(st);
        return TT_ERR_IO;
    }
    s->spans = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    q = NULL;
    /* Older stores have no counters tables yet: then they count nothing. */
    if (sqlite3_prepare_v2(db, "SELECT name, value FROM counters", -1, &q, NULL) == SQLITE_OK) {
        while (sqlite3_step(q) == SQLITE_ROW) {
            const char *name = (const char *)sqlite3_column_text(q, 0);
            uint64_t v = col_u64(q, 1);
#define SET(n) if (name && !strcmp(name, #n)) s->c.n = v;
            TT_SINK_COUNTER_NAMES(SET)
#undef SET
        }
    }
    sqlite3_finalize(q);
    q = NULL;
    if (sqlite3_prepare_v2(db, "SELECT lost, sampled_out, reason FROM proc_counters",
                           -1, &q, NULL) == SQLITE_OK) {
        while (sqlite3_step(q) == SQLITE_ROW) {
            uint64_t lost = col_u64(q, 0);
            const char *why = (const char *)sqlite3_column_text(q, 2);
            s->lost += lost;
            s->sampled_out += col_u64(q, 1);
            if (lost) {
                s->procs_losing++;
                const char *k = why && *why ? why : "unknown";
                json_t *prev = json_object_get(s->reasons, k);
                json_object_set_new(s->reasons, k,
                                    json_integer((json_int_t)lost + (prev ? json_integer_value(prev) : 0)));
            }
        }
    }
    sqlite3_finalize(q);
    tt_store_close(st);
    return TT_OK;
}

static void read_spool(struct stats *s)
{
    DIR *d = opendir(s->spool);
    struct dirent *e;
    struct stat sb;

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n <= 6 || strcmp(e->d_name + n - 6, ".spool") != 0)
            continue;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode)) {
            s->spool_files++;
            s->spool_bytes += (uint64_t)sb.st_size;
        }
    }
    closedir(d);
}

static const char *const fwd_names[2] = { "otlp", "clickhouse" };

static void read_forward(struct stats *s)
{
    char dir[PATH_MAX];

    for (int i = 0; i < 2; i++)
        if (tt_fwd_default_dir(fwd_names[i], dir, sizeof(dir)) == TT_OK)
            tt_fwd_queue_size(dir, &s->fwd_files[i], &s->fwd_records[i], &s->fwd_bytes[i]);
}

static uint64_t lost_total(const struct stats *s)
{
    return s->lost + s->c.spans_rejected + s->c.spool_frames_dropped;
}

static void print_json_stats(const struct stats *s)
{
    json_t *c = json_object();
#define PUT(n) json_object_set_new(c, #n, json_integer((json_int_t)s->c.n));
    TT_SINK_COUNTER_NAMES(PUT)
#undef PUT
    json_object_set_new(c, "lost", json_integer((json_int_t)s->lost));
    json_object_set_new(c, "sampled_out", json_integer((json_int_t)s->sampled_out));
    json_t *j = json_pack("{s:s, s:b, s:I, s:I, s:o, s:O, s:{s:s, s:I, s:I}, s:{s:b, s:s}}",
                          "store", s->db, "store_exists", s->store_exists,
                          "spans_stored", (json_int_t)s->spans,
                          "lost_total", (json_int_t)lost_total(s),
                          "counters", c, "lost_by_reason", s->reasons,
                          "spool", "dir", s->spool, "files", (json_int_t)s->spool_files,
                          "bytes", (json_int_t)s->spool_bytes,
                          "daemon", "running", s->daemon_up, "socket", s->sock);
    if (j && s->daemon_up)
        json_object_set_new(json_object_get(j, "daemon"), "pid", json_integer(s->daemon_pid));
    json_t *fq = json_object();
    for (int i = 0; fq && i < 2; i++)
        json_object_set_new(fq, fwd_names[i],
                            json_pack("{s:I, s:I, s:I}", "files", (json_int_t)s->fwd_files[i],
                                      "records", (json_int_t)s->fwd_records[i],
                                      "bytes", (json_int_t)s->fwd_bytes[i]));
    if (j)
        json_object_set_new(j, "forward_queue", fq);
    else
        json_decref(fq);
    if (j) {
        json_dumpf(j, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    }
    json_decref(j);
}

static void print_text(const struct stats *s)
{
    printf("store        %s (%s%lld spans)\n", s->db, s->store_exists ? "" : "not created yet, ",
           (long long)s->spans);
    if (s->daemon_up)
        printf("daemon       running, pid %lld, socket %s\n", (long long)s->daemon_pid, s->sock);
    else
        printf("daemon       not running (socket %s); spans wait in the spool\n", s->sock);
    printf("spool        %s: %llu file(s), %llu bytes waiting\n", s->spool,
           (unsigned long long)s->spool_files, (unsigned long long)s->spool_bytes);
    printf("lost         %llu span(s) captured but not stored\n",
           (unsigned long long)lost_total(s));
    printf("  in traced processes   %llu (in %llu process(es))\n",
           (unsigned long long)s->lost, (unsigned long long)s->procs_losing);
    const char *k;
    json_t *v;
    json_object_foreach(s->reasons, k, v)
        printf("    %-40s %lld\n", k, (long long)json_integer_value(v));
    printf("  invalid spans refused %llu\n", (unsigned long long)s->c.spans_rejected);
    printf("  cut spool frames      %llu\n", (unsigned long long)s->c.spool_frames_dropped);
    printf("sampled out  %llu call(s) (TOKENTAP_SAMPLE_RATE)\n",
           (unsigned long long)s->sampled_out);
    printf("daemon saw   %llu frame(s), %llu malformed; %llu spool file(s) ingested;\n"
           "             %llu client(s) refused (other user, or too many), %llu dropped "
           "(bad framing)\n",
           (unsigned long long)s->c.frames, (unsigned long long)s->c.bad_frames,
           (unsigned long long)s->c.spool_files, (unsigned long long)s->c.clients_refused,
           (unsigned long long)s->c.clients_dropped);
    const uint64_t fw[2][4] = {
        { s->c.otlp_sent, s->c.otlp_dropped, s->c.otlp_queue_dropped, s->c.otlp_retries },
        { s->c.clickhouse_sent, s->c.clickhouse_dropped, s->c.clickhouse_queue_dropped,
          s->c.clickhouse_retries },
    };
    for (int i = 0; i < 2; i++) {
        if (!fw[i][0] && !fw[i][1] && !fw[i][2] && !fw[i][3] && !s->fwd_files[i])
            continue;
        printf("forward %-10s %llu sent, %llu refused by the server, %llu dropped from "
               "the queue, %llu retried request(s);\n"
               "                   %llu waiting (%llu file(s), %llu bytes)\n", fwd_names[i],
               (unsigned long long)fw[i][0], (unsigned long long)fw[i][1],
               (unsigned long long)fw[i][2], (unsigned long long)fw[i][3],
               (unsigned long long)s->fwd_records[i], (unsigned long long)s->fwd_files[i],
               (unsigned long long)s->fwd_bytes[i]);
    }
}

int tt_cli_stats_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "db", required_argument, NULL, 'd' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct stats s = { .daemon_pid = -1 };
    const char *dbopt = NULL;
    bool json = false;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, ":hj", opts, NULL)) != -1) {
        switch (opt) {
        case 'd': dbopt = optarg; break;
        case 'j': json = true; break;
        case 'h': fputs(tt_cli_help("stats"), stdout); return TT_CLI_EXIT_OK;
        default:
            fprintf(stderr, "tokentap stats: %s option '%s' (see tokentap stats --help)\n",
                    opt == ':' ? "missing value for" : "unknown", argv[optind - 1]);
            return TT_CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tokentap stats: unexpected argument '%s'\n", argv[optind]);
        return TT_CLI_EXIT_USAGE;
    }
    if (tt_cli_db_path(dbopt, s.db, sizeof(s.db)) != TT_OK ||
        tt_wire_spool_dir(s.spool, sizeof(s.spool)) != TT_OK) {
        fprintf(stderr, "tokentap stats: cannot resolve tokentap's paths (%s)\n",
                strerror(errno));
        return TT_CLI_EXIT_ERR;
    }
    if (tt_wire_socket_path(s.sock, sizeof(s.sock)) != TT_OK)
        s.sock[0] = '\0';
    /* Like every read command: store what is parked first, so the totals
     * include it; what stays in the spool after that is the real backlog. */
    if (tt_cli_ingest_spool(s.db) != TT_OK)
        fprintf(stderr, "tokentap stats: could not ingest the spool (store not "
                "writable?); its spans are counted below as waiting\n");
    s.reasons = json_object();
    s.store_exists = access(s.db, F_OK) == 0;
    if (s.store_exists && read_store(&s) != TT_OK) {
        fprintf(stderr, "tokentap stats: cannot read the store %s\n", s.db);
        json_decref(s.reasons);
        return TT_CLI_EXIT_ERR;
    }
    read_spool(&s);
    read_forward(&s);
    struct tt_dc_reply rep;
    if (s.sock[0] && tt_dc_request(s.sock, "hello", 500, &rep) == TT_OK &&
        !strcmp(rep.type, "hello")) {
        s.daemon_up = true;
        s.daemon_pid = rep.pid;
    }
    if (json)
        print_json_stats(&s);
    else
        print_text(&s);
    json_decref(s.reasons);
    return TT_CLI_EXIT_OK;
}

/* The same facts for `tokentap doctor` (cli.h), without printing. */
int tt_cli_stats_collect(const char *dbopt, struct tt_cli_health *h)
{
    struct stats s = { .daemon_pid = -1 };
    struct tt_dc_reply rep;

    memset(h, 0, sizeof(*h));
    h->daemon_pid = -1;
    if (tt_cli_db_path(dbopt, s.db, sizeof(s.db)) != TT_OK ||
        tt_wire_spool_dir(s.spool, sizeof(s.spool)) != TT_OK)
        return TT_ERR_IO;
    if (tt_wire_socket_path(s.sock, sizeof(s.sock)) != TT_OK)
        s.sock[0] = '\0';
    (void)tt_cli_ingest_spool(s.db);
    s.reasons = json_object();
    s.store_exists = access(s.db, F_OK) == 0;
    h->store_readable = s.store_exists && read_store(&s) == TT_OK;
    read_spool(&s);
    read_forward(&s);
    if (s.sock[0] && tt_dc_request(s.sock, "hello", 500, &rep) == TT_OK &&
        !strcmp(rep.type, "hello")) {
        s.daemon_up = true;
        s.daemon_pid = rep.pid;
    }
    snprintf(h->db, sizeof(h->db), "%s", s.db);
    snprintf(h->spool, sizeof(h->spool), "%s", s.spool);
    snprintf(h->sock, sizeof(h->sock), "%s", s.sock);
    h->store_exists = s.store_exists;
    h->spans = s.spans;
    h->lost_total = lost_total(&s);
    h->sampled_out = s.sampled_out;
    h->spool_files = s.spool_files;
    h->spool_bytes = s.spool_bytes;
    h->daemon_up = s.daemon_up;
    h->daemon_pid = s.daemon_pid;
    json_decref(s.reasons);
    return TT_OK;
}
