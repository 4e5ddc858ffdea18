/* cli_ui.c - `tokentap ui`: serve the traces to a browser (ui.h). Prints
 * the URL with its access token and serves until SIGINT/SIGTERM; opens
 * nothing by itself. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "ui.h"

static volatile sig_atomic_t ui_stop;

static void on_signal(int sig)
{
    (void)sig;
    ui_stop = 1;
}

int tt_cli_ui_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "db", required_argument, NULL, 'd' },
        { "store", required_argument, NULL, 'S' },
        { "port", required_argument, NULL, 'p' },
        { "bind", required_argument, NULL, 'b' },
        { "index", required_argument, NULL, 'i' },
        { "url-file", required_argument, NULL, 'u' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *dbopt = NULL, *store_opt = NULL, *db = NULL, *ch = NULL, *url_file = NULL;
    struct tt_ui_opts o = { 0 };
    char path[PATH_MAX], url[512], err[1024] = "";
    struct tt_ui *ui = NULL;
    long port = 0;
    int c;

    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":d:S:p:b:i:u:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dbopt = optarg; break;
        case 'S': store_opt = optarg; break;
        case 'p': {
            char *end;
            port = strtol(optarg, &end, 10);
            if (*end || end == optarg || port < 0 || port > 65535) {
                fprintf(stderr, "tokentap ui: bad --port '%s' (0 to 65535; 0: any free)\n",
                        optarg);
                return TT_CLI_EXIT_USAGE;
            }
            break;
        }
        case 'b': o.bind = optarg; break;
        case 'i': o.index_path = optarg; break;
        case 'u': url_file = optarg; break;
        case 'h': fputs(tt_cli_help("ui"), stdout); return TT_CLI_EXIT_OK;
        default: return tt_cli_usage_error("ui", argv, optind, c);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tokentap ui: unexpected argument '%s'\n", argv[optind]);
        return TT_CLI_EXIT_USAGE;
    }
    if (tt_cli_store_pick(store_opt, dbopt, getenv("TOKENTAP_STORE"), &db, &ch) != TT_OK) {
        fprintf(stderr, "tokentap ui: --store and --db both name the store; give one\n");
        return TT_CLI_EXIT_USAGE;
    }
    o.port = (int)port;
    /* A trace's JSON is built in a connection thread, thousands of small
     * objects at a time: keep freed memory instead of giving it back to
     * the kernel after each request (page faults were half of the time of
     * a 1,000-span trace). */
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_TOP_PAD, 64 << 20);
    mallopt(M_ARENA_MAX, 2);
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    o.token = getenv("TOKENTAP_UI_TOKEN");
    if (o.token && !*o.token)
        o.token = NULL;
    if (ch) {
        o.ch_url = ch;
    } else {
        if (tt_cli_db_path(db, path, sizeof(path)) != TT_OK) {
            fprintf(stderr, "tokentap ui: cannot resolve the store path %s\n",
                    db ? db : "(default)");
            return TT_CLI_EXIT_ERR;
        }
        if (tt_cli_ingest_spool(path) != TT_OK)
            fprintf(stderr, "tokentap ui: could not ingest the spool; spans parked "
                    "there are not shown yet\n");
        if (access(path, F_OK) != 0) {
            fprintf(stderr, "tokentap ui: no traces yet (store %s does not exist); "
                    "trace a program with: tokentap run -- CMD\n", path);
            return TT_CLI_EXIT_ERR;
        }
        o.store = path;
    }
    if (tt_ui_start(&o, &ui, url, sizeof(url), err, sizeof(err)) != TT_OK) {
        fprintf(stderr, "tokentap ui: %s\n", err);
        return TT_CLI_EXIT_ERR;
    }
    if (url_file) {
        /* For scripts and tests: the URL (with its token) in a 0600 file. */
        FILE *f = NULL;
        mode_t old = umask(077);
        f = fopen(url_file, "w");
        umask(old);
        if (!f || fprintf(f, "%s\n", url) < 0 || fclose(f) != 0) {
            fprintf(stderr, "tokentap ui: cannot write %s: %s\n", url_file, strerror(errno));
            tt_ui_stop(ui);
            return TT_CLI_EXIT_ERR;
        }
    }
    printf("tokentap ui: serving %s\n  %s\n(the token in the URL is the access key: "
           "keep it private; Ctrl-C stops)\n", ch ? "ClickHouse" : path, url);
    fflush(stdout);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    while (!ui_stop)
        pause();
    tt_ui_stop(ui);
    return TT_CLI_EXIT_OK;
}
