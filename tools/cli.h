/* cli.h - the `tokentap` command line: subcommands and their pure helpers.
 *
 * tokentap.c only dispatches; each subcommand lives in its own module
 * (cli_run.c, cli_query.c) and the pieces that need no process, socket or
 * terminal live in cli_util.c so the unit tests can reach them. All
 * subcommand entry points return the process exit status: 0 ok, 1 error,
 * 2 usage (TT_CLI_EXIT_*); `run` returns the traced command's status. */
#ifndef TT_CLI_H
#define TT_CLI_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clickhouse.h"
#include "span.h"
#include "tt.h"

#define TT_CLI_VERSION "0.1.0"

enum { TT_CLI_EXIT_OK = 0, TT_CLI_EXIT_ERR = 1, TT_CLI_EXIT_USAGE = 2 };

struct sqlite3;
struct sqlite3_stmt;

/* --- subcommands (argv[0] is the subcommand name) --------------------- */
int tt_cli_run_main(int argc, char **argv);
int tt_cli_export_main(int argc, char **argv);
int tt_cli_ls_main(int argc, char **argv);
int tt_cli_show_main(int argc, char **argv);
int tt_cli_cost_main(int argc, char **argv);
int tt_cli_pricing_main(int argc, char **argv);
int tt_cli_reprice_main(int argc, char **argv);   /* cli_reprice.c */
/* `tokentap cost --as MODEL | --as-file PRICES` (cli_reprice.c): the stored
 * usage grouped by the SQL expression expr (column `by`), real cost beside
 * the cost at as_model (as_provider may be NULL) or under the prices of
 * as_file. Returns an exit status. */
struct sqlite3;
int tt_cli_cost_as(struct sqlite3 *db, const char *expr, const char *by,
                   const char *trace_id, int64_t since, const char *as_model,
                   const char *as_provider, const char *as_file, const char *format);
int tt_cli_stats_main(int argc, char **argv);
int tt_cli_ui_main(int argc, char **argv);
int tt_cli_report_main(int argc, char **argv);   /* cli_report.c */
int tt_cli_tail_main(int argc, char **argv);
int tt_cli_doctor_main(int argc, char **argv);
/* doctor CMD, the gateway's part (cli_doctor_gw.c): notes on programs the
 * hooks cannot reach that `tokentap run --gateway auto` traces, the
 * command itself or binaries its package ships (a wrapper). Returns how
 * many. path: the command's executable. */
int tt_cli_doctor_gateway(const char *path, bool colour);
int tt_cli_assert_main(int argc, char **argv);
/* cli_replay.c (issue #13): record, replay, cassette, and run --mock. */
int tt_cli_record_main(int argc, char **argv);
int tt_cli_replay_main(int argc, char **argv);
int tt_cli_cassette_main(int argc, char **argv);

/* What record/replay/run --mock add to `tokentap run` (cli_run.c calls
 * them; cli_replay.c implements them). setup runs before the command
 * starts and may add to its environment (TT_OK or an error: the command
 * is not started); finish runs after it ended and its spans are stored
 * (synced false when they could not be), and returns the exit status to
 * use (the command's, status, unless it decides otherwise). */
struct tt_cli_run_ext {
    const char *cmd;
    int (*setup)(void *arg, char ***env);
    int (*finish)(void *arg, const char *db, const char *trace, bool synced, int status);
    void *arg;
};
int tt_cli_run_ext_main(int argc, char **argv, const struct tt_cli_run_ext *ext);
/* The extension of `tokentap run --mock`. */
const struct tt_cli_run_ext *tt_cli_mock_ext(void);

/* SQL: a call that was billed (not answered by tokentap replay or a dry
 * run: replay hit or mock). Cost totals and budgets count only these. */
#define TT_CLI_BILLED "(replay IS NULL OR replay NOT IN ('hit','mock'))"

/* Help text of a subcommand, or NULL for an unknown name. */
const char *tt_cli_help(const char *cmd);

/* --- W3C trace context -------------------------------------------------- */

