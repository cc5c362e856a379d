/*
 * stylex/json.h — a small JSON pull reader (lib/io/json.c), for the
 * safetensors header and the model configs (lib/models/model_file.c). It reads
 * one token or value per call, so a caller walks a document of known shape
 * without building a tree.
 */
#ifndef STYLEX_JSON_H
#define STYLEX_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

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
/* A JSON number (sign, fraction, exponent), as a double. */
bool sx_json_number(sx_json_reader *r, double *out);
/* Any value (validated, discarded). */
bool sx_json_skip(sx_json_reader *r);
/* Only white space remains. */
bool sx_json_end(sx_json_reader *r);

#ifdef __cplusplus
}
#endif
#endif
