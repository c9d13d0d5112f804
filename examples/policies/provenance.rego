# Supply chain: every release deployed must carry provenance that verified (signed, not
# tampered with) and was signed by one of the keys listed here. Rollbacks are held to it too.
package lockgate.provenance

import rego.v1

# The key ids of the trusted build machines (`lockgate artifact verify DIGEST` shows a
# bundle's); while the set is empty, any key the environment trusts will do.
trusted_keys := set()

deny contains msg if {
	input.action in {"deploy", "rollback"}
	not input.release.provenance.verified
	msg := sprintf("%s has no verified provenance: %s", [input.release.digest, input.release.provenance.problem])
}

deny contains msg if {
	input.action in {"deploy", "rollback"}
	input.release.provenance.verified
	count(trusted_keys) > 0
	not input.release.provenance.key_id in trusted_keys
	msg := sprintf("%s was signed by key %s, which is not a trusted build key", [input.release.digest, input.release.provenance.key_id])
}