/* Parse a TRACEPARENT value: "00-<32 hex>-<16 hex>-<2 hex>" (lowercase),
 * trace and parent ids not all zero, version not "ff"; a later version may
 * carry more fields after a '-'. trace_id gets 33 bytes, parent_id 17. */
int tt_cli_traceparent_parse(const char *v, char *trace_id, char *parent_id) TT_WUR;

/* Whether s is exactly n lowercase hex digits. */
bool tt_cli_is_hex(const char *s, size_t n);

/* --- environment -------------------------------------------------------- */

/* The LD_PRELOAD value for the child: `lib` first, then the entries of
 * `existing` (space or colon separated, may be NULL) minus any other copy
 * of `lib`, joined by ':'. Returns a malloc'd string or NULL on OOM. */
char *tt_cli_ld_preload(const char *lib, const char *existing);

/* Set name=value in a NULL-terminated, malloc'd environment array (the
 * strings are malloc'd too), replacing an existing entry. Returns 0 or
 * TT_ERR_NOMEM. tt_cli_env_free() frees the array and its strings. */
int tt_cli_env_set(char ***envp, const char *name, const char *value) TT_WUR;
char **tt_cli_env_dup(char *const *environ_in);
void tt_cli_env_free(char **envp);

/* --- paths ---------------------------------------------------------------- */

/* Make a store path absolute and canonical without requiring the file to
 * exist (its directory must): realpath(dirname)/basename. */
int tt_cli_abs_path(const char *path, char *buf, size_t n) TT_WUR;

/* The store path the user means: opt (--db) if set, else $TOKENTAP_DB, else
 * the default (tt_store_default_path). */
int tt_cli_db_path(const char *opt, char *buf, size_t n) TT_WUR;

/* --- store reading (rows -> spans: tt_store_span_from_row, store.h) ------- */

/* Resolve an id the user typed (a trace id, a unique prefix of one, or a
 * span id / unique prefix) to a full trace id (33 bytes). Returns 0,
 * TT_ERR_PARSE (not hex), TT_ERR (no match) or TT_ERR_AGAIN (ambiguous: up
 * to `nalt` candidates are written to alt[i][33], *nfound is the count). */
int tt_cli_resolve_trace(struct sqlite3 *db, const char *id, char *trace_id,
                         char (*alt)[33], size_t nalt, size_t *nfound) TT_WUR;

/* What the read-only subcommands share (cli_query.c), returning exit
 * statuses and explaining failures on stderr: an option error from
 * getopt_long (opt ':' or '?'); opening the store read-only (a missing
 * store: *st == NULL, status 0 when missing_ok, else 1); a user-typed id to
 * a trace id (33 bytes) via tt_cli_resolve_trace. */
struct tt_store;
int tt_cli_usage_error(const char *cmd, char **argv, int optind_now, int opt);
int tt_cli_open_store_ro(const char *cmd, const char *dbopt, bool missing_ok,
                         struct tt_store **st);

/* A failed query on the store: one line naming the file; a corrupt store
 * gets what to do about it. Returns TT_CLI_EXIT_ERR. */
int tt_cli_sql_error(const char *cmd, struct sqlite3 *db);
int tt_cli_resolve_id(const char *cmd, struct sqlite3 *db, const char *id,
                      char *trace);

/* --- formatting ----------------------------------------------------------- */

/* One line of a per-model (or per-group) cost summary. */
struct tt_cli_group {
    char key[256];
    int64_t calls;
    int64_t input, output, cache_read, cache_write, reasoning;
    double cost;           /* sum over calls whose cost is known */
    int64_t unknown;       /* calls whose cost is unknown */
    int64_t errors;
};

/* Add g's counts (not its key) to *tot. */
void tt_cli_group_add(struct tt_cli_group *tot, const struct tt_cli_group *g);

/* Step a prepared statement whose columns are key, calls, input, output,
 * cache_read, cache_write, reasoning, cost, unknown, errors into groups
 * (*out malloc'd, free()); finalizes st. TT_ERR_NOMEM or TT_ERR_IO. */
