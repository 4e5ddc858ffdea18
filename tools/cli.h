/* cli.h - the `tokentap` command line: subcommands and their pure helpers.
 *
 * tokentap.c only dispatches; each subcommand lives in its own module
 * (cli_run.c, cli_query.c) and the pieces that need no process, socket or
 * terminal live in cli_util.c so the unit tests can reach them. All
 * subcommand entry points return the process exit status: 0 ok, 1 error,
 * 2 usage (TT_CLI_EXIT_*); `run` returns the traced command's status. */
#ifndef TT_CLI_H
#define TT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

/* Aggregate LLM spans by "model" (COALESCE(response_model, request_model)),
 * "provider" or "process" (exe + pid), optionally for one trace
 * (trace_id non-NULL) and a start_time window [from, to] (from == 0: no
 * window). Groups come most expensive first; *out is malloc'd (free()),
 * possibly NULL when *n == 0. TT_ERR_PARSE for an unknown `by`. */
int tt_cli_query_groups(struct sqlite3 *db, const char *by,
                        const char *trace_id, int64_t from, int64_t to,
                        struct tt_cli_group **out, size_t *n) TT_WUR;

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

#endif
