/*
 * lib/core/error.c — the per-thread last error: a status and a message that
 * names the function and the shapes involved. Nothing here exits or aborts.
 */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static _Thread_local char err_msg[512];
static _Thread_local sx_status err_status = SX_OK;

const char *sx_last_error(void) { return err_msg; }

sx_status sx_last_status(void) { return err_status; }

sx_status sx_fail(sx_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    err_status = st;
    return st;
}

void sx_clear_error(void)
{
    err_msg[0] = '\0';
    err_status = SX_OK;
}