int tt_cli_groups_collect(struct sqlite3_stmt *st, struct tt_cli_group **out, size_t *n);

/* Aggregate LLM spans by a `cost --by` key (tt_cli_group_expr), optionally
 * for one trace (trace_id non-NULL) and a start_time window [from, to]
 * (from == 0: no window). Groups come most expensive first; *out is malloc'd (free()),
 * possibly NULL when *n == 0. TT_ERR_PARSE for an unknown `by`. */
int tt_cli_query_groups(struct sqlite3 *db, const char *by,
                        const char *trace_id, int64_t from, int64_t to,
                        struct tt_cli_group **out, size_t *n) TT_WUR;

/* A model whose calls' cost is unknown: the footnote of `tokentap cost` and
 * its JSON "unknown_cost" list. */
struct tt_cli_unknown {
    char model[256];
    int64_t calls;
    int64_t no_usage;      /* of them, calls without usage */
};

/* What `tokentap cost` reports, whichever store it came from (SQLite:
 * cli_query.c, ClickHouse: cli_clickhouse.c). Borrowed pointers. */
struct tt_cli_cost {
    const char *by;                   /* the --by key, also the key column's name */
    const char *trace_id;             /* --trace, resolved; NULL: all traces */
    int64_t since;                    /* --since in epoch ns; 0: none */
    const struct tt_cli_group *g;     /* most expensive first */
    size_t n;
    const struct tt_cli_unknown *unk; /* most calls first */
    size_t nunk;
};

/* Print the report on stdout as format "table", "csv" or "json" (checked
 * by the caller). Returns an exit status (1 when out of memory). */
int tt_cli_cost_print(const struct tt_cli_cost *c, const char *format);

/* One line of `tokentap ls`: a trace. Borrowed strings, NULL when absent. */
struct tt_cli_ls_row {
    const char *trace_id;
    int64_t start;              /* the run's start, else its first span's (ns) */
    const char *command;        /* the run's command line (tokentap run) */
    const char *exe;            /* else the executable of its first span */
    int64_t calls, input, output, tokens;   /* LLM calls and their tokens */
    double cost;                /* known cost */
    int64_t unknown;            /* calls of unknown cost */
    int64_t errors;             /* failed spans, the run's included */
    bool has_exit;
    int64_t exit_code;          /* when has_exit; < 0 is not shown */
    const char *session;
};

/* The output of `tokentap ls` under way: tt_cli_ls_begin prints the table
 * header; tt_cli_ls_add prints a row (table) or keeps it (json), and past
 * `limit` rows (0: none) only sets `more`, for the caller to stop;
 * tt_cli_ls_end prints the JSON array or the table's footnote and frees.
 * Feed it one row more than the limit to have the "older traces" note. */
struct json_t;
struct tt_cli_ls_out {
    bool json;
    long limit;
    long rows;
    bool more;
    struct json_t *arr;
};
int tt_cli_ls_begin(struct tt_cli_ls_out *o, bool json, long limit) TT_WUR;
int tt_cli_ls_add(struct tt_cli_ls_out *o, const struct tt_cli_ls_row *r) TT_WUR;
/* Returns an exit status. Frees o (also after an error: call it anyway). */
int tt_cli_ls_end(struct tt_cli_ls_out *o, bool ok);

/* The cost cell: "$0.001234", "?" (all unknown) or "$0.001234+?". */
void tt_cli_fmt_cost(char *buf, size_t n, double cost, int64_t calls,
                     int64_t unknown);

/* The summary `tokentap run` prints after the command: a header line
 * ("tokentap: 3 LLM calls, 2 models, $0.004512 (trace ...)" or "no LLM
 * calls"), a per-model table with totals, notes for unknown costs and
 * errors. Appends to out. */
int tt_cli_fmt_summary(const struct tt_cli_group *g, size_t n,
                       const char *trace_id, bool colour,
                       struct tt_buf *out) TT_WUR;

