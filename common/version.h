#ifndef VSTOR_VERSION_H
#define VSTOR_VERSION_H

/* The release (dkms.conf's PACKAGE_VERSION, passed in by the Makefile). */
const char *vstor_version(void);

/* Every program answers --version (before "--") by printing
 * "PROG VERSION" on stdout and exiting 0: packaging tools (help2man) and
 * users expect it, and it must work without any configuration. */
void vstor_version_option(int argc, char **argv, const char *prog);

#endif
