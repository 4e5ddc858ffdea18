# gen_prices.awk - data/prices.tsv -> C table (struct tt_price, price.h).
# Columns (tab-separated, '#' comments, '-' or empty = not set):
#  provider model input output cache_read cache_write cache_write_1h
#  reasoning tier_threshold tier_input tier_output tier_cache_read
#  tier_cache_write source date      (prices: USD per 1M tokens)
#
# The table is checked here, at build time, because a typo in a price is a
# silently wrong bill at run time: every error names the file and line, and
# no C is printed when any row is bad (the build then fails on the exit code
# instead of compiling a partial table).
BEGIN {
    FS = "\t"
    n = 0
    bad = 0
}
function fail(msg) {
    printf("%s:%d: %s\n", FILENAME, FNR, msg) > "/dev/stderr"
    bad = 1
}
# A price: a plain non-negative decimal, optionally with an exponent; the
# text is pasted into C as a double literal, so nothing else may pass.
function price(col, name) {
    if ($col == "" || $col == "-")
        return "-1"
    if ($col !~ /^[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/) {
        fail(sprintf("column %d (%s): '%s' is not a price (want a number or '-')", col, name, $col))
        return "-1"
    }
    return $col
}
function cstr(v) { gsub(/\\/, "\\\\", v); gsub(/"/, "\\\"", v); return "\"" v "\"" }
/^#/ || NF == 0 { next }
$1 == "provider" { next }
{
    if (NF != 15) { fail(sprintf("%d columns, want 15 (tab-separated)", NF)); next }
    if ($1 !~ /^[a-z0-9_.]+$/) fail(sprintf("provider '%s' is not an OTel provider name", $1))
    if ($2 == "" || $2 ~ /[ \t"\\]/) fail(sprintf("model '%s' is empty or has a blank, quote or backslash", $2))
    key = $1 "\t" $2
    if (key in seen) fail(sprintf("duplicate (provider, model) %s/%s, first on line %d", $1, $2, seen[key]))
    seen[key] = FNR
    in_p = price(3, "input"); out_p = price(4, "output")
    if (in_p == "-1" || out_p == "-1") fail("input and output prices are required")
    cr = price(5, "cache_read"); cw = price(6, "cache_write"); cw1h = price(7, "cache_write_1h")
    rs = price(8, "reasoning")
    thr = "0"
    if ($9 != "" && $9 != "-") {
        if ($9 !~ /^[1-9][0-9]*$/) fail(sprintf("column 9 (tier_threshold): '%s' is not a token count", $9))
        else thr = $9
    }
    ti = price(10, "tier_input"); to = price(11, "tier_output")
    tcr = price(12, "tier_cache_read"); tcw = price(13, "tier_cache_write")
    if (thr == "0" && (ti != "-1" || to != "-1" || tcr != "-1" || tcw != "-1"))
        fail("tier prices without a tier_threshold")
    if (thr != "0" && ti == "-1" && to == "-1" && tcr == "-1" && tcw == "-1")
        fail("tier_threshold without any tier price")
    if ($14 == "" || $14 == "-") fail("source is required")
    if ($15 !~ /^[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]$/) fail(sprintf("date '%s' is not YYYY-MM-DD", $15))
    row[n++] = sprintf("    { %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s },",
                       cstr($1), cstr($2), in_p, out_p, cr, cw, cw1h, rs, thr,
                       ti, to, tcr, tcw, cstr($14), cstr($15))
}
END {
    if (bad)
        exit 1
    if (n == 0) {
        printf("%s: no price rows\n", FILENAME) > "/dev/stderr"
        exit 1
    }
    print "/* Generated from data/prices.tsv by tools/gen_prices.awk. Do not edit. */"
    print "#include \"price.h\""
    print "const struct tt_price tt_price_table[] = {"
    for (i = 0; i < n; i++)
        print row[i]
    print "};"
    printf("const size_t tt_price_table_len = %d;\n", n)
}
