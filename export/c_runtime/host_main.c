/* host_main.c: the exported model on the build machine, for comparing with the boards.
 *
 *   ./safu_mcu_host          # run the compiled-in utterances (same output as a board)
 *   ./safu_mcu_host -        # read text lines from stdin, one JSON line out per line
 */
#include <stdio.h>
#include <string.h>

#include "safu_app.h"

void safu_write(const char *s) { fputs(s, stdout); }

int main(int argc, char **argv) {
    static char line[4096];
    if (argc > 1 && strcmp(argv[1], "-") == 0) {
        while (fgets(line, sizeof line, stdin)) {
            size_t n = strlen(line);
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
            safu_app_line(line, (int32_t)n);
        }
        return 0;
    }
    return safu_app_run_list();
}
