// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The compiler's one error path, shared by its steps and its entry point. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "compile_int.h"

int mc_set_err(char **errmsg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(errmsg, fmt, ap) < 0)
		*errmsg = NULL;
	va_end(ap);
	return -E2BIG;
}
