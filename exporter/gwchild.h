/* gwchild.h - tokentapd runs `tokentap gateway` as a service
 * (TOKENTAP_GATEWAY_LISTEN=127.0.0.1:PORT in the environment or a config
 * file): for hosts where agents are started by something other than
 * `tokentap run` (a supervisor, cron, an IDE), pointed at the gateway by
 * their base-URL variables. The gateway is a child of the daemon: started
 * after the daemon listens (its spans come to the daemon's socket),
 * restarted if it dies (at most every 2 s), stopped with the daemon. */
#ifndef TT_GWCHILD_H
#define TT_GWCHILD_H

#include <stdint.h>
#include <sys/types.h>

struct tt_gwchild {
    pid_t pid;                 /* 0: not running */
    char listen[64];           /* "" : no gateway wanted */
    char sock[108];            /* the daemon's socket, for the gateway's spans */
    int64_t next_start_ms;
};

/* Read TOKENTAP_GATEWAY_LISTEN; start the gateway when it is set. */
void tt_gwchild_init(struct tt_gwchild *g, const char *sock_path);
/* Call often (the daemon's loop): restart a gateway that exited. */
void tt_gwchild_tick(struct tt_gwchild *g, int64_t now_ms);
/* SIGTERM and wait (bounded). */
void tt_gwchild_stop(struct tt_gwchild *g);

#endif
