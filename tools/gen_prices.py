#!/usr/bin/env python3
"""gen_prices.py - data/catalogue.tsv -> C price table (build time, offline).

The table is loaded into every traced process with the preload, so it is
laid out to cost nothing until a span is priced: no pointers (a pointer in
a shared object is a relocation the loader must apply at every exec), only
offsets into one string blob and indexes into one array of distinct prices,
all const (read-only pages, shared, touched only by a lookup). Rows are
sorted by lower-cased model name, then provider, and every distinct name
is in an open-addressing hash table (tt_price_slots: the name's first row),
so a lookup is one hash of the name and, mostly, one string comparison
(preload/price.c). What a lookup would otherwise search for at run time is
decided here: tt_price_snap_apart lists the rows of models whose dated
snapshots cost something else (a date the catalogue does not list has no
price).

The table is checked here, because a typo in a price is a silently wrong
bill at run time: every error names the file and line and no C is printed
when any row is bad."""
import re
import sys

PRICE_COLS = [
    "input", "output", "cache_read", "cache_write", "cache_write_1h",
    "reasoning", "tier_input", "tier_output", "tier_cache_read",
    "tier_cache_write", "audio_input", "audio_output", "image_input",
    "image_output", "flex_input", "flex_output", "flex_cache_read",
    "priority_input", "priority_output", "priority_cache_read",
    "batch_input", "batch_output",
]
STR_COLS = ["provider", "model", "flags", "deprecated", "litellm_key", "source", "date"]
# price_table.h enum tt_price_str order
SMALL_COLS = ["provider", "flags", "deprecated", "source", "date"]
NUM = re.compile(r"^[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$")
DATE = re.compile(r"^[0-9]{4}-[01][0-9]-[0-3][0-9]$")


def cstr_bytes(b):
    out = []
    for ch in b:
        c = chr(ch)
        if c in '"\\?':
            out.append("\\" + c)
        elif 0x20 <= ch < 0x7f:
            out.append(c)
        else:
            out.append("\\%03o" % ch)
    return "".join(out)


HASH_MUL = 16777619
# price.c tt_price_profiles, in bytes
PROFILES = [b"global.", b"us.", b"eu.", b"apac.", b"au.", b"jp.", b"ca.", b"us-gov."]
FIB = 0x9E3779B1


def name_hash(b):
    """price.c tt_price_hash: h = h * M + c over the lower-cased bytes,
    mod 2^32 (a polynomial, so price.c can hash "prefix" + "name" from
    the two parts)."""
    h = 0
    for c in b:
        h = (h * HASH_MUL + c) & 0xffffffff
    return h


def slot_of(h, bits):
    return ((h * FIB) & 0xffffffff) >> (32 - bits)


def is_date_suffix(s):
    """price.c tt_price_is_date_suffix: -YYYY-MM-DD, -YYYYMMDD, @YYYYMMDD
    (the year starting 20), -MMDD (a valid month and day)."""
    s = s.decode()
    if len(s) == 11:
        return re.match(r"^-20[0-9]{2}-[0-9]{2}-[0-9]{2}$", s) is not None
    if len(s) == 9:
        return re.match(r"^[-@]20[0-9]{6}$", s) is not None
    if len(s) == 5 and re.match(r"^-[0-9]{4}$", s):
        return 1 <= int(s[1:3]) <= 12 and 1 <= int(s[3:5]) <= 31
    return False


def price_key(r):
    return tuple(r[c] for c in PRICE_COLS) + (r["tier_threshold"],)


