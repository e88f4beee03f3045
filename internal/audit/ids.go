package audit

// StepOutcome is the STEP of the last record of a run; its RESULT is the run's outcome.
const StepOutcome = "outcome"

// stepOther stands for any STEP that has no MESSAGE_ID of its own, so that no record goes
// without one.
const stepOther = "other"

// MessageIDs returns the MESSAGE_ID of each STEP value. Each id has an entry in
// systemd/nginx-upgradectl.catalog, which `journalctl -x` shows with the record; a test keeps the
// two in agreement. An id, once released, never changes: queries and alerts match on it.
func MessageIDs() map[string]string {
	return map[string]string{
		"lock":        "74cb1fad199d46cba261c100140f2f72",
		"find_master": "4c29268732cf415d963241473dfc7220",
		"preflight":   "6faca15d3e874f2fa6d9862b1867d43f",
		"usr2":        "731bfe2f0a8c4ba4b5db515fa03ce4f7",
		"new_master":  "88677dcf7ead4a729c3f632cf183fb81",
		"workers":     "08351dd17f5f4fb5b9bf98a54235d336",
		"health":      "501d405be6c844d1a426f24685aea826",
		"winch":       "f23d9aba177840a69b0058a55b820c1a",
		"soak":        "5fbd50a5b3f7491faf911a9717325445",
		"handover":    "3aecd331a47a4190aa3561bd2b09a7dc",
		"quit":        "4a07f35c0b4840aa8f4db0b9f689d084",
		"verify":      "f1faf815f60746f0b5ed4f74b2a84e70",
		"rollback":    "3da0d78207924d7a87255f3b85240785",
		"commit":      "77084fb61bb843a1b97180428c518746",
		"reload":      "291b6c21480d4372ac4fc937b15a174b",
		StepOutcome:   "83bc4391cfbd4f01b3366166e745a2d3",
		stepOther:     "8bbb447243c648d1a8d8873203353fdc",
	}
}

// MessageID returns the MESSAGE_ID of records of step.
func MessageID(step string) string {
	ids := MessageIDs()
	if id, ok := ids[step]; ok {
		return id
	}
	return ids[stepOther]
}