/* Local time of an epoch-ns instant: "2025-01-31 13:04:05" (iso=false) or
 * RFC 3339 "2025-01-31T13:04:05+01:00" (iso=true). */
void tt_cli_fmt_time(char *buf, size_t n, int64_t ns, bool iso);

/* The command line as one string, arguments with spaces or quotes quoted
 * the way a POSIX shell would read them back. malloc'd, NULL on OOM. */
char *tt_cli_join_argv(int argc, char *const *argv);
/* A copy of arg with secrets replaced by "[redacted]" (header values of
 * authorization/x-api-key/..., values after --api-key-like flags given as
 * prev, NAME_KEY=/NAME_TOKEN= assignments, key=/token= parameters, sk-... keys).
 * Newly allocated; NULL on OOM. join_argv applies it to every argument. */
char *tt_cli_redact_arg(const char *prev, const char *arg);

/* Store what the spool holds (frames processes parked while no daemon
 * listened) into db, by running `tokentapd --ingest-spool` next to the CLI.
 * Cheap when the spool is empty. Read commands call it first. */
int tt_cli_ingest_spool(const char *db);

/* The path of a program that comes with tokentap (tokentap-mock): next to
 * the running CLI (the build tree: build/bin/), else in
 * <bindir>/../libexec/tokentap/ (make install). TT_OK, or TT_ERR_IO when
 * neither is an executable file. Prints nothing (docs/INTERNALS.md,
 * "Errors"). */
int tt_cli_find_helper(const char *name, char *buf, size_t n) TT_WUR;

/* --- filters, grouping, assertions (cli_filter.c; pure) ------------------- */

/* Exit status of `tokentap run --budget-action kill` when the budget was
 * exceeded and the command killed (like timeout(1)). */
#define TT_CLI_EXIT_BUDGET 124

/* "--since": "30s", "15m", "24h", "7d", "2w" before now_ns, or a local date
 * "YYYY-MM-DD" (its midnight). *out in epoch ns. TT_ERR_PARSE otherwise. */
int tt_cli_parse_since(const char *s, int64_t now_ns, int64_t *out) TT_WUR;

/* "N" (exact) or "MIN..MAX" (either side may be omitted): *min, *max with
 * -1 for an open end. TT_ERR_PARSE otherwise. */
int tt_cli_parse_range(const char *s, int64_t *min, int64_t *max) TT_WUR;

/* The SQL expression a `cost --by` key groups spans on: model, provider,
 * process, session, day (local date of start_time), hostname or tag:KEY
 * (KEY: letters, digits, '_', '-', '.', up to 64; it is embedded only after
 * that check), in the store's SQL dialect. TT_ERR_PARSE for anything else,
 * TT_ERR_NOMEM if buf is too small.
 *  - SQLite: a store holds one host's spans, so hostname is this host's
 *    name (gethostname), as a quoted literal.
 *  - ClickHouse: hostname is the host_name column (the writing daemon's
 *    host). ClickHouse cannot know the client's time zone, so day is the
 *    15-minute bucket of start_time (intDiv(start_time, 900 s)), turned into
 *    the local date and merged by tt_cli_groups_finish: every zone's
 *    midnight falls on a 15-minute boundary, so no bucket spans two dates. */
enum tt_cli_dialect { TT_CLI_SQLITE, TT_CLI_CLICKHOUSE };
int tt_cli_group_expr_in(enum tt_cli_dialect d, const char *by, char *buf,
                         size_t n) TT_WUR;
/* tt_cli_group_expr_in(TT_CLI_SQLITE, ...) */
int tt_cli_group_expr(const char *by, char *buf, size_t n) TT_WUR;

/* The ClickHouse day bucket (a key of tt_cli_group_expr_in(CLICKHOUSE,
 * "day")) as the local date "YYYY-MM-DD". TT_ERR_PARSE when it is not a
 * number. */
int tt_cli_day_of_bucket(const char *bucket, char *buf, size_t n) TT_WUR;

