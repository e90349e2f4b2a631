#include "check.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

static FILE *cap;
static char text[8192];

static void cap_start(void)
{
	cap = tmpfile();
	vlog_set_stream(cap);
	vlog_set_timestamps(false);
	vlog_set_prog(NULL);
	vlog_set_level(VLOG_INFO);
}

/* Stops capturing and returns what was written. */
static const char *cap_end(void)
{
	size_t n;

	vlog_set_stream(NULL);
	vlog_set_timestamps(true);
	vlog_set_level(VLOG_INFO);
	rewind(cap);
	n = fread(text, 1, sizeof(text) - 1, cap);
	text[n] = 0;
	fclose(cap);
	cap = NULL;
	return text;
}

static int side_effects;

static int bump(void)
{
	return ++side_effects;
}

static void levels_filter(void)
{
	const char *out;

	cap_start();
	vlog_set_level(VLOG_WARN);
	side_effects = 0;
	log_trace("trace %d", bump());
	log_debug("debug %d", bump());
	log_info("info %d", bump());
	log_warn("warn %d", 1);
	log_err("err %d", 2);
	out = cap_end();
	CHECK_EQ(side_effects, 0);	/* disabled levels do not evaluate arguments */
	CHECK_STR(out, "WARN: warn 1\nERROR: err 2\n");

	cap_start();
	vlog_set_level(VLOG_TRACE);
	log_trace("t");
	log_debug("d");
	log_info("i");
	out = cap_end();
	CHECK_STR(out, "TRACE: t\nDEBUG: d\nINFO: i\n");

	cap_start();
	vlog_set_level(VLOG_OFF);
	log_err("nothing");
	out = cap_end();
	CHECK_STR(out, "");
}

static void default_level_is_info(void)
{
	const char *out;

	/* cap_start sets VLOG_INFO, which is also the initial level. */
	CHECK_EQ(vlog_get_level(), VLOG_INFO);
	cap_start();
	log_debug("hidden");
	log_info("shown");
	out = cap_end();
	CHECK_STR(out, "INFO: shown\n");
}

static void verbosity_mapping(void)
{
	int old = vlog_get_level();

	vlog_set_verbosity(0);
	CHECK_EQ(vlog_get_level(), VLOG_INFO);
	vlog_set_verbosity(1);
	CHECK_EQ(vlog_get_level(), VLOG_DEBUG);
	vlog_set_verbosity(2);
	CHECK_EQ(vlog_get_level(), VLOG_TRACE);
	vlog_set_verbosity(100);
	CHECK_EQ(vlog_get_level(), VLOG_TRACE);
	vlog_set_verbosity(-1);
	CHECK_EQ(vlog_get_level(), VLOG_WARN);
	vlog_set_verbosity(-2);
	CHECK_EQ(vlog_get_level(), VLOG_ERROR);
	vlog_set_verbosity(-3);
	CHECK_EQ(vlog_get_level(), VLOG_OFF);
	vlog_set_verbosity(INT64_MIN);
	CHECK_EQ(vlog_get_level(), VLOG_OFF);
	CHECK_EQ(vlog_set_level(99), VLOG_OFF);
	CHECK_EQ(vlog_get_level(), VLOG_TRACE);
	vlog_set_level(-5);
	CHECK_EQ(vlog_get_level(), VLOG_OFF);
	vlog_set_level(old);
}

static void format_prefix(void)
{
	const char *out;

	cap_start();
	vlog_set_prog("vstor-osd");
	log_warn("unknown key \"%s\" (%d)", "foo", 7);
	log_info("with newline\n");
	vlog_set_prog("");
	log_err("no prog");
	out = cap_end();
	CHECK_STR(out, "[vstor-osd] WARN: unknown key \"foo\" (7)\n"
		       "[vstor-osd] INFO: with newline\n"
		       "ERROR: no prog\n");
}

static void format_timestamp(void)
{
	const char *out;
	const char *pat = "dddd-dd-dd dd:dd:dd.ddd ";

	cap_start();
	vlog_set_timestamps(true);
	vlog_set_prog("t");
	log_info("hello");
	vlog_set_prog(NULL);
	out = cap_end();
	CHECK_EQ(strlen(out), strlen(pat) + strlen("[t] INFO: hello\n"));
	for (size_t i = 0; pat[i]; i++) {
		if (pat[i] == 'd')
			CHECK_MSG(isdigit((unsigned char)out[i]), "char %zu of \"%s\"", i, out);
		else
			CHECK_MSG(out[i] == pat[i], "char %zu of \"%s\"", i, out);
	}
	CHECK_STR(out + strlen(pat), "[t] INFO: hello\n");
}

static void long_message(void)
{
	char big[3000];
	const char *out;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	cap_start();
	log_info("%s|end", big);
	out = cap_end();
	CHECK_EQ(strlen(out), strlen("INFO: ") + strlen(big) + strlen("|end\n"));
	CHECK(!strncmp(out, "INFO: xxx", 9));
	CHECK_STR(out + strlen(out) - 5, "|end\n");
}

static void keeps_errno(void)
{
	cap_start();
	errno = ENOENT;
	log_err("open failed: %s", strerror(errno));
	CHECK_EQ(errno, ENOENT);
	cap_end();
	CHECK_STR(text, "ERROR: open failed: No such file or directory\n");
}

static void level_names(void)
{
	CHECK_STR(vlog_level_name(VLOG_ERROR), "ERROR");
	CHECK_STR(vlog_level_name(VLOG_TRACE), "TRACE");
	CHECK_STR(vlog_level_name(42), "?");
	CHECK_EQ(vlog_level_from_name("debug"), VLOG_DEBUG);
	CHECK_EQ(vlog_level_from_name("WARNING"), VLOG_WARN);
	CHECK_EQ(vlog_level_from_name("off"), VLOG_OFF);
	CHECK_EQ(vlog_level_from_name("loud"), -1);
}

static void prog_truncated(void)
{
	cap_start();
	vlog_set_prog("a-very-long-program-name-that-does-not-fit-at-all");
	log_info("x");
	vlog_set_prog(NULL);
	cap_end();
	CHECK_STR(text, "[a-very-long-program-name-that-d] INFO: x\n");
}

int main(void)
{
	RUN(default_level_is_info);
	RUN(levels_filter);
	RUN(verbosity_mapping);
	RUN(format_prefix);
	RUN(format_timestamp);
	RUN(long_message);
	RUN(keeps_errno);
	RUN(level_names);
	RUN(prog_truncated);
	return vt_finish();
}
