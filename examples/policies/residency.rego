# Data residency (GDPR): a release labelled as holding EU personal data may only run, and
# write its audit log, in regions labelled `jurisdiction: eu`; hosts carry their own labels
# and are held to the same rule.
package lockgate.residency

import rego.v1

eu_data if input.release.labels["data-classification"] == "eu-personal"

deny contains msg if {
	eu_data
	some region in input.regions
	object.get(region.labels, "jurisdiction", "none") != "eu"
	msg := sprintf("%s holds EU personal data and may not run in region %s (jurisdiction %s)", [input.release.app, region.name, object.get(region.labels, "jurisdiction", "none")])
}

deny contains msg if {
	eu_data
	some host in input.hosts
	object.get(host.labels, "jurisdiction", "eu") != "eu"
	msg := sprintf("%s holds EU personal data and may not run on host %s (jurisdiction %s)", [input.release.app, host.address, host.labels.jurisdiction])
}

deny contains msg if {
	eu_data
	input.audit_log == null
	msg := sprintf("%s holds EU personal data: its environment must name where its audit log is written (audit-log: {region: ...})", [input.release.app])
}

deny contains msg if {
	eu_data
	object.get(input.audit_log.labels, "jurisdiction", "none") != "eu"
	msg := sprintf("%s holds EU personal data and may not write its audit log in region %s", [input.release.app, input.audit_log.region])
}