/* Put groups the way `tokentap cost` lists them, as the SQLite query
 * orders them: for by == "day" from ClickHouse (ch) the bucket keys become
 * dates first and groups of one date are merged (*n shrinks); then most
 * expensive first, more calls first, then by key (bytewise). */
int tt_cli_groups_finish(const char *by, bool ch, struct tt_cli_group *g,
                         size_t *n) TT_WUR;

/* TOKENTAP_TAGS for the child: `existing` ("k=v,k2=v2", may be NULL) with
 * each of add[i] ("k=v") set, replacing an earlier value of the same key.
 * malloc'd; NULL on OOM. TT_ERR_PARSE-worthy input (no '=', empty key, ','
 * in a value) is refused by tt_cli_tag_valid first. */
bool tt_cli_tag_valid(const char *kv);
char *tt_cli_tags_merge(const char *existing, char *const *add, size_t nadd);

/* TOKENTAP_METADATA for the child: the JSON object `existing` (may be NULL
 * or invalid: then ignored) updated with the JSON object `add`. malloc'd
 * compact JSON, or NULL with a reason in err when add is not an object. */
char *tt_cli_metadata_merge(const char *existing, const char *add, char *err,
                            size_t errn);

/* Whether s matches one of the comma-separated fnmatch globs in list. */
bool tt_cli_glob_list_match(const char *list, const char *s);

/* `tokentap assert`: rules (a field < 0 / false / NULL: not checked) and
 * the facts of one trace. */
struct tt_cli_assert_rules {
    double max_cost;            /* < 0: unchecked */
    int64_t max_tokens;         /* < 0: unchecked */
    int64_t calls_min, calls_max;  /* -1: open */
    bool no_errors;
    const char *model_allow;    /* comma globs, or NULL */
};
struct tt_cli_assert_model {
    char name[128];
    int64_t calls;
};
struct tt_cli_assert_facts {
    double cost;
    int64_t unknown_cost_calls;
    int64_t tokens;             /* input + output */
    int64_t calls, errors;
    const struct tt_cli_assert_model *models;
    size_t nmodels;
};
/* Append one line per violated rule to out ("max-cost: spent $0.0123,
 * $0.0023 over the limit $0.0100"); *violations gets their number. */
int tt_cli_assert_eval(const struct tt_cli_assert_rules *r,
                       const struct tt_cli_assert_facts *f, struct tt_buf *out,
                       int *violations) TT_WUR;

/* --- stores: a SQLite file or ClickHouse (cli_clickhouse.c) --------------- */

/* The store `ls` and `cost` read: --store (a path or a clickhouse:// URL),
 * else --db (a path), else $TOKENTAP_STORE (either), else the SQLite
 * default (tt_cli_db_path: $TOKENTAP_DB, ~/.tokentap/traces.db). Sets
 * *ch_url for a ClickHouse store, else *db_opt (NULL: the default) for
 * tt_cli_open_store_ro. TT_ERR_PARSE when --store and --db are both given. */
int tt_cli_store_pick(const char *store_opt, const char *db_opt,
                      const char *env_store, const char **db_out,
                      const char **ch_url) TT_WUR;


/* Split the next row of a ClickHouse TabSeparated body buf[*pos, len) in
 * place: each field is unescaped and NUL-terminated where its separator
 * was, f[i] points at it; a field "\N" (NULL) gives f[i] = NULL. *pos
 * moves past the row. *got is the number of fields, 0 at the end of the
 * body. TT_ERR_PARSE when the row has not exactly nf fields or holds an
 * unknown escape; TT_ERR_INCOMPLETE when the last row has no '\n' (a body
 * cut short). On an error *pos stays, the row's bytes are undefined. */
int tt_cli_tsv_row(char *buf, size_t len, size_t *pos, char **f, size_t nf,
                   size_t *got) TT_WUR;

/* The fields of one row of the ClickHouse queries (the column order is
 * in cli_clickhouse.c) as a group / an ls row. TT_ERR_PARSE on a field
 * that is not the number it should be. r's strings point into f. */
