/* cli_reprice.c - `tokentap reprice` (stored spans' cost from their stored
 * tokens, after the price table changed) and `tokentap cost --as MODEL /
 * --as-file PRICES` (what the stored usage would have cost elsewhere).
 *
 * Both read spans back with tt_store_span_from_row and price them with the
 * preload's own code (tt_price_span_price, tt_price_cost), so a repriced
 * span costs exactly what a new call with the same usage would. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "price.h"
#include "store.h"

/* Providers whose stored cost is the provider's own statement of the bill
 * (OpenRouter's usage.cost, see tt_price_apply): never repriced. */
static bool provider_states_cost(const char *provider)
{
    return provider && strcasecmp(provider, "openrouter") == 0;
}

/* The price file in effect, as the preload would load it (NULL: none or a
 * bad one, reported). */
static struct tt_price_set *effective_prices(const char *cmd)
{
    char where[4096], err[512];
    const char *path = tt_price_file_path(where, sizeof(where));
    struct tt_price_set *s = NULL;

    if (path && tt_price_set_load(path, &s, err, sizeof(err)) != TT_OK) {
        fprintf(stderr, "tokentap %s: price file: %s; it is ignored, built-in prices "
                "apply\n", cmd, err);
        s = NULL;
    }
    return s;
}

/* Per-model summary of a reprice. */
struct rp_model {
    char model[128];
    long spans;
    double before, after;
};

static struct rp_model *rp_model_get(struct rp_model **v, size_t *n, size_t *cap,
                                     const char *model)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*v)[i].model, model) == 0)
            return &(*v)[i];
    }
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        struct rp_model *nv = realloc(*v, nc * sizeof(*nv));

        if (!nv)
            return NULL;
        *v = nv;
        *cap = nc;
    }
    struct rp_model *m = &(*v)[(*n)++];
    memset(m, 0, sizeof(*m));
    snprintf(m->model, sizeof(m->model), "%s", model);
    return m;
}

static int rp_cmp(const void *a, const void *b)
{
    const struct rp_model *x = a, *y = b;
    double dx = fabs(x->after - x->before), dy = fabs(y->after - y->before);

    return dx < dy ? 1 : dx > dy ? -1 : strcmp(x->model, y->model);
}

