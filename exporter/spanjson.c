/* spanjson.c - span -> JSON object (see spanjson.h). */
#include "spanjson.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "spanfield.h"

static json_t *field_json(const struct tt_span *s, const struct tt_spanfield *f)
{
    if (!tt_sf_present(s, f))
        return json_null();
    switch (f->type) {
    case TT_SF_ID:
        return json_string(tt_sf_cid(s, f));
    case TT_SF_STR:
        /* json_string refuses invalid UTF-8; the daemon never stores such
         * text, but be safe for foreign rows: null rather than abort. */
        return json_string(tt_sf_str(s, f));
    case TT_SF_JSON: {
        const char *t = tt_sf_str(s, f);
        json_t *j = json_loads(t, JSON_DECODE_ANY, NULL);
        return j ? j : json_string(t);
    }
    case TT_SF_I64:
    case TT_SF_OPT_I64:
        return json_integer((json_int_t)tt_sf_i64(s, f));
    case TT_SF_F64:
    case TT_SF_OPT_F64:
    case TT_SF_MS: {
        double d = tt_sf_f64(s, f);
        return isfinite(d) ? json_real(d) : json_null();
    }
    case TT_SF_BOOL:
        return json_boolean(tt_sf_bool(s, f->off));
    }
    return json_null();
}

json_t *tt_span_to_json(const struct tt_span *s)
{
    json_t *o = json_object();

    if (!o)
        return NULL;
    for (size_t i = 0; i < tt_spanfields_n; i++) {
        json_t *v = field_json(s, &tt_spanfields[i]);
        /* json_object_set_new steals v, also on failure; a NULL v (invalid
         * UTF-8 string) becomes null. */
        if (json_object_set_new(o, tt_spanfields[i].name, v ? v : json_null()) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

int tt_span_to_jsonl(const struct tt_span *s, struct tt_buf *out)
{
    json_t *o = tt_span_to_json(s);
    char *text;
    int rc;

    if (!o)
        return TT_ERR_NOMEM;
    /* 15 significant digits: costs print as 0.00036, not 0.00036000000000000002. */
    text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(o);
    if (!text)
        return TT_ERR_NOMEM;
    rc = tt_buf_append_str(out, text);
    if (rc == TT_OK)
        rc = tt_buf_append(out, "\n", 1);
    free(text);
    return rc;
}
