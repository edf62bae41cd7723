/* hooks.h: running other programs for `weft up`/`down`: the config's
 * PreUp/PostUp/PreDown/PostDown commands, run by bash with %i expanded as
 * wg-quick runs them, and the helpers wg-quick itself calls (weftd,
 * resolvconf, nft...), found in PATH or, for weftd, beside weft. Children
 * get the signal mask weft had at start, so a Ctrl-C that weft holds off
 * while it sets up still reaches them. */
#ifndef WEFT_CLI_HOOKS_H
#define WEFT_CLI_HOOKS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#define HOOK_SHELL "/bin/bash"

/* The mask children start with; set once before blocking signals. */
void run_set_child_sigmask(const sigset_t *mask);

/* Runs argv (argv[0] searched in PATH unless it has a '/'). input, when
 * non-NULL, is written to its stdin (else stdin is inherited); when output
 * is non-NULL the child's stdout is collected into a fresh NUL-terminated
 * *output. Returns the exit status (0..255, 128+N for a signal N), or
 * -errno when it could not run (-ENOENT: no such program). */
int run_program(char *const argv[], const char *input, char **output);

/* run_program for a program whose stdout is not weft's to print (a daemon
 * starting): its stdout goes to weft's stderr. */
int run_program_stdout_to_stderr(char *const argv[]);

/* The full path of name in PATH, into out; false if absent. */
bool find_in_path(const char *name, char *out, size_t size);

/* name beside this weft binary (build/, or the install directory) when it
 * is there: its path, in buf; else name itself, for run_program to look
 * up in PATH. */
const char *program_beside_self(const char *name, char *buf, size_t size);

/* "[#] NAME ARGS...", the trace wg-quick prints for a command it runs;
 * argv[0] by its base name. */
void trace_program(char *const argv[]);

/* Runs each of the n commands in order, as wg-quick does: "[#] COMMAND" on
 * stderr, then `bash -e -o pipefail -c COMMAND` (wg-quick evals hooks in a
 * subshell of its own `set -e -o pipefail` script). Stops at the first
 * that fails. Returns 0, or the failing command's exit status (> 0) with
 * *failed set to its index, or -errno. */
int hooks_run(char *const *commands, size_t n, const char *iface, size_t *failed);

#endif
