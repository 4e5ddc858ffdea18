# gen_prices.awk - data/prices.tsv -> C table (struct tt_price, price.h).
# Columns (tab-separated, '#' comments, '-' or empty = not set):
#  provider model input output cache_read cache_write cache_write_1h
#  reasoning tier_threshold tier_input tier_output tier_cache_read
#  tier_cache_write source date      (prices: USD per 1M tokens)
BEGIN {
    FS = "\t"
    print "/* Generated from data/prices.tsv by tools/gen_prices.awk. Do not edit. */"
    print "#include \"price.h\""
    print "const struct tt_price tt_price_table[] = {"
    n = 0
}
function num(v) { return (v == "" || v == "-") ? "-1" : v }
function cstr(v) { gsub(/\\/, "\\\\", v); gsub(/"/, "\\\"", v); return "\"" v "\"" }
/^#/ || NF == 0 { next }
$1 == "provider" { next }
{
    if (NF < 15) { printf("prices.tsv:%d: %d columns, want 15\n", NR, NF) > "/dev/stderr"; exit 1 }
    thr = ($9 == "" || $9 == "-") ? "0" : $9
    printf("    { %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s },\n",
           cstr($1), cstr($2), num($3), num($4), num($5), num($6), num($7),
           num($8), thr, num($10), num($11), num($12), num($13), cstr($14), cstr($15))
    n++
}
END {
    print "};"
    printf("const size_t tt_price_table_len = %d;\n", n)
}
