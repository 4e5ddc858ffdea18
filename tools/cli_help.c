/* cli_help.c - the --help texts of `tokentap` and its subcommands.
 *
 * Kept together so the texts read as one manual and stay consistent. */
#include "cli.h"

#include <string.h>

static const struct {
    const char *cmd;
    const char *text;
} helps[] = {
    { "tokentap",
      "tokentap " TT_CLI_VERSION " - trace and cost the LLM API calls of any program\n"
      "\n"
      "Usage: tokentap COMMAND [OPTIONS]\n"
      "\n"
      "Commands:\n"
      "  run [--db FILE] [--quiet] -- CMD [ARG...]\n"
      "                      run CMD with tracing; print a per-model summary\n"
      "  ls [--json]         list traces, newest first\n"
      "  show ID [--json]    the calls of one trace (ID: trace id, unique prefix, or span id)\n"
      "  cost [--by model|provider|process] [--trace ID] [--json]\n"
      "                      token and dollar totals\n"
      "  pricing [MODEL] [--provider P] [--json]\n"
      "                      the price that applies to MODEL and why, or the price table\n"
      "  export [--format jsonl] [--trace ID]\n"
      "                      spans as JSON lines (the export contract)\n"
      "  mock [OPTIONS]      a local fake LLM provider for tests and demos\n"
      "\n"
      "Every command takes --db FILE and --help. Run `tokentap COMMAND --help` for details.\n"
      "\n"
      "Environment:\n"
      "  TOKENTAP_HOME      home of the store, daemon socket and spool\n"
      "                     (default ${XDG_DATA_HOME:-~/.local/share}/tokentap)\n"
      "  TOKENTAP_DB        the store (default $TOKENTAP_HOME/traces.db)\n"
      "  TOKENTAP_SOCKET    the socket of a running tokentapd to use\n"
      "  TOKENTAP_PRICING   a JSON price file overriding or adding prices\n"
      "  TRACEPARENT        W3C trace context: `run` joins that trace\n"
      "  NO_COLOR           no colour in the summary\n"
      "\n"
      "Exit status: 0 ok, 1 error, 2 usage error; `run` exits with CMD's status\n"
      "(128+N when CMD was killed by signal N).\n" },
    { "run",
      "Usage: tokentap run [--db FILE] [--quiet] -- CMD [ARG...]\n"
      "\n"
      "Run CMD with every LLM API call it (or any process it starts) makes traced:\n"
      "the preload library is added to LD_PRELOAD, spans go to tokentapd and are\n"
      "stored in the store. After CMD exits, a summary per model (calls, input,\n"
      "output and cached tokens, cost) is printed to stderr.\n"
      "\n"
      "A running tokentapd (TOKENTAP_SOCKET, or the default socket in TOKENTAP_HOME)\n"
      "is used if it writes the same store; otherwise a private daemon is started\n"
      "for the run and stopped after it.\n"
      "\n"
      "Options:\n"
      "  --db FILE     store to write (default $TOKENTAP_DB, else\n"
      "                $TOKENTAP_HOME/traces.db, see tokentap --help)\n"
      "  -q, --quiet   no summary\n"
      "  -h, --help    this text\n"
      "\n"
      "CMD sees: LD_PRELOAD (the preload first), TOKENTAP_SOCKET, TOKENTAP_DB and\n"
      "TRACEPARENT=00-<trace>-<span>-01. If TRACEPARENT is already set and valid,\n"
      "the run joins that trace.\n"
      "\n"
      "SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to tokentap are passed on to CMD.\n"
      "Exit status: CMD's (128+N if killed by signal N; 127 not found; 126 cannot\n"
      "execute); 1 if tracing could not be set up; 2 on a usage error.\n"
      "\n"
      "Example:\n"
      "  tokentap run -- python3 agent.py\n" },
    { "export",
      "Usage: tokentap export [--format jsonl] [--trace ID] [--db FILE]\n"
      "\n"
      "Write the stored spans to stdout, one JSON object per line, ordered by\n"
      "start time. The objects have exactly the fields of the span contract\n"
      "(trace_id, span_id, ..., cost_usd, cost_known, usage_known, ...).\n"
      "\n"
      "Options:\n"
      "  --format jsonl   output format (only jsonl)\n"
      "  --trace ID       only this trace (full id, unique prefix, or a span id)\n"
      "  --db FILE        store to read (default $TOKENTAP_DB, else the default store)\n"
      "  -h, --help       this text\n"
      "\n"
      "Example:\n"
      "  tokentap export --trace 4bf92f | jq -r '.response_model'\n" },
    { "ls",
      "Usage: tokentap ls [--db FILE] [--json] [--limit N]\n"
      "\n"
      "List traces, newest first: short trace id, start time, LLM calls, input and\n"
      "output tokens, cost, errors, exit status and command (from `tokentap run`,\n"
      "else the executable that made the calls). A cost of '?' means unknown\n"
      "(model not in the price table, or no usage reported); '+?' means partly.\n"
      "\n"
      "Options:\n"
      "  --json        a JSON array (full trace ids, times in ns and RFC 3339)\n"
      "  --limit N     at most N traces (default 50; 0 = all)\n"
      "  --db FILE     store to read\n"
      "  -h, --help    this text\n" },
    { "show",
      "Usage: tokentap show ID [--db FILE] [--json]\n"
      "\n"
      "Show the calls of one trace in time order: time, provider, model, status\n"
      "and HTTP status, streaming, time to first token and latency (ms), tokens\n"
      "(input, output, cached, reasoning) and cost; failed calls with their error.\n"
      "ID is a trace id, a unique prefix of one, or a span id (or prefix).\n"
      "\n"
      "Options:\n"
      "  --json        the run record, every span (contract fields) and totals\n"
      "  --db FILE     store to read\n"
      "  -h, --help    this text\n" },
    { "cost",
      "Usage: tokentap cost [--by model|provider|process] [--trace ID] [--db FILE] [--json]\n"
      "\n"
      "Totals of the LLM calls, grouped: calls, input, output, cache_read,\n"
      "cache_write and reasoning tokens, cost in USD, and a total row. Input\n"
      "includes cached tokens and output includes reasoning tokens. Calls whose\n"
      "cost is unknown are counted and marked '?': the totals exclude them.\n"
      "\n"
      "Options:\n"
      "  --by KEY      model (response model, else request model; default),\n"
      "                provider, or process (executable and pid)\n"
      "  --trace ID    only this trace (full id, unique prefix, or a span id)\n"
      "  --json        JSON output\n"
      "  --db FILE     store to read\n"
      "  -h, --help    this text\n" },
    { "pricing",
      "Usage: tokentap pricing [MODEL] [--provider P] [--json]\n"
      "\n"
      "With MODEL: the price a call to MODEL is charged (USD per 1M tokens: input,\n"
      "output, cache read, cache write 5m/1h, reasoning, long-context tier), where it\n"
      "comes from (a built-in row with its source and date, or the price file) and\n"
      "the normalisation steps that led there (vendor prefixes such as models/ or\n"
      "global., Bedrock -vN:M versions, -YYYY-MM-DD/-YYYYMMDD/@YYYYMMDD dates,\n"
      "-latest, then the longest prefix), or why no price applies (unknown,\n"
      "ambiguous, Bedrock regional profile). The lookup is the one the preload runs\n"
      "on every call.\n"
      "Without MODEL: the whole table, price-file rows first.\n"
      "\n"
      "Options:\n"
      "  --provider P  the provider as tokentap names it (openai, anthropic,\n"
      "                gcp.gemini, gcp.vertex_ai, aws.bedrock, azure.ai.openai,\n"
      "                mistral_ai, groq, deepseek, ...); default: any\n"
      "  --json        JSON output\n"
      "  -h, --help    this text\n"
      "\n"
      "TOKENTAP_PRICING=FILE adds or overrides prices (format: README.md, Prices).\n"
      "Exit status: 0 price found (or table listed), 1 no price, 2 usage error.\n"
      "\n"
      "Example:\n"
      "  tokentap pricing us.anthropic.claude-opus-4-7 --provider aws.bedrock\n" },
    { "mock",
      "Usage: tokentap mock [--port N] [--host ADDR] [--plain] [--cert-out FILE]\n"
      "                     [--cert FILE --key FILE] [--port-file FILE]\n"
      "                     [--usage in=N,out=N,cached=N,cache_write=N,reasoning=N] [--quiet]\n"
      "                     [--no-h2]\n"
      "\n"
      "A local fake LLM provider (OpenAI /v1/chat/completions, Anthropic /v1/messages,\n"
      "Ollama /api/chat and /api/generate) over HTTPS (self-signed; HTTP/2 by ALPN\n"
      "unless --no-h2) or plain HTTP, for tests and demos. Runs until SIGINT.\n" },
};

const char *tt_cli_help(const char *cmd)
{
    for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
        if (strcmp(helps[i].cmd, cmd) == 0)
            return helps[i].text;
    return NULL;
}
