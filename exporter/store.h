/* store.h - the SQLite store: schema, open, insert.
 *
 * One row per span in table `spans`, columns named exactly as the span
 * contract (DESIGN.md) and struct tt_span; JSON-valued fields are TEXT
 * holding JSON. Rows are idempotent by span_id (INSERT OR REPLACE), so an
 * at-least-once delivery never duplicates. Table `runs` records what
 * `tokentap run` ran. The file is created 0600, in WAL mode.
 *
 * Migration: a store created by an older tokentap lacks the columns of
 * fields added since (conversation_id, metadata, capture, ...); opening it for
 * writing adds every contract column that is missing (ALTER TABLE spans
 * ADD COLUMN), so old rows read back with those fields null. */
#ifndef TT_STORE_H
#define TT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "span.h"
#include "tt.h"

struct sqlite3;
struct sqlite3_stmt;

#define TT_STORE_SCHEMA \
    "CREATE TABLE IF NOT EXISTS spans (\n" \
    "  span_id TEXT PRIMARY KEY, trace_id TEXT NOT NULL, parent_id TEXT,\n" \
    "  kind TEXT NOT NULL, name TEXT, start_time INTEGER NOT NULL,\n" \
    "  end_time INTEGER NOT NULL, status TEXT NOT NULL, error TEXT,\n" \
    "  provider TEXT, operation TEXT, host TEXT, method TEXT, path TEXT,\n" \
    "  http_status INTEGER, http_version TEXT,\n" \
    "  request_model TEXT, response_model TEXT, response_id TEXT,\n" \
    "  stream INTEGER NOT NULL DEFAULT 0, ttft_ms REAL,\n" \
    "  temperature REAL, max_tokens INTEGER, top_p REAL,\n" \
    "  finish_reasons TEXT,\n" \
    "  input_tokens INTEGER NOT NULL DEFAULT 0,\n" \
    "  output_tokens INTEGER NOT NULL DEFAULT 0,\n" \
    "  cache_read_tokens INTEGER NOT NULL DEFAULT 0,\n" \
    "  cache_write_tokens INTEGER NOT NULL DEFAULT 0,\n" \
    "  reasoning_tokens INTEGER NOT NULL DEFAULT 0,\n" \
    "  usage_known INTEGER NOT NULL DEFAULT 0,\n" \
    "  cost_usd REAL NOT NULL DEFAULT 0, cost_known INTEGER NOT NULL DEFAULT 0,\n" \
    "  input TEXT, output TEXT, tool_calls TEXT, truncated INTEGER NOT NULL DEFAULT 0,\n" \
    "  pid INTEGER, exe TEXT, session_id TEXT, tags TEXT,\n" \
    "  conversation_id TEXT, metadata TEXT, replay TEXT, capture TEXT,\n" \
    "  audio_input_tokens INTEGER NOT NULL DEFAULT 0,\n" \
    "  audio_output_tokens INTEGER NOT NULL DEFAULT 0,\n" \
    "  image_input_tokens INTEGER NOT NULL DEFAULT 0,\n" \
    "  image_output_tokens INTEGER NOT NULL DEFAULT 0, service_tier TEXT\n" \
    ");\n" \
    "CREATE INDEX IF NOT EXISTS spans_trace ON spans(trace_id, start_time);\n" \
    "CREATE INDEX IF NOT EXISTS spans_start ON spans(start_time);\n" \
    "CREATE TABLE IF NOT EXISTS runs (\n" \
    "  trace_id TEXT PRIMARY KEY, command TEXT, start_time INTEGER,\n" \
    "  end_time INTEGER, exit_code INTEGER, pid INTEGER\n" \
    ");\n" \
    "CREATE TABLE IF NOT EXISTS counters (\n" \
    "  name TEXT PRIMARY KEY, value INTEGER NOT NULL DEFAULT 0\n" \
    ");\n" \
    "CREATE TABLE IF NOT EXISTS proc_counters (\n" \
    "  proc_id TEXT PRIMARY KEY, pid INTEGER, exe TEXT,\n" \
    "  lost INTEGER NOT NULL DEFAULT 0, sampled_out INTEGER NOT NULL DEFAULT 0,\n" \
    "  reason TEXT, updated INTEGER\n" \
    ");\n"

struct tt_store;

/* Open (creating with mode 0600 and the schema) the store at path.
 * readonly: open for queries only (no create). */
int tt_store_open(const char *path, bool readonly, struct tt_store **out)
    __attribute__((warn_unused_result));
void tt_store_close(struct tt_store *st);          /* NULL-safe */

int tt_store_begin(struct tt_store *st) __attribute__((warn_unused_result));
int tt_store_commit(struct tt_store *st) __attribute__((warn_unused_result));
int tt_store_rollback(struct tt_store *st);
/* Insert or replace one span (inside a transaction). */
int tt_store_put_span(struct tt_store *st, const struct tt_span *s)
    __attribute__((warn_unused_result));

/* Record a run (tokentap run). end_time/exit_code may be 0/-1 at start. */
int tt_store_put_run(struct tt_store *st, const char *trace_id,
                     const char *command, int64_t start, int64_t end,
                     int exit_code, int64_t pid)
    __attribute__((warn_unused_result));

/* Add delta to the daemon counter `name` (table counters: what tokentapd
 * refused or dropped, summed over its lifetimes). Inside a transaction. */
int tt_store_add_counter(struct tt_store *st, const char *name, uint64_t delta)
    __attribute__((warn_unused_result));
/* A traced process's cumulative counters (a "count" frame, wire.h): the
 * row keeps the largest value seen, so replays and reordering are
 * harmless. Inside a transaction. */
int tt_store_put_proc_count(struct tt_store *st, const char *proc_id, int64_t pid,
                            const char *exe, uint64_t lost, uint64_t sampled_out,
                            const char *reason, int64_t now)
    __attribute__((warn_unused_result));
/* The underlying handle, for read queries (CLI). */
struct sqlite3 *tt_store_db(struct tt_store *st);

/* The last failure of a write on st ("what: SQLite's message"), or NULL. */
const char *tt_store_errmsg(const struct tt_store *st);

/* " (the file system holding DIR is full: N bytes free)" when less than
 * 1 MiB is free where path lives, else "". Thread-local buffer. */
const char *tt_store_full_hint(const char *path);

/* What to tell a user whose store at path is corrupt (why: SQLite's
 * finding): the file, and what to do. */
void tt_store_corrupt_msg(char *out, size_t n, const char *path, const char *why);

/* PRAGMA quick_check: TT_OK, or TT_ERR_CORRUPT with SQLite's first finding
 * in msg (TT_ERR_CORRUPT also when the file is not a database at all).
 * Reads the whole file: for `tokentap stats` and the daemon's start on
 * stores of bounded size, not for every command. */
int tt_store_check(struct tt_store *st, char *msg, size_t n) TT_WUR;

/* Fill out from the current row of a SELECT over `spans` (any subset of
 * its columns, matched by name, e.g. SELECT * FROM spans). out is
 * overwritten (not freed first); free it with tt_span_clear. Lets the CLI
 * rebuild the exact span the daemon stored (export --format jsonl). */
int tt_store_span_from_row(struct sqlite3_stmt *row, struct tt_span *out)
    __attribute__((warn_unused_result));

/* Default store path: $TOKENTAP_DB, else
 * ${XDG_DATA_HOME:-$HOME/.local/share}/tokentap/traces.db. Writes into buf
 * (size n), creating the parent directory 0700. */
int tt_store_default_path(char *buf, size_t n) __attribute__((warn_unused_result));

#endif
