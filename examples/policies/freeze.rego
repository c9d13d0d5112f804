# A change freeze over the end of year: no deploy to an environment labelled
# `tier: production` between the dates below. Rollbacks and repairs stay allowed: a freeze
# must never stop anyone from going back to what worked.
package lockgate.freeze

import rego.v1

begins := time.parse_rfc3339_ns("2026-12-19T00:00:00+00:00")

ends := time.parse_rfc3339_ns("2027-01-04T00:00:00+00:00")

deny contains msg if {
	input.action == "deploy"
	input.environment.labels.tier == "production"
	now := time.parse_rfc3339_ns(input.time)
	begins <= now
	now < ends
	msg := "change freeze until 2027-01-04: only rollbacks and repairs"
}
