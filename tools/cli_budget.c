/* cli_budget.c - `tokentap run --budget USD`: watch a run's spend.
 *
 * While the command runs, the store is read (read-only, this trace's LLM
 * spans only) every TT_CLI_BUDGET_POLL_MS; the first time the summed cost
 * crosses the limit, one warning goes to stderr and, with the kill action,
 * the command's process group gets SIGTERM, then SIGKILL 2 s later. */
#include "cli.h"

#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

int tt_cli_budget_poll(struct tt_cli_budget *b, pid_t pgid, int64_t now_ms)
{
    if (b->limit < 0)
        return TT_OK;
    if (b->exceeded) {
        /* Killing: escalate once the grace period is over. */
        if (b->kill && !b->sigkilled && now_ms - b->term_ms >= 2000) {
            kill(-pgid, SIGKILL);
            b->sigkilled = true;
        }
        return TT_OK;
    }
    if (!b->st) {
        if (access(b->db, F_OK) != 0 || tt_store_open(b->db, true, &b->st) != TT_OK) {
            b->st = NULL;
            return TT_OK;
        }
    }
    sqlite3 *db = tt_store_db(b->st);
    sqlite3_stmt *q = NULL;
    double spent = 0;
    int64_t calls = 0;
    char models[256] = "";

    if (sqlite3_prepare_v2(db,
            "SELECT SUM(CASE WHEN cost_known AND " TT_CLI_BILLED " THEN cost_usd ELSE 0 END), COUNT(*),"
            " GROUP_CONCAT(DISTINCT COALESCE(response_model, request_model))"
            " FROM spans WHERE trace_id = ?1 AND kind = 'llm' AND start_time >= ?2",
            -1, &q, NULL) != SQLITE_OK)
        return TT_ERR_IO;   /* busy or being created: next poll */
    sqlite3_bind_text(q, 1, b->trace, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, b->since);
    if (sqlite3_step(q) == SQLITE_ROW) {
        spent = sqlite3_column_double(q, 0);
        calls = sqlite3_column_int64(q, 1);
        const char *m = (const char *)sqlite3_column_text(q, 2);
        snprintf(models, sizeof(models), "%s", m ? m : "");
    }
    sqlite3_finalize(q);
    b->spent = spent;
    b->calls = calls;
    if (spent <= b->limit)
        return TT_OK;
    b->exceeded = true;
    fprintf(stderr, "tokentap: budget $%.6f exceeded: $%.6f spent after %lld "
            "call%s (model%s %s)%s\n", b->limit, spent, (long long)calls,
            calls == 1 ? "" : "s", strchr(models, ',') ? "s" : "", models,
            b->kill ? "; stopping the command (SIGTERM, SIGKILL in 2 s)" : "");
    if (b->kill) {
        kill(-pgid, SIGTERM);
        b->term_ms = now_ms;
    }
    return TT_OK;
}

void tt_cli_budget_close(struct tt_cli_budget *b)
{
    tt_store_close(b->st);
    b->st = NULL;
}
