/*
 * lib/io/io_internal.h — what the file-format readers and writers share:
 * atomic file replacement (file.c), a growable byte buffer and a small JSON
 * reader/writer (json.c) for the safetensors header. Not part of the API.
 */
#ifndef STYLEX_IO_INTERNAL_H
#define STYLEX_IO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "stylex/io.h"

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

/*
 * A pull reader over text[0..len) for documents of bounded depth. Each
 * function skips leading white space, consumes one token or value and returns
 * true, or returns false with err set ("at byte N: expected ..."); after a
 * failure the reader must not be used further.
 */
typedef struct sx_json_reader {
    const char *text;
    size_t len;
    size_t pos;
    char err[160];
} sx_json_reader;

void sx_json_init(sx_json_reader *r, const char *text, size_t len);
/* Consumes the character c (one of {}[]:,) or fails. */
bool sx_json_expect(sx_json_reader *r, char c);
/* If the next character is c, consumes it and returns true; else false (no error). */
bool sx_json_accept(sx_json_reader *r, char c);
/* The next non-space character (not consumed), or -1 at the end. */
int sx_json_peek(sx_json_reader *r);
/* A string value, decoded into a new NUL-terminated buffer (*out, length *n).
 * Fails on invalid escapes, raw control characters and invalid UTF-8. */
bool sx_json_string(sx_json_reader *r, char **out, size_t *n);
/* A non-negative integer without fraction or exponent, fitting in 64 bits. */
bool sx_json_u64(sx_json_reader *r, uint64_t *out);
/* Any value (validated, discarded). */
bool sx_json_skip(sx_json_reader *r);
/* Only white space remains. */
bool sx_json_end(sx_json_reader *r);

#endif
