/* Builds the etcd client's configuration from the program configuration
 * (vitastor.conf + command line), so every daemon and tool reads the etcd
 * keys the same way. */
#include "config.h"
#include "etcd.h"

#include <stdio.h>

static int copy_str(const struct cfg *cfg, const char *key, char **field)
{
	const char *v = cfg_str(cfg, key);

	return v ? etcd_config_set(field, v) : 0;
}

int etcd_config_from_cfg(struct etcd_config *ec, const struct cfg *cfg, char *err, size_t errlen)
{
	size_t n = 0;
	const char *const *addr = cfg_strv(cfg, "etcd_address", &n);
	int rc = 0;

	if (!n) {
		snprintf(err, errlen, "etcd_address is not set: give --etcd_address "
			 "HOST:PORT or set it in the configuration file");
		return ETCD_E_INVAL;
	}
	for (size_t i = 0; !rc && i < n; i++)
		rc = etcd_config_add_endpoints(ec, addr[i], err, errlen);
	if (rc)
		return rc;
	ec->max_attempts = (int)cfg_u64(cfg, "max_etcd_attempts");
	ec->quick_timeout_ms = (int)cfg_ms(cfg, "etcd_quick_timeout");
	ec->slow_timeout_ms = (int)cfg_ms(cfg, "etcd_slow_timeout");
	ec->keepalive_interval_s = (int)(cfg_ms(cfg, "etcd_ws_keepalive_interval") / 1000);
	rc = copy_str(cfg, "etcd_prefix", &ec->prefix);
	if (!rc)
		rc = copy_str(cfg, "etcd_ca_file", &ec->ca_file);
	if (!rc)
		rc = copy_str(cfg, "etcd_cert_file", &ec->cert_file);
	if (!rc)
		rc = copy_str(cfg, "etcd_key_file", &ec->key_file);
	if (!rc)
		rc = copy_str(cfg, "etcd_user", &ec->user);
	if (!rc)
		rc = copy_str(cfg, "etcd_password", &ec->password);
	if (rc)
		snprintf(err, errlen, "out of memory");
	return rc;
}