int tt_cli_reprice_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "db", required_argument, NULL, 'd' },
        { "trace", required_argument, NULL, 't' },
        { "since", required_argument, NULL, 's' },
        { "dry-run", no_argument, NULL, 'n' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *dbopt = NULL, *trace_opt = NULL;
    char path[PATH_MAX], trace[33];
    int64_t since = 0;
    bool dry = false, json = false;
    struct tt_store *st = NULL;
    struct tt_price_set *ovr = NULL;
    struct rp_model *models = NULL;
    size_t nmodels = 0, capmodels = 0;
    sqlite3_stmt *sel = NULL, *upd = NULL;
    long seen = 0, changed = 0, now_unknown = 0, now_known = 0, kept_provider = 0,
         kept_ttl = 0;
    double before = 0, after = 0;
    int c, ret = TT_CLI_EXIT_ERR;

    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":d:t:s:njh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dbopt = optarg; break;
        case 't': trace_opt = optarg; break;
        case 's':
            if (tt_cli_parse_since(optarg, tt_now_ns(), &since) != TT_OK) {
                fprintf(stderr, "tokentap reprice: --since wants 30m, 24h, 7d, 2w or "
                        "YYYY-MM-DD, not '%s'\n", optarg);
                return TT_CLI_EXIT_USAGE;
            }
            break;
        case 'n': dry = true; break;
        case 'j': json = true; break;
        case 'h': fputs(tt_cli_help("reprice"), stdout); return TT_CLI_EXIT_OK;
        default: return tt_cli_usage_error("reprice", argv, optind, c);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tokentap reprice: unexpected argument '%s'\n", argv[optind]);
        return TT_CLI_EXIT_USAGE;
    }
    if (tt_cli_db_path(dbopt, path, sizeof(path)) != TT_OK) {
        fprintf(stderr, "tokentap reprice: cannot resolve the store path\n");
        return TT_CLI_EXIT_ERR;
    }
    if (access(path, F_OK) != 0) {
        fprintf(stderr, "tokentap reprice: no store at %s\n", path);
        return TT_CLI_EXIT_ERR;
    }
    if (tt_cli_ingest_spool(path) != TT_OK)
        fprintf(stderr, "tokentap reprice: could not ingest the spool; spans parked "
                "there are not repriced\n");
    if (tt_store_open(path, dry, &st) != TT_OK) {
        fprintf(stderr, "tokentap reprice: cannot open %s%s\n", path,
                dry ? "" : " for writing");
        return TT_CLI_EXIT_ERR;
    }
    sqlite3 *db = tt_store_db(st);
    if (trace_opt && (ret = tt_cli_resolve_id("reprice", db, trace_opt, trace)) != TT_CLI_EXIT_OK)
        goto out;
    ret = TT_CLI_EXIT_ERR;
    ovr = effective_prices("reprice");
    if (sqlite3_prepare_v2(db, "SELECT * FROM spans WHERE kind = 'llm'"
                               " AND (?1 IS NULL OR trace_id = ?1) AND start_time >= ?2",
                           -1, &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "UPDATE spans SET cost_usd = ?1, cost_known = ?2"
                               " WHERE span_id = ?3", -1, &upd, NULL) != SQLITE_OK) {
        if (!(dry && sel))
            goto sql_error;
    }
    if (trace_opt)
        sqlite3_bind_text(sel, 1, trace, -1, SQLITE_STATIC);
    sqlite3_bind_int64(sel, 2, since);
    if (!dry && tt_store_begin(st) != TT_OK)
        goto sql_error;
    int rc;
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        struct tt_span s;
        struct tt_price price;

        if (tt_store_span_from_row(sel, &s) != TT_OK) {
            tt_span_clear(&s);
            continue;
        }
        seen++;
        double old = s.cost_usd;
        bool old_known = s.cost_known;
        const char *model = s.response_model ? s.response_model
                            : s.request_model ? s.request_model : "(none)";

        if (provider_states_cost(s.provider)) {
            kept_provider++;
            tt_span_clear(&s);
            continue;
        }
        /* The store keeps cache writes, not which of them were 1-hour
         * writes (a different price): such a span cannot be recomputed. */
        if (s.cache_write_tokens > 0 && tt_price_span_price(&s, ovr, &price) &&
            price.cache_write_1h >= 0 && price.cache_write_1h != price.cache_write) {
            kept_ttl++;
            tt_span_clear(&s);
            continue;
        }
        tt_price_apply_with(&s, ovr, false);
        if (s.cost_known != old_known || fabs(s.cost_usd - old) > 1e-12) {
            struct rp_model *m = rp_model_get(&models, &nmodels, &capmodels, model);

            if (!m) {
                tt_span_clear(&s);
                goto out;
            }
            m->spans++;
            m->before += old_known ? old : 0;
            m->after += s.cost_known ? s.cost_usd : 0;
            changed++;
            now_unknown += old_known && !s.cost_known;
            now_known += !old_known && s.cost_known;
            before += old_known ? old : 0;
            after += s.cost_known ? s.cost_usd : 0;
            if (!dry) {
                sqlite3_reset(upd);
                sqlite3_bind_double(upd, 1, s.cost_usd);
                sqlite3_bind_int(upd, 2, s.cost_known);
                sqlite3_bind_text(upd, 3, s.span_id, -1, SQLITE_TRANSIENT);
                if (sqlite3_step(upd) != SQLITE_DONE) {
                    tt_span_clear(&s);
                    goto sql_error;
                }
            }
        }
        tt_span_clear(&s);
    }
    if (rc != SQLITE_DONE)
        goto sql_error;
    /* Costs changed in place, not by new rows: readers that keep totals
     * (the ui's index) see this counter move and recompute them. */
    if (!dry && changed > 0 &&
        sqlite3_exec(db, "INSERT INTO counters(name, value) VALUES('repriced', 1)"
                         " ON CONFLICT(name) DO UPDATE SET value = value + 1",
                     NULL, NULL, NULL) != SQLITE_OK)
        goto sql_error;
    if (!dry && tt_store_commit(st) != TT_OK)
        goto sql_error;
    qsort(models, nmodels, sizeof(*models), rp_cmp);
    if (json) {
        json_t *o = json_object(), *arr = json_array();

        for (size_t i = 0; i < nmodels; i++) {
            json_t *m = json_object();

            json_object_set_new(m, "model", json_string(models[i].model));
            json_object_set_new(m, "spans", json_integer(models[i].spans));
            json_object_set_new(m, "before_usd", json_real(models[i].before));
            json_object_set_new(m, "after_usd", json_real(models[i].after));
            json_array_append_new(arr, m);
        }
        json_object_set_new(o, "dry_run", json_boolean(dry));
        json_object_set_new(o, "spans", json_integer(seen));
        json_object_set_new(o, "changed", json_integer(changed));
        json_object_set_new(o, "before_usd", json_real(before));
        json_object_set_new(o, "after_usd", json_real(after));
        json_object_set_new(o, "now_unknown", json_integer(now_unknown));
        json_object_set_new(o, "now_known", json_integer(now_known));
        json_object_set_new(o, "kept_provider_cost", json_integer(kept_provider));
        json_object_set_new(o, "kept_cache_ttl_unknown", json_integer(kept_ttl));
        json_object_set_new(o, "price_file", ovr ? json_string(ovr->path) : json_null());
        json_object_set_new(o, "models", arr);
        char *txt = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
        if (txt)
            puts(txt);
        free(txt);
        json_decref(o);
    } else {
        printf("%s %ld of %ld LLM span(s): $%.6f -> $%.6f (%+.6f)%s\n",
               dry ? "would change" : "changed", changed, seen, before, after,
               after - before, dry ? " [dry run: nothing written]" : "");
        if (now_unknown || now_known)
            printf("  %ld now without a price, %ld newly priced\n", now_unknown, now_known);
        if (kept_provider)
            printf("  %ld kept: the provider stated the cost (OpenRouter)\n", kept_provider);
        if (kept_ttl)
            printf("  %ld kept: cache writes whose 5m/1h split the store does not keep\n",
                   kept_ttl);
        for (size_t i = 0; i < nmodels && i < 20; i++)
            printf("  %-48s %6ld span(s)  $%.6f -> $%.6f\n", models[i].model,
                   models[i].spans, models[i].before, models[i].after);
        printf("prices: built-in catalogue%s%s\n", ovr ? " + " : "", ovr ? ovr->path : "");
    }
    ret = TT_CLI_EXIT_OK;
    goto out;
