/* bench_curl_calls.c - an ordinary libcurl program for the benchmarks: one
 * easy handle reused for N sequential POSTs (keep-alive), its own write
 * callback counting the bytes. Nothing here knows about tokentap.
 *
 * usage: bench_curl_calls URL BODYFILE CAFILE N [--http1.1] [--no-warmup]
 *                         [header lines...]
 * One untimed warm-up call first (TLS handshake, connection; under tokentap
 * also the preload's lazy setup) unless --no-warmup, then N timed calls.
 * Every call must succeed with HTTP 200 or the program exits 1. Prints on
 * stdout one line:
 *   seconds S calls N bytes B rss_kb R hwm_kb H
 * S: wall time of the N timed calls; B: response body bytes of the last
 * call; R, H: VmRSS and VmHWM from /proc/self/status at the end. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    (void)p;
    *(size_t *)ud += size * nmemb;
    return size * nmemb;
}

static long status_kb(const char *key)
{
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    FILE *f = fopen("/proc/self/status", "r");

    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

static char *slurp(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    char *b;

    if (!f || fseek(f, 0, SEEK_END) || (*len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
        return NULL;
    b = malloc((size_t)*len + 1);
    if (!b || fread(b, 1, (size_t)*len, f) != (size_t)*len)
        return NULL;
    b[*len] = '\0';
    fclose(f);
    return b;
}

static int call(CURL *h, size_t *bytes)
{
    long status = 0;
    CURLcode res;

    *bytes = 0;
    res = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (res != CURLE_OK || status != 200) {
        fprintf(stderr, "bench_curl_calls: result %d (%s) http %ld\n", (int)res,
                curl_easy_strerror(res), status);
        return -1;
    }
    return 0;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;

    return (a > b) - (a < b);
}

int main(int argc, char **argv)
{
    struct curl_slist *hdrs = NULL;
    int http11 = 0, warmup = 1;
    long n, blen;
    size_t bytes = 0;
    struct timespec t0, t1;
    char *body;
    CURL *h;

    if (argc < 5) {
        fprintf(stderr, "usage: %s URL BODYFILE CAFILE N [--http1.1] [--no-warmup] "
                "[header...]\n", argv[0]);
        return 2;
    }
    if (!(body = slurp(argv[2], &blen))) {
        perror(argv[2]);
        return 2;
    }
    n = strtol(argv[4], NULL, 10);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Authorization: Bearer sk-bench");
    for (int i = 5; i < argc; i++) {
        if (!strcmp(argv[i], "--http1.1"))
            http11 = 1;
        else if (!strcmp(argv[i], "--no-warmup"))
            warmup = 0;
        else
            hdrs = curl_slist_append(hdrs, argv[i]);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!(h = curl_easy_init()))
        return 1;
    curl_easy_setopt(h, CURLOPT_URL, argv[1]);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    curl_easy_setopt(h, CURLOPT_CAINFO, argv[3]);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &bytes);
    if (http11)
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    if (warmup && call(h, &bytes))
        return 1;
    /* Each call's own time too: its median is what one call costs without
     * the outliers (a call that met a checkpoint or a timer tick). */
    double *each = calloc(n > 0 ? (size_t)n : 1, sizeof(*each));
    if (!each)
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct timespec a = t0, b;
    for (long i = 0; i < n; i++) {
        if (call(h, &bytes))
            return 1;
        clock_gettime(CLOCK_MONOTONIC, &b);
        each[i] = (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3;
        a = b;
    }
    t1 = a;
    qsort(each, (size_t)n, sizeof(*each), cmp_double);
    printf("seconds %.6f calls %ld bytes %zu rss_kb %ld hwm_kb %ld median_us %.1f\n",
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, n,
           bytes, status_kb("VmRSS"), status_kb("VmHWM"),
           n > 0 ? (n % 2 ? each[n / 2] : (each[n / 2 - 1] + each[n / 2]) / 2) : 0.0);
    free(each);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    curl_global_cleanup();
    free(body);
    return 0;
}
