/* coreops.c - the capture core's table for the hook object (coreops.h).
 * The only symbol libtokentap-core.so exports (preload/core.map). */
#include "coreops.h"
#include "defer.h"
#include "redirect.h"
#include "wire.h"

TT_EXPORT const struct tt_core_ops tt_core_ops = {
    .version = TT_CORE_OPS_VERSION,
    .size = sizeof(struct tt_core_ops),
    .conn_write = tt_conn_write,
    .conn_read = tt_conn_read,
    .conn_eof = tt_conn_eof,
    .conn_close = tt_conn_close,
    .conn_is_llm = tt_conn_is_llm,
    .conn_ignored = tt_conn_ignored,
    .conn_ignore = tt_conn_ignore,
    .curl_setopt = tt_curl_setopt,
    .curl_record = tt_curl_record,
    .curl_begin = tt_curl_begin,
    .curl_cancel = tt_curl_cancel,
    .curl_done = tt_curl_done,
    .curl_drop = tt_curl_drop,
    .curl_dup = tt_curl_dup,
    .curl_forget = tt_curl_forget,
    .rd_on = tt_rd_on,
    .rd_name = tt_rd_name,
    .rd_connect = tt_rd_connect,
    .rd_ca_der = tt_rd_ca_der,
    .wire_home_dir = tt_wire_home_dir,
    .defer_drain = tt_defer_drain,
    .defer_barrier = tt_defer_barrier,
};
