/*
 * lib/io/file.c — atomic replacement of a file: write "<path>.tmp-<pid>",
 * fsync it, rename it over path, fsync the directory. A writer that fails or
 * is killed part way leaves the previous file at path as it was; the
 * temporary a killed checkpoint writer leaves is removed by the next save to
 * the same path (sx_remove_stale_temporaries, called by sx_safetensors_save). Also the folder helpers the scripts
 * use instead of a shell: sx_mkdir_p, sx_remove_tree, and sx_replace_dir,
 * the swap of a folder written whole (a report).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* ---------------------------------------------------------------- folders */

sx_status sx_mkdir_p(const char *path)
{
    if (!path || !*path) return sx_fail(SX_EINVAL, "mkdir: empty path");
    char *p = strdup(path);
    if (!p) return sx_fail(SX_ENOMEM, "mkdir: out of memory");
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') p[--n] = '\0';
    /* each prefix ending before a '/', then the whole path */
    for (char *c = p + 1;; c++) {
        bool end = *c == '\0';
        if (!end && *c != '/') continue;
        *c = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            sx_status st = sx_fail(SX_EIO, "mkdir: cannot create the folder %s: %s", p, strerror(errno));
            free(p);
            return st;
        }
        struct stat sb;
        if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            sx_status st = sx_fail(SX_EIO, "mkdir: cannot create the folder %s: %s is not a folder", path, p);
            free(p);
            return st;
        }
        if (end) break;
        *c = '/';
        while (c[1] == '/') c++;
        if (c[1] == '\0') break;
    }
    free(p);
    return SX_OK;
}

static int remove_entry(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)type, (void)ftw;
    if (remove(fpath) != 0 && errno != ENOENT) {
        sx_fail(SX_EIO, "remove: cannot remove %s: %s", fpath, strerror(errno));
        return 1;
    }
    return 0;
}

sx_status sx_remove_tree(const char *path)
{
    if (!path || !*path) return sx_fail(SX_EINVAL, "remove: empty path");
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        if (errno == ENOENT) return SX_OK;
        return sx_fail(SX_EIO, "remove: %s: %s", path, strerror(errno));
    }
    if (!S_ISDIR(sb.st_mode)) {
        if (remove(path) != 0) return sx_fail(SX_EIO, "remove: cannot remove %s: %s", path, strerror(errno));
        return SX_OK;
    }
    /* depth first, links not followed, not across file systems */
    int r = nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    if (r < 0) return sx_fail(SX_EIO, "remove: %s: %s", path, strerror(errno));
    return r == 0 ? SX_OK : SX_EIO;
}

sx_status sx_replace_dir(const char *tmp, const char *path)
{
    if (!tmp || !path || !*tmp || !*path) return sx_fail(SX_EINVAL, "replace_dir: empty path");
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        if (errno != ENOENT) return sx_fail(SX_EIO, "replace_dir: %s: %s", path, strerror(errno));
        if (rename(tmp, path) != 0)
            return sx_fail(SX_EIO, "replace_dir: cannot rename %s to %s: %s", tmp, path, strerror(errno));
        sync_parent_dir(path);
        return SX_OK;
    }
    if (!S_ISDIR(sb.st_mode)) return sx_fail(SX_EIO, "replace_dir: %s is not a folder", path);
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE) != 0) {
        if (errno != EINVAL && errno != ENOSYS)
            return sx_fail(SX_EIO, "replace_dir: cannot exchange %s and %s: %s", tmp, path, strerror(errno));
        /* no atomic exchange here: move the old folder aside, then the new one in */
        size_t n = strlen(tmp) + 8;
        char *old = malloc(n);
        if (!old) return sx_fail(SX_ENOMEM, "replace_dir: out of memory");
        snprintf(old, n, "%s.old", tmp);
        sx_remove_tree(old);
        if (rename(path, old) != 0) {
            sx_status st = sx_fail(SX_EIO, "replace_dir: cannot rename %s: %s", path, strerror(errno));
            free(old);
            return st;
        }
        if (rename(tmp, path) != 0) {
            sx_status st = sx_fail(SX_EIO, "replace_dir: cannot rename %s to %s: %s", tmp, path, strerror(errno));
            rename(old, path);
            free(old);
            return st;
        }
        sx_status st = sx_remove_tree(old);
        free(old);
        sync_parent_dir(path);
        return st;
    }
    sync_parent_dir(path);
    return sx_remove_tree(tmp);
}

int sx_remove_stale_temporaries(const char *path)
{
    if (!path || !*path) return 0;
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    const char *base = slash ? slash + 1 : path;
    if (!dir) return 0;
    DIR *d = opendir(dir);
    int removed = 0;
    size_t nb = strlen(base);
    for (struct dirent *e; d && (e = readdir(d));) {
        const char *name = e->d_name;
        if (strncmp(name, base, nb) != 0 || strncmp(name + nb, ".tmp-", 5) != 0) continue;
        char *endp;
        errno = 0;
        long pid = strtol(name + nb + 5, &endp, 10);
        if (errno || *endp || endp == name + nb + 5 || pid <= 0 || (pid_t)pid != pid) continue;
        if (pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge */
        size_t n = strlen(dir) + strlen(name) + 2;
        char *full = malloc(n);
        if (!full) break;
        snprintf(full, n, "%s/%s", dir, name);
        if (sx_remove_tree(full) == SX_OK) removed++;
        free(full);
    }
    if (d) closedir(d);
    free(dir);
    return removed;
}
