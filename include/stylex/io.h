/*
 * stylex/io.h — file formats: IDX (gzip'd or plain), PNG, safetensors.
 *
 * Every reader validates the whole file against what its header promises and
 * fails with a status and a message naming the file and what was expected vs
 * found (sx_last_error()): SX_EIO when the file cannot be opened, read or
 * written, SX_EFORMAT when its content is corrupt, SX_EINVAL for bad
 * arguments, SX_ENOMEM for sizes beyond what can be allocated. No input makes
 * them crash or read out of bounds.
 *
 * Every writer writes "<path>.tmp-<pid>", flushes it to disk (fsync) and
 * renames it over `path`, so a failed or interrupted write leaves any previous
 * file at `path` intact. See docs/formats.md.
 */
#ifndef STYLEX_IO_H
#define STYLEX_IO_H

#include "stylex/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- folders */

/*
 * Creates the folder `path` and any missing parents (mode 0777 less the
 * umask), like `mkdir -p` but without a shell: no character of `path` is
 * special. An existing folder is success; an existing non-folder at `path` or
 * at a parent fails with SX_EIO and a message naming it.
 */
sx_status sx_mkdir_p(const char *path);

/*
 * Removes `path` and, if it is a folder, everything below it (symbolic links
 * are removed, never followed). A missing path is success. SX_EIO names the
 * first entry that could not be removed.
 */
sx_status sx_remove_tree(const char *path);

/*
 * Puts the folder `tmp` in the place of `path` (a report written whole into
 * tmp): where path exists, the two are exchanged in one atomic step
 * (renameat2 RENAME_EXCHANGE; two renames where the file system lacks it)
 * and the old contents, now at tmp, are removed. A reader sees the old folder
 * or the new one, never a mixture. On failure path is as it was.
 */
sx_status sx_replace_dir(const char *tmp, const char *path);

/*
 * Removes the temporaries "<path>.tmp-<pid>" (files, or folders: a report in
 * the making) that the atomic writers of processes no longer alive left
 * beside `path` (a killed writer cannot remove its own). Temporaries of live
 * processes, this one included, are kept. Returns how many were removed
 * (best effort: one that cannot be removed is skipped). sx_safetensors_save
 * calls it before it writes; the PNG writer does not (a folder of thousands
 * of images would be listed once per image).
 */
int sx_remove_stale_temporaries(const char *path);

/* ---------------------------------------------------------------- IDX */

/*
 * Reads an IDX file (MNIST / Fashion-MNIST), gzip'd or not, into *out: a new
 * contiguous float tensor with the file's shape holding the raw values
 * (0..255 for the usual unsigned-byte files; the other IDX element types,
 * int8/int16/int32/float32/float64, are converted to float). The data must
 * have exactly the length the header promises: a truncated file or trailing
 * bytes are refused. On failure *out is NULL.
 */
sx_status sx_idx_read(const char *path, sx_tensor **out);

/* ---------------------------------------------------------------- PNG */

/*
 * Reads a PNG into *out: a new float tensor [C, H, W] with values in [0, 1],
 * C = 1 for grey (and grey+alpha) images, C = 3 for RGB, RGBA and palette
 * images. Alpha is dropped; 1/2/4/16-bit samples are brought to 8 bits first;
 * no gamma correction. Images over SX_PNG_MAX_PIXELS pixels are refused.
 * On failure *out is NULL and the message reads "png: <path>: <reason>".
 */
#define SX_PNG_MAX_PIXELS ((int64_t)1 << 26)
sx_status sx_png_read(const char *path, sx_tensor **out);

/*
 * Writes t ([C, H, W] with C = 1 or 3, or [H, W] for grey) as an 8-bit grey
 * or RGB PNG. Values are clamped to [0, 1] (NaN becomes 0) and rounded to
 * 0..255. Written to a temporary file and renamed. t is borrowed.
 */
sx_status sx_png_write(const char *path, const sx_tensor *t);

/* ---------------------------------------------------------------- safetensors */

/* Header lengths above this are refused as corrupt. */
#define SX_SAFETENSORS_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

/*
 * Writes a safetensors file: 8-byte little-endian header length N, N bytes of
 * JSON header {"name": {"dtype": "F32", "shape": [...], "data_offsets": [b, e]},
 * ..., "__metadata__": {"key": "value", ...}} padded with spaces to a multiple
 * of 8, then the tensors' float32 little-endian data, contiguous, in the
 * order given. Names must be distinct, non-empty and not "__metadata__";
 * metadata keys distinct. All arguments are borrowed. n_meta may be 0 (then
 * meta_keys/meta_values may be NULL and no "__metadata__" is written).
 * Written to "<path>.tmp-<pid>", fsync'd, renamed over path.
 */
sx_status sx_safetensors_save(const char *path, int n, const char *const *names,
                              sx_tensor *const *tensors, int n_meta, const char *const *meta_keys,
                              const char *const *meta_values);

/* The content of a safetensors file. Everything in it is owned by it. */
typedef struct sx_safetensors {
    int n;                /* number of tensors */
    char **names;         /* [n] tensor names, in the order of their data in the file */
    sx_tensor **tensors;  /* [n] contiguous float32 tensors, one reference each */
    int n_meta;           /* number of metadata entries */
    char **meta_keys;     /* [n_meta], in header order */
    char **meta_values;   /* [n_meta] */
} sx_safetensors;

/*
 * Reads a safetensors file into *out (a new sx_safetensors; free it with
 * sx_safetensors_free, which drops its tensor references — retain a tensor to
 * keep it). Dtypes F32, F64, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8
 * and BOOL are read and converted to float32; others are refused. Refuses a
 * header length past the end of the file or over SX_SAFETENSORS_MAX_HEADER,
 * malformed JSON, duplicate names, a shape that does not match its byte
 * range, ranges that overlap, leave gaps or overrun the file, and trailing
 * bytes. On failure *out is NULL.
 */
sx_status sx_safetensors_load(const char *path, sx_safetensors **out);
/* The same checks of the header and layout, without reading the tensors:
 * *out has the metadata and n = 0 (a file's format and config, cheaply). */
sx_status sx_safetensors_load_header(const char *path, sx_safetensors **out);
void sx_safetensors_free(sx_safetensors *st);
/* The tensor called name (borrowed), or NULL. */
sx_tensor *sx_safetensors_get(const sx_safetensors *st, const char *name);
/* The metadata value for key (borrowed), or NULL. */
const char *sx_safetensors_meta(const sx_safetensors *st, const char *key);

#ifdef __cplusplus
}
#endif
#endif
