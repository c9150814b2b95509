/* SPDX-License-Identifier: MIT */
/* ivshmem bench topic, in two parts:
 *   topic.c         the driver (options, the region, the report's frame)
 *                   and the lossless measures: a topic against N channels
 *                   and N UNIX sockets
 *   topic-latest.c  latest mode against a raw seqlock, between two
 *                   readings of the machine's mode
 * See each file's top comment for the methodology. */
#ifndef IVS_BENCH_TOPIC_H
#define IVS_BENCH_TOPIC_H

#include "bench/bench.h"

/* The latest-mode part on ep (a file: region with room for two more
 * topics, "l0" and "l1", which it creates): the machine's mode, then runs
 * rounds of every measure (secs each), then the mode again.  0, or 1 after
 * a message (a fork failed, or a measure did). */
int topic_latest_run(ivshmem_ep *ep, double secs, unsigned runs);
/* The report of a successful topic_latest_run: text, or the JSON member
 * "latest":{...} (no comma before it). */
void topic_latest_text(void);
void topic_latest_json(void);

#endif
