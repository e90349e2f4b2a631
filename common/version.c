#include "version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef VSTOR_VERSION
#define VSTOR_VERSION "unknown"
#endif

const char *vstor_version(void)
{
	return VSTOR_VERSION;
}

void vstor_version_option(int argc, char **argv, const char *prog)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--version")) {
			printf("%s %s\n", prog, VSTOR_VERSION);
			exit(0);
		}
	}
}
