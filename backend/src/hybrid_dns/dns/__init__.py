"""DNS management: zones, records, RPZ rules, forwarders, and their deployment to BIND9."""
