// Package packaging holds no code: its tests check the files of the nginx-upgrade package
// against each other without building it (seconds, no root): nfpm.yaml is the only list of what
// is installed where; the bash completion and the man page name every command and flag the
// helper defines; the dpkg hook passes the settings to the helper as they are written.
// internal/lab/e2e/packaging installs the built packages in booted Debian containers.
package packaging
