/* tokentap.c - the `tokentap` command: dispatch to the subcommands.
 *
 * The subcommands live in cli_run.c, cli_query.c, cli_pricing.c...; this file only
 * picks one, so everything testable is in modules the unit tests link. `tokentap mock`
 * is a program of its own (tokentap-mock, tools/mock_main.c), run in our place. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "gateway.h"

static int mock_main(int argc, char **argv)
{
    char path[PATH_MAX];

    /* mock parses its own options; answer --help here so it is complete. */
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(tt_cli_help("mock"), stdout);
        return TT_CLI_EXIT_OK;
    }
    if (tt_cli_find_helper("tokentap-mock", path, sizeof(path)) != TT_OK) {
        fprintf(stderr, "tokentap mock: the mock program tokentap-mock is missing (next "
                "to tokentap, or in ../libexec/tokentap/); reinstall tokentap (make "
                "install) or run `make`\n");
        return TT_CLI_EXIT_ERR;
    }
    /* exec, not fork: whoever started `tokentap mock` signals the mock itself. */
    execv(path, argv);
    fprintf(stderr, "tokentap mock: %s: %s\n", path, strerror(errno));
    return TT_CLI_EXIT_ERR;
}

static const struct {
    const char *name;
    int (*main)(int argc, char **argv);
} commands[] = {
    { "run", tt_cli_run_main },
    { "export", tt_cli_export_main },
    { "ls", tt_cli_ls_main },
    { "show", tt_cli_show_main },
    { "cost", tt_cli_cost_main },
    { "pricing", tt_cli_pricing_main },
    { "stats", tt_cli_stats_main },
    { "reprice", tt_cli_reprice_main },
    { "tail", tt_cli_tail_main },
    { "doctor", tt_cli_doctor_main },
    { "assert", tt_cli_assert_main },
    { "report", tt_cli_report_main },
    { "ui", tt_cli_ui_main },
    { "mock", mock_main },
    { "record", tt_cli_record_main },
    { "replay", tt_cli_replay_main },
    { "cassette", tt_cli_cassette_main },
    { "gateway", tt_gw_main },
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(tt_cli_help("tokentap"), stderr);
        return TT_CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    tt_config_load("tokentap", TT_CONFIG_CLI);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "help") == 0) {
        const char *topic = argc > 2 ? tt_cli_help(argv[2]) : NULL;
        fputs(topic ? topic : tt_cli_help("tokentap"), stdout);
        return TT_CLI_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 ||
        strcmp(cmd, "version") == 0) {
        printf("tokentap %s\n", TT_CLI_VERSION);
        return TT_CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].main(argc - 1, argv + 1);
    fprintf(stderr, "tokentap: unknown command '%s' (commands: run, record, "
            "replay, cassette, ls, show, cost, tail, assert, doctor, pricing, reprice, "
            "stats, report, ui, export, mock, gateway; see tokentap --help)\n", cmd);
    return TT_CLI_EXIT_USAGE;
}