#define TT_CLI_CH_GROUP_COLS 10
#define TT_CLI_CH_LS_COLS 14
int tt_cli_ch_group_from_row(char *const *f, struct tt_cli_group *g) TT_WUR;
int tt_cli_ch_ls_from_row(char *const *f, struct tt_cli_ls_row *r) TT_WUR;

/* Reading a ClickHouse store (cli_clickhouse.c), for `cost`, `ls` and the
 * ui server. Nothing is printed: each returns TT_OK or a negative TT_ERR_*
 * and puts the cause, in words for the user, in err (errn bytes).
 * tt_cli_ch_open parses the URL (TT_ERR_PARSE: a bad one). The readers then
 * fail with TT_ERR_NOMEM, TT_ERR_IO (the query failed, or its answer could
 * not be read) or TT_ERR_PARSE (a bad argument). */
struct tt_cli_chq {
    char shown[600];        /* the URL, password hidden: what messages say */
    struct tt_ch ch;
};
int tt_cli_ch_open(struct tt_cli_chq *q, const char *url, char *err, size_t errn) TT_WUR;
/* tt_cli_resolve_trace for ClickHouse (the same codes and outputs: TT_OK,
 * TT_ERR_PARSE a bad id, TT_ERR none, TT_ERR_AGAIN ambiguous), or a failure
 * above (TT_ERR_NOMEM, TT_ERR_IO) with err filled. */
int tt_cli_ch_resolve(struct tt_cli_chq *q, const char *id, char *trace,
                      char (*alt)[33], size_t nalt, size_t *nfound, char *err,
                      size_t errn) TT_WUR;
/* The `ls` rows, newest first (rows offset.. offset+limit-1; limit 0: all),
 * each handed to cb; a cb's non-TT_OK return stops the reading and is
 * returned. */
int tt_cli_ch_ls_each(struct tt_cli_chq *q, int64_t since, long limit, long offset,
                      int (*cb)(void *cls, const struct tt_cli_ls_row *r), void *cls,
                      char *err, size_t errn) TT_WUR;
/* The `cost` groups and the models of unknown price (free() both) of the
 * LLM calls since `since`, of one trace (a full trace id) or all (NULL). */
int tt_cli_ch_cost_data(struct tt_cli_chq *q, const char *by, const char *trace,
                        int64_t since, struct tt_cli_group **g, size_t *n,
                        struct tt_cli_unknown **unk, size_t *nunk, char *err,
                        size_t errn) TT_WUR;

/* Explain a tt_cli_resolve_trace result on stderr; returns the exit
 * status (0 for TT_OK). Store errors (other codes) are the caller's. */
int tt_cli_resolve_explain(const char *cmd, const char *id, int rc,
                           char (*alt)[33], size_t nfound);

/* Colour on stream fd: a terminal, NO_COLOR unset or empty, TERM not dumb. */
bool tt_cli_colour(int fd);

/* --- doctor: what an executable is (cli_doctor.c) ------------------------- */

struct tt_cli_elf {
    bool elf;                   /* an ELF file at all */
    bool dynamic;               /* has PT_INTERP / PT_DYNAMIC */
    bool needs_ssl, needs_curl; /* libssl / libcurl in DT_NEEDED */
    bool needs_libc;            /* libc in DT_NEEDED */
    bool exports_ssl_write;     /* SSL_write defined in its own .dynsym */
    unsigned own_ssl;           /* TT_CLI_SSL_* bits: defined in its .dynsym */
    unsigned machine;           /* e_machine (EM_X86_64, EM_AARCH64...) */
    bool go;                    /* .go.buildinfo or runtime.main */
    bool rustls;                /* the string "rustls" */
    bool boringssl;             /* the string "BoringSSL" */
    bool openssl_text;          /* an "OpenSSL 1.x/3.x" version string */
    bool glibc_static_text;     /* "GLIBC_TUNABLES": glibc linked in */
    char needed[512];           /* DT_NEEDED, comma-separated (truncated) */
    bool is64;                  /* ELFCLASS64 */
};
/* The functions the inline hooks need from an executable's own OpenSSL
 * (hooks/ssl.c): all five, exported. */
