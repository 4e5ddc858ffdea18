/* assets.h - the web assets compiled in (tools/gen_assets.awk over
 * tools/report.css, tools/report.js and tools/ui/): edit those files, not C
 * strings. The report inlines report.css and report.js; the ui server
 * serves all of them. */
#ifndef TT_ASSETS_H
#define TT_ASSETS_H

#include <stddef.h>

extern const char tt_asset_report_css[], tt_asset_report_js[];
extern const size_t tt_asset_report_css_len, tt_asset_report_js_len;
extern const char tt_asset_index_html[], tt_asset_app_js[], tt_asset_app_css[];
extern const size_t tt_asset_index_html_len, tt_asset_app_js_len, tt_asset_app_css_len;

#endif