def main(path):
    bad = False
    cols = None
    rows = []
    seen = {}

    def fail(ln, msg):
        nonlocal bad
        sys.stderr.write("%s:%d: %s\n" % (path, ln, msg))
        bad = True

    with open(path, encoding="utf-8") as f:
        for ln, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            cells = line.split("\t")
            if cols is None:
                cols = cells
                need = set(PRICE_COLS + STR_COLS + ["tier_threshold"])
                if not need <= set(cols):
                    fail(ln, "header lacks %s" % sorted(need - set(cols)))
                    break
                continue
            if len(cells) != len(cols):
                fail(ln, "%d columns, want %d (tab-separated)" % (len(cells), len(cols)))
                continue
            r = dict(zip(cols, cells))
            if not re.match(r"^[a-z0-9_.]+$", r["provider"]):
                fail(ln, "provider '%s' is not an OTel-style provider name" % r["provider"])
            if not r["model"] or re.search(r'[\s"\\]', r["model"]):
                fail(ln, "model '%s' is empty or has a blank, quote or backslash" % r["model"])
            key = (r["provider"], r["model"].lower())
            if key in seen:
                fail(ln, "duplicate (provider, model) %s/%s, first on line %d" % (r["provider"], r["model"], seen[key]))
            seen[key] = ln
            for c in PRICE_COLS:
                v = r[c]
                if v in ("", "-"):
                    r[c] = None
                elif not NUM.match(v):
                    fail(ln, "%s: '%s' is not a price (want a number or '-')" % (c, v))
                    r[c] = None
                else:
                    r[c] = float(v)
            if r["input"] is None or r["output"] is None:
                fail(ln, "input and output prices are required")
            thr = r["tier_threshold"]
            if thr in ("", "-"):
                r["tier_threshold"] = 0
            elif not re.match(r"^[1-9][0-9]*$", thr):
                fail(ln, "tier_threshold '%s' is not a token count" % thr)
                r["tier_threshold"] = 0
            else:
                r["tier_threshold"] = int(thr)
            tiers = any(r[c] is not None for c in PRICE_COLS if c.startswith("tier_"))
            if tiers != (r["tier_threshold"] > 0):
                fail(ln, "tier prices and tier_threshold go together")
            if not r["source"] or r["source"] == "-":
                fail(ln, "source is required")
            if not DATE.match(r["date"]):
                fail(ln, "date '%s' is not YYYY-MM-DD" % r["date"])
            if r["deprecated"] != "-" and not DATE.match(r["deprecated"]):
                fail(ln, "deprecated '%s' is not YYYY-MM-DD or '-'" % r["deprecated"])
            rows.append(r)
    if bad:
        return 1
    if not rows:
        sys.stderr.write("%s: no price rows\n" % path)
        return 1

    rows.sort(key=lambda r: (r["model"].lower().encode(), r["provider"].encode()))
    blob = bytearray(b"\0")          # offset 0 = ""
    offs = {"": 0}

    def s(v):
        if v == "-":
            v = ""
        if v not in offs:
            offs[v] = len(blob)
            blob.extend(v.encode() + b"\0")
        return offs[v]
    vals = [-1.0]                    # index 0 = not set
    vidx = {}

    def p(v):
        if v is None:
            return 0
        if v not in vidx:
            vidx[v] = len(vals)
            vals.append(v)
        return vidx[v]
    # The columns with few distinct values (providers, flags, dates,
    # sources: tens each) are uint16 indexes into tt_price_soff, a table
    # of blob offsets; model and key (one per row) are blob offsets. The
    # tier threshold is stored in thousands of tokens (uint16).
    soff, sidx = [], {}

    def small(v):
        o = s(v)
        if o not in sidx:
            sidx[o] = len(soff)
            soff.append(o)
        return sidx[o]
    recs = []
    for r in rows:
        thr = r["tier_threshold"]
        if thr % 1000 or thr // 1000 > 0xffff:
            sys.stderr.write("%s: %s/%s: tier_threshold %d is not a multiple of 1000 "
                             "below 65,536,000 (the table stores thousands)\n"
                             % (path, r["provider"], r["model"], thr))
            return 1
        recs.append("{%d,%d,{%s},%d,{%s}}" % (
            s(r["model"]), s(r["litellm_key"]),
            ",".join(str(small(r[c])) for c in SMALL_COLS), thr // 1000,
            ",".join(str(p(r[c])) for c in PRICE_COLS)))
    if len(vals) > 65535 or len(soff) > 65535 or len(blob) > 0xffffffff:
        sys.stderr.write("%s: too many distinct prices or strings for the uint16 "
                         "indexes\n" % path)
        return 1
    o = sys.stdout
    o.write("/* Generated from %s by tools/gen_prices.py. Do not edit. */\n" % path)
    o.write('#include "price_table.h"\n')
    o.write("const char tt_price_blob[] =\n")
    b = bytes(blob)
    for i in range(0, len(b), 64):
        o.write('    "%s"\n' % cstr_bytes(b[i:i + 64]))
    o.write("    ;\n")
    o.write("const double tt_price_vals[] = {\n")
    for i in range(0, len(vals), 6):
        o.write("    " + ", ".join(repr(v) for v in vals[i:i + 6]) + ",\n")
    o.write("};\n")
    o.write("const uint32_t tt_price_soff[] = {\n")
    for i in range(0, len(soff), 12):
        o.write("    " + ", ".join(str(v) for v in soff[i:i + 12]) + ",\n")
    o.write("};\n")
    o.write("const struct tt_price_rec tt_price_recs[] = {\n")
    for rec in recs:
        o.write("    %s,\n" % rec)
    o.write("};\n")
    o.write("const size_t tt_price_recs_len = %d;\n" % len(recs))
    # The hash table: every distinct lower-cased name -> its first row + 1
    # (0 = empty slot), linear probing, load <= 0.65 (price.c's
    # tt_price_hash and tt_price_slot are the same arithmetic).
    keys = [r["model"].lower().encode() for r in rows]
    firsts = {}
    for i, k in enumerate(keys):
        firsts.setdefault(k, i)
    bits = 4
    while len(firsts) > 0.65 * (1 << bits):
        bits += 1
    size = 1 << bits
    slots = [0] * size
    longest = 0
    for k, i in firsts.items():
        j = slot_of(name_hash(k), bits)
        probes = 1
        while slots[j]:
            j = (j + 1) & (size - 1)
            probes += 1
        slots[j] = i + 1
        longest = max(longest, probes)
    if len(rows) >= 0xffff:
        sys.stderr.write("%s: too many rows for the uint16 hash slots\n" % path)
        return 1
    o.write("/* %d names in %d slots, longest probe %d */\n" % (len(firsts), size, longest))
    o.write("const unsigned tt_price_slots_bits = %d;\n" % bits)
    o.write("const uint16_t tt_price_slots[%d] = {\n" % size)
    for i in range(0, size, 16):
        o.write("    " + ", ".join(str(v) for v in slots[i:i + 16]) + ",\n")
    o.write("};\n")
    # Rows of models whose dated snapshots (same provider, the name + a
    # date suffix price.c's tt_price_is_date_suffix accepts) cost
    # something else: a date without its own row is not priced by them.
    idx = {(r["provider"], keys[i]): i for i, r in enumerate(rows)}
    apart = set()
    for i, r in enumerate(rows):
        m = keys[i]
        for n in (11, 9, 5):
            if len(m) > n and is_date_suffix(m[-n:]):
                b = idx.get((r["provider"], m[:-n]))
                if b is not None and price_key(rows[b]) != price_key(r):
                    apart.add(b)
    apart = sorted(apart)
    o.write("const uint16_t tt_price_snap_apart[] = {\n")
    for i in range(0, len(apart), 16):
        o.write("    " + ", ".join(str(v) for v in apart[i:i + 16]) + ",\n")
    o.write("    0xffff,\n};\n")
    o.write("const size_t tt_price_snap_apart_len = %d;\n" % len(apart))
    # Bedrock inference profiles of one model (aws.bedrock rows named
    # PROFILE + the same id; price.c's tt_price_profiles list) that do not
    # all cost the same: price.c compares a profile without a row of its
    # own with every sibling only for these; for the others one sibling
    # speaks for all.
    groups = {}
    for i, r in enumerate(rows):
        if r["provider"] != "aws.bedrock":
            continue
        for pre in PROFILES:
            if keys[i].startswith(pre) and len(keys[i]) > len(pre):
                groups.setdefault(keys[i][len(pre):], []).append(i)
    mixed = sorted(i for g in groups.values()
                   if len({price_key(rows[j]) for j in g}) > 1 for i in g)
    o.write("const uint16_t tt_price_profile_mixed[] = {\n")
    for i in range(0, len(mixed), 16):
        o.write("    " + ", ".join(str(v) for v in mixed[i:i + 16]) + ",\n")
    o.write("    0xffff,\n};\n")
    o.write("const size_t tt_price_profile_mixed_len = %d;\n" % len(mixed))
    o.write("const size_t tt_price_vals_len = %d;\n" % len(vals))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "data/catalogue.tsv"))
