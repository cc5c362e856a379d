/*
 * lib/io/io_internal.h — what the file-format readers and writers share:
 * atomic file replacement (file.c), a growable byte buffer and the JSON
 * writing helpers (json.c) for the safetensors header. Not part of the API;
 * the JSON reader, which lib/models uses too, is public: stylex/json.h.
 */
#ifndef STYLEX_IO_INTERNAL_H
#define STYLEX_IO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "stylex/io.h"
#include "stylex/json.h"

/* ---------------------------------------------------------------- atomic files */

/* A file being written as "<path>.tmp-<pid>" and renamed over path at commit. */
typedef struct sx_tmpfile {
    FILE *f;         /* open for writing; NULL once closed */
    char *tmp_path;  /* owned */
    const char *path;/* borrowed: the final name */
} sx_tmpfile;

/* Creates the temporary file. On failure sets "<what>: <tmp>: cannot create: <errno text>". */
sx_status sx_tmpfile_open(sx_tmpfile *tf, const char *what, const char *path);
/* Flushes, fsyncs, closes and renames over path (then fsyncs the directory).
 * On any failure removes the temporary file and sets the error; the old file
 * at path is untouched. Frees tf's resources either way. */
sx_status sx_tmpfile_commit(sx_tmpfile *tf, const char *what);
/* Closes and removes the temporary file, keeping the current error message. */
void sx_tmpfile_abort(sx_tmpfile *tf);

/* ---------------------------------------------------------------- buffers */

typedef struct sx_buf {
    char *data;   /* [len], NUL-terminated when cap > 0 */
    size_t len;
    size_t cap;
    bool oom;     /* an append failed; contents are incomplete */
} sx_buf;

void sx_buf_put(sx_buf *b, const char *s, size_t n);
void sx_buf_puts(sx_buf *b, const char *s);
void sx_buf_printf(sx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sx_buf_free(sx_buf *b);

/* ---------------------------------------------------------------- JSON */

/* True if s[0..n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool sx_utf8_valid(const char *s, size_t n);
/* Appends s as a JSON string literal; false if s is not valid UTF-8. */
bool sx_json_put_string(sx_buf *b, const char *s);

#endif