sql_error:
    fprintf(stderr, "tokentap reprice: %s\n", sqlite3_errmsg(db));
    if (!dry)
        tt_store_rollback(st);
    ret = TT_CLI_EXIT_ERR;
out:
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    free(models);
    tt_price_set_free(ovr);
    tt_store_close(st);
    return ret;
}

/* --- cost --as ------------------------------------------------------------ */

struct as_group {
    char key[256];
    long calls, real_unknown, as_unknown;
    double real, as;
};

int tt_cli_cost_as(struct sqlite3 *db, const char *expr, const char *by,
                   const char *trace_id, int64_t since, const char *as_model,
                   const char *as_provider, const char *as_file, const char *format)
{
    struct tt_price_set *ovr = NULL, *file = NULL;
    struct tt_price target;
    struct as_group *g = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *sel = NULL;
    char sql[1024], err[512], label[300];
    bool json = strcmp(format, "json") == 0, csv = strcmp(format, "csv") == 0;
    int ret = TT_CLI_EXIT_ERR, rc;

    if (as_file) {
        if (tt_price_set_load(as_file, &file, err, sizeof(err)) != TT_OK) {
            fprintf(stderr, "tokentap cost: --as-file: %s\n", err);
            return TT_CLI_EXIT_ERR;
        }
        snprintf(label, sizeof(label), "as %s", as_file);
    } else {
        struct tt_price_match m;

        ovr = effective_prices("cost");
        if (tt_price_lookup(ovr, as_provider, as_model, &m) != TT_OK) {
            fprintf(stderr, "tokentap cost: --as %s: no price (see tokentap pricing %s)\n",
                    as_model, as_model);
            goto out;
        }
        target = m.row;
        if (m.price != &m.row)
            target = *m.price;
        snprintf(label, sizeof(label), "as %s/%s", target.provider, target.model);
    }
    snprintf(sql, sizeof(sql), "SELECT %s AS tt_key, * FROM spans WHERE kind = 'llm'"
             " AND (?1 IS NULL OR trace_id = ?1) AND start_time >= ?2", expr);
    if (sqlite3_prepare_v2(db, sql, -1, &sel, NULL) != SQLITE_OK) {
        fprintf(stderr, "tokentap cost: %s\n", sqlite3_errmsg(db));
        goto out;
    }
    if (trace_id)
        sqlite3_bind_text(sel, 1, trace_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(sel, 2, since);
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        struct tt_span s;
        const unsigned char *k = sqlite3_column_text(sel, 0);
        struct as_group *e = NULL;

        if (tt_store_span_from_row(sel, &s) != TT_OK) {
            tt_span_clear(&s);
            continue;
        }
        for (size_t i = 0; i < n && !e; i++) {
            if (strcmp(g[i].key, k ? (const char *)k : "(none)") == 0)
                e = &g[i];
        }
        if (!e) {
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 16;
                struct as_group *ng = realloc(g, nc * sizeof(*ng));

                if (!ng) {
                    tt_span_clear(&s);
                    goto out;
                }
                g = ng;
                cap = nc;
            }
            e = &g[n++];
            memset(e, 0, sizeof(*e));
            snprintf(e->key, sizeof(e->key), "%s", k ? (const char *)k : "(none)");
        }
        e->calls++;
        if (s.cost_known)
            e->real += s.cost_usd;
        else
            e->real_unknown++;
        if (!s.usage_known) {
            e->as_unknown++;
        } else if (file) {
            struct tt_price p;

            double usd;

            if (tt_price_span_price(&s, file, &p) && tt_price_span_cost(&p, &s, &usd) == TT_OK)
                e->as += usd;
            else
                e->as_unknown++;
        } else {
            double usd;

            if (tt_price_span_cost(&target, &s, &usd) == TT_OK)
                e->as += usd;
            else
                e->as_unknown++;
        }
        tt_span_clear(&s);
    }
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "tokentap cost: %s\n", sqlite3_errmsg(db));
        goto out;
    }
    double tr = 0, ta = 0;
    long tc = 0, tru = 0, tau = 0;
    for (size_t i = 0; i < n; i++) {
        tr += g[i].real;
        ta += g[i].as;
        tc += g[i].calls;
        tru += g[i].real_unknown;
        tau += g[i].as_unknown;
    }
    if (json) {
        json_t *o = json_object(), *arr = json_array();

        for (size_t i = 0; i < n; i++) {
            json_t *e = json_object();

            json_object_set_new(e, "key", json_string(g[i].key));
            json_object_set_new(e, "calls", json_integer(g[i].calls));
            json_object_set_new(e, "cost_usd", json_real(g[i].real));
            json_object_set_new(e, "cost_unknown_calls", json_integer(g[i].real_unknown));
            json_object_set_new(e, "as_cost_usd", json_real(g[i].as));
            json_object_set_new(e, "as_unknown_calls", json_integer(g[i].as_unknown));
            json_array_append_new(arr, e);
        }
        json_object_set_new(o, "by", json_string(by));
        json_object_set_new(o, "as", as_file ? json_null()
                                             : json_sprintf("%s/%s", target.provider,
                                                            target.model));
        json_object_set_new(o, "as_file", as_file ? json_string(as_file) : json_null());
        json_object_set_new(o, "groups", arr);
        json_object_set_new(o, "total", json_pack("{s:I,s:f,s:f,s:I,s:I}", "calls",
                                                  (json_int_t)tc, "cost_usd", tr,
                                                  "as_cost_usd", ta, "cost_unknown_calls",
                                                  (json_int_t)tru, "as_unknown_calls",
                                                  (json_int_t)tau));
        char *txt = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
        if (txt)
            puts(txt);
        free(txt);
        json_decref(o);
    } else if (csv) {
        printf("%s,calls,cost_usd,as_cost_usd\n", by);
        for (size_t i = 0; i < n; i++)
            printf("\"%s\",%ld,%.9f,%.9f\n", g[i].key, g[i].calls, g[i].real, g[i].as);
    } else {
        printf("%-40s %7s %14s %14s %8s\n", by, "calls", "cost", label, "ratio");
        for (size_t i = 0; i < n; i++)
            printf("%-40.40s %7ld %14.6f %14.6f %8s\n", g[i].key, g[i].calls, g[i].real,
                   g[i].as, "");
        printf("%-40s %7ld %14.6f %14.6f", "total", tc, tr, ta);
        if (tr > 0)
            printf(" %7.2fx", ta / tr);
        printf("\n");
        if (tru || tau)
            printf("(%ld call(s) without a real cost, %ld without a what-if cost: not "
                   "counted)\n", tru, tau);
        if (!as_file)
            printf("every call's stored tokens priced at %s/%s (%s)\n", target.provider,
                   target.model, ovr ? "price file + built-in" : "built-in catalogue");
    }
    ret = TT_CLI_EXIT_OK;
out:
    sqlite3_finalize(sel);
    free(g);
    tt_price_set_free(ovr);
    tt_price_set_free(file);
    return ret;
}