#define TT_CLI_SSL_WRITE      0x01u
#define TT_CLI_SSL_READ       0x02u
#define TT_CLI_SSL_FREE       0x04u
#define TT_CLI_SSL_SERVERNAME 0x08u
#define TT_CLI_SSL_GET_ERROR  0x10u
#define TT_CLI_SSL_ALL        0x1fu
/* Inspect the ELF file at path (any of ELF32/64, LSB/MSB not required:
 * little endian only). Returns 0 (out->elf false for a non-ELF file),
 * TT_ERR_IO (errno) when it cannot be read. */
int tt_cli_elf_inspect(const char *path, struct tt_cli_elf *out) TT_WUR;

/* What kind of program an executable is, for tracing (tokentap doctor;
 * callable by any command that wants to say why a run saw nothing). */
enum tt_cli_bin_kind {
    TT_BIN_NOT_ELF,
    TT_BIN_FOREIGN_ARCH,        /* 32-bit, or another machine: the loader skips us */
    TT_BIN_GO,                  /* Go: crypto/tls, no libc calls for TLS */
    TT_BIN_STATIC_GLIBC,        /* no loader: LD_PRELOAD never applies */
    TT_BIN_STATIC_MUSL,         /* (or another static libc) */
    TT_BIN_OWN_OPENSSL,         /* OpenSSL linked in, exported: inline hooks */
    TT_BIN_OWN_OPENSSL_UNHOOKABLE, /* the same, but not on this arch / incomplete */
    TT_BIN_BORINGSSL,           /* BoringSSL linked in (Bun, Electron, Chrome) */
    TT_BIN_OPENSSL_HIDDEN,      /* OpenSSL linked in without exported symbols */
    TT_BIN_RUSTLS,              /* Rust with rustls */
    TT_BIN_LIBCURL,             /* libcurl (shared) */
    TT_BIN_LIBSSL,              /* shared libssl */
    TT_BIN_PLAIN,               /* neither: plain sockets, or libssl at run time */
};
struct tt_cli_bin {
    enum tt_cli_bin_kind kind;
    bool traced;                /* HTTPS calls can be traced */
    const char *name;           /* short, stable: "own-openssl", "go", ... */
    char why[400];              /* one sentence for a person */
};
/* Classify an inspected executable (e from tt_cli_elf_inspect). */
void tt_cli_bin_classify(const struct tt_cli_elf *e, struct tt_cli_bin *out);

/* --- run --budget (cli_budget.c) ------------------------------------------ */

#include <sys/types.h>
#define TT_CLI_BUDGET_POLL_MS 250
struct tt_cli_budget {
    double limit;               /* < 0: no budget */
    bool kill;                  /* --budget-action kill */
    const char *db, *trace;     /* the store and the run's trace */
    int64_t since;              /* spans started at or after (ns) */
    /* state */
    struct tt_store *st;
    bool exceeded, sigkilled;
    int64_t term_ms;
    double spent;
    int64_t calls;
};
/* One poll: read the trace's spend; the first time it exceeds the limit,
 * warn on stderr and (kill) SIGTERM the process group pgid; SIGKILL it 2 s
 * later. Cheap when there is no store yet. */
int tt_cli_budget_poll(struct tt_cli_budget *b, pid_t pgid, int64_t now_ms);
void tt_cli_budget_close(struct tt_cli_budget *b);

/* --- stats, for doctor (cli_stats.c) --------------------------------------- */

struct tt_cli_health {
    char db[PATH_MAX], spool[PATH_MAX], sock[PATH_MAX];
    bool store_exists, store_readable;
    int64_t spans;
    uint64_t lost_total, sampled_out;
    uint64_t spool_files, spool_bytes;
    bool daemon_up;
    int64_t daemon_pid;
};
/* What `tokentap stats` reports, without printing (spool ingested first). */
int tt_cli_stats_collect(const char *dbopt, struct tt_cli_health *h) TT_WUR;

#endif
