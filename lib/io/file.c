/*
 * lib/io/file.c — atomic replacement of a file: write "<path>.tmp-<pid>",
 * fsync it, rename it over path, fsync the directory. A writer that fails or
 * is killed part way leaves the previous file at path as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io_internal.h"

sx_status sx_tmpfile_open(sx_tmpfile *tf, const char *what, const char *path)
{
    tf->f = NULL;
    tf->path = path;
    size_t n = strlen(path) + 32;
    tf->tmp_path = malloc(n);
    if (!tf->tmp_path) return sx_fail(SX_ENOMEM, "%s: out of memory", what);
    snprintf(tf->tmp_path, n, "%s.tmp-%ld", path, (long)getpid());
    tf->f = fopen(tf->tmp_path, "wb");
    if (!tf->f) {
        sx_status st = sx_fail(SX_EIO, "%s: %s: cannot create: %s", what, tf->tmp_path, strerror(errno));
        free(tf->tmp_path);
        tf->tmp_path = NULL;
        return st;
    }
    return SX_OK;
}

void sx_tmpfile_abort(sx_tmpfile *tf)
{
    if (tf->f) fclose(tf->f);
    tf->f = NULL;
    if (tf->tmp_path) remove(tf->tmp_path);
    free(tf->tmp_path);
    tf->tmp_path = NULL;
}

/* Makes the rename itself durable; failure here is not worth failing the save. */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

sx_status sx_tmpfile_commit(sx_tmpfile *tf, const char *what)
{
    int err = 0;
    errno = 0;
    if (ferror(tf->f))
        err = EIO;
    else if (fflush(tf->f) != 0)
        err = errno ? errno : EIO;
    if (!err && fsync(fileno(tf->f)) != 0) err = errno;
    if (fclose(tf->f) != 0 && !err) err = errno;
    tf->f = NULL;
    if (err) {
        sx_fail(SX_EIO, "%s: %s: write failed: %s", what, tf->tmp_path, strerror(err));
        sx_tmpfile_abort(tf);
        return SX_EIO;
    }
    if (rename(tf->tmp_path, tf->path) != 0) {
        sx_fail(SX_EIO, "%s: cannot rename %s to %s: %s", what, tf->tmp_path, tf->path, strerror(errno));
        sx_tmpfile_abort(tf);
        return SX_EIO;
    }
    sync_parent_dir(tf->path);
    free(tf->tmp_path);
    tf->tmp_path = NULL;
    return SX_OK;
}
