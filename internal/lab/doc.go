// Package lab is the project's lab equipment: everything that only tests or measures
// nginx-upgradectl (the test beds, the containers, the loads, the end-to-end suites, the bench and
// the demo). Nothing under internal/lab ships; layout_test.go keeps it that way.
package lab
