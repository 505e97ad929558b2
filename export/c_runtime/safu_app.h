/* safu_app.h: the text-in, intent-and-slots-out loop shared by host and board mains. */
#ifndef SAFU_APP_H
#define SAFU_APP_H
#include "safu_mcu.h"

/* Predict one line (len bytes) and print the result as one JSON line. */
void safu_app_line(const char *text, int32_t len);

/* Run every compiled-in utterance, print each result and "done n=<count>". Returns 0. */
int safu_app_run_list(void);

#endif
