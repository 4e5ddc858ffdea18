/* ui.h - `tokentap ui`: the traces in a browser, live.
 *
 * Three parts:
 *   ui_index.c   the UI's index file: per-trace summaries, filter facets
 *                and an FTS5 index of prompts and answers, built from the
 *                store (opened read-only) and kept up to date by polling it
 *   ui_server.c  the HTTP server (GNU libmicrohttpd): token check, security
 *                headers, the page's assets, the JSON API, server-sent
 *                events; SQLite or ClickHouse store
 *   cli_ui.c     the subcommand
 * tokentapd starts the same server when TOKENTAP_UI is set.
 *
 * Why a separate index file: the store belongs to tokentapd and the UI
 * opens it read-only, yet a traces page over 100k traces cannot GROUP BY a
 * million spans per request. The UI keeps its own SQLite file next to the
 * store (<store>.ui-index, mode 0600: it holds prompt text in its FTS
 * table), and brings it up to date from the spans whose rowid is above the
 * last one it indexed (INSERT OR REPLACE gives a replaced span a new rowid,
 * so re-sent spans are seen too). It can be deleted at any time: it is
 * rebuilt. A store that shrank or was replaced is detected (its rowids go
 * back, or another file is at the path) and the index rebuilt. */
#ifndef TT_UI_H
#define TT_UI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt.h"

struct sqlite3;

/* ------------------------------------------------------------ the index */

/* The cost totals' bucket (cost_roll.q = start_time / TT_UI_ROLL_NS):
 * 15 minutes, the unit of every zone's offset from UTC. */
#define TT_UI_ROLL_NS 900000000000LL

struct tt_ui_index;

/* The default index path of a store: "<store>.ui-index". */
int tt_ui_index_default_path(const char *store, char *buf, size_t n) TT_WUR;

/* Open (creating, 0600) the index at index_path for the store at store
 * (which must exist). A message in err on failure. */
int tt_ui_index_open(const char *store, const char *index_path,
                     struct tt_ui_index **out, char *err, size_t errn) TT_WUR;
void tt_ui_index_close(struct tt_ui_index *ix);      /* NULL-safe */

/* What one update did. changed: the traces it (re)summarised, up to
 * TT_UI_CHANGED_MAX of them (nchanged may be larger). */
#define TT_UI_CHANGED_MAX 64
struct tt_ui_update {
    int64_t spans;            /* spans read from the store */
    bool rerolled;            /* cost totals rebuilt (a span stored again, a reprice) */
    size_t nchanged;
    char changed[TT_UI_CHANGED_MAX][33];
    bool rebuilt;             /* the index was rebuilt from scratch */
};

/* Bring the index up to date with the store; cheap when the store did not
 * change since the last call (PRAGMA data_version). */
int tt_ui_index_update(struct tt_ui_index *ix, struct tt_ui_update *u) TT_WUR;

/* A read connection for one request: the index as "main", read-only, and
 * the store attached read-only as "s" (its spans and runs tables answer
 * unqualified names: the index has none of that name). */
int tt_ui_db_open(const char *store, const char *index_path, struct sqlite3 **db,
                  char *err, size_t errn) TT_WUR;

/* The FTS5 query for what a user typed: each whitespace-separated word as
 * a quoted string (quotes doubled), so that no input is FTS syntax; all
 * words must match. "" (nothing to search) when it has no words. */
int tt_ui_fts_query(const char *typed, char *buf, size_t n) TT_WUR;

/* ------------------------------------------------------------ the server */

struct tt_ui_opts {
    const char *store;        /* SQLite store path (absolute), or NULL */
    const char *ch_url;       /* a clickhouse:// store, or NULL */
    const char *index_path;   /* NULL: tt_ui_index_default_path(store) */
    const char *bind;         /* address, "127.0.0.1" when NULL */
    int port;                 /* 0: any free port */
    const char *token;        /* NULL: a random one */
    int poll_ms;              /* how often the store is checked (default 250) */
};

struct tt_ui;

/* Start serving (threads of libmicrohttpd and the indexer). url gets
 * "http://HOST:PORT/?token=TOKEN". A message in err on failure. */
int tt_ui_start(const struct tt_ui_opts *o, struct tt_ui **out, char *url,
                size_t urln, char *err, size_t errn) TT_WUR;
void tt_ui_stop(struct tt_ui *ui);                   /* NULL-safe */

/* CSV cell: text quoted when it holds , " CR or LF (quotes doubled), and a
 * leading = + - @ TAB or CR prefixed with ' so that a spreadsheet never
 * reads it as a formula. Appends to out. */
int tt_ui_csv_cell(const char *s, struct tt_buf *out) TT_WUR;

#endif
