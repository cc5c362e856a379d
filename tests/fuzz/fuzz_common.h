/*
 * tests/fuzz/fuzz_common.h — what the libFuzzer targets share: the input
 * written to a file of this process (the readers take paths), and a check
 * that a refusal always carries a message. A crash, a sanitizer report, a
 * leak or a refusal without a message is a finding (`make fuzz`).
 */
#ifndef STYLEX_FUZZ_COMMON_H
#define STYLEX_FUZZ_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stylex.h"

static char fuzz_file[256];
static void fuzz_remove_file(void) { remove(fuzz_file); }

/* The path of this process's input file (in /dev/shm when it exists),
 * removed when the process exits. */
static const char *fuzz_path(const char *suffix)
{
    if (!fuzz_file[0]) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fuzz_file, sizeof fuzz_file, "%s/stylex-fuzz-%ld%s", dir, (long)getpid(), suffix);
        atexit(fuzz_remove_file);
    }
    return fuzz_file;
}

static const char *fuzz_write(const uint8_t *data, size_t size, const char *suffix)
{
    const char *path = fuzz_path(suffix);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
    return path;
}

/* A failure must say why. */
static void fuzz_check_refusal(sx_status st)
{
    if (st != SX_OK && (!sx_last_error() || !sx_last_error()[0])) abort();
}

/* A reader of one tensor: success gives a tensor (`valid`: it has the shape
 * the reader promises), freed here; a refusal says why and gives none. */
static inline void fuzz_check_tensor(sx_status st, sx_tensor *t, bool valid)
{
    fuzz_check_refusal(st);
    if (st == SX_OK ? !t || !valid : t != NULL) abort();
    sx_tensor_free(t);
}

#endif
