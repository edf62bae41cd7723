#!/bin/bash
# tests/net/92-kernel-cli.sh: the weft CLI on the Linux kernel's WireGuard
# module against wg and wg-quick, in the kernel VM (one boot):
# tests/kernel/cli.sh says what.
# tests/run: the VM has a network and a CPU of its own, so it runs beside the other suites
exec "$(dirname "$0")/../kernel/vm-run" "$(dirname "$0")/../kernel/cli.sh"
