#include "check.h"
#include "config.h"
#include "etcd.h"

static struct cfg *load(int argc, char **argv)
{
	struct cfg *cfg = cfg_new();

	if (cfg && cfg_load(cfg, argc, argv)) {
		fprintf(stderr, "%s\n", cfg_error(cfg));
		cfg_free(cfg);
		return NULL;
	}
	return cfg;
}

static void from_cfg(void)
{
	char *argv[] = { "prog", "--config_path", "",
		"--etcd_address", "10.0.0.1:2379,https://e2:2380/v3", "--etcd_prefix", "/x",
		"--etcd_quick_timeout", "250", "--etcd_ca_file", "/ca.pem",
		"--etcd_user", "u", "--etcd_password", "p", NULL };
	struct cfg *cfg = load(sizeof(argv) / sizeof(argv[0]) - 1, argv);
	struct etcd_config ec;
	char err[256];

	CHECK(cfg);
	etcd_config_init(&ec);
	CHECK_EQ(etcd_config_from_cfg(&ec, cfg, err, sizeof(err)), 0);
	CHECK_EQ(ec.n_endpoints, 2);
	CHECK_STR(ec.endpoints[0], "http://10.0.0.1:2379/v3");
	CHECK_STR(ec.endpoints[1], "https://e2:2380/v3");
	CHECK_STR(ec.prefix, "/x");
	CHECK_EQ(ec.quick_timeout_ms, 250);
	CHECK_EQ(ec.slow_timeout_ms, 5000);
	CHECK_EQ(ec.max_attempts, 5);
	CHECK_STR(ec.ca_file, "/ca.pem");
	CHECK_STR(ec.user, "u");
	CHECK_STR(ec.password, "p");
	etcd_config_free(&ec);
	cfg_free(cfg);
}

static void no_address(void)
{
	char *argv[] = { "prog", "--config_path", "", NULL };
	struct cfg *cfg = load(3, argv);
	struct etcd_config ec;
	char err[256];

	CHECK(cfg);
	etcd_config_init(&ec);
	CHECK_EQ(etcd_config_from_cfg(&ec, cfg, err, sizeof(err)), ETCD_E_INVAL);
	CHECK(strstr(err, "etcd_address"));
	etcd_config_free(&ec);
	cfg_free(cfg);
}

int main(void)
{
	RUN(from_cfg);
	RUN(no_address);
	return vt_finish();
}
