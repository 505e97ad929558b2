/* safu_app.c: runs the compiled-in test utterances (safu_utterances in safu_model.c) through the
 * model and prints one JSON line per utterance, then "done n=<count>". Shared by the host build
 * and the board builds, so their outputs can be compared byte for byte.
 *
 * SAFU_DUMP_PROBS=1 adds every probability as hex float bits (used by the tests);
 * SAFU_RUN_LIMIT=k runs only the first k utterances (the footprint bench uses 0 and all).
 */
#include "safu_app.h"

#ifndef SAFU_DUMP_PROBS
#define SAFU_DUMP_PROBS 1
#endif
#ifndef SAFU_RUN_LIMIT
#define SAFU_RUN_LIMIT SAFU_N_UTTERANCES
#endif
#ifndef SAFU_QUIET
#define SAFU_QUIET 0
#endif

static safu_state g_state;     /* all working memory: fixed size, in .bss */
static safu_result g_result;

static int32_t cstr_len(const char *s) { int32_t n = 0; while (s[n]) ++n; return n; }

void safu_app_line(const char *text, int32_t len) {
    safu_predict(&g_state, text, len, &g_result);
    if (!SAFU_QUIET) safu_print_result(&g_state, text, len, &g_result, SAFU_DUMP_PROBS);
}

int safu_app_run_list(void) {
    int32_t i, n = SAFU_RUN_LIMIT < SAFU_N_UTTERANCES ? SAFU_RUN_LIMIT : SAFU_N_UTTERANCES;
    for (i = 0; i < n; ++i) safu_app_line(safu_utterances[i], cstr_len(safu_utterances[i]));
    safu_write("done n=");
    safu_write_u32((uint32_t)n);
    safu_write("\n");
    return 0;
}
