#!/bin/bash
# tests/net/98-kernel-link.sh: weft link on the Linux kernel's WireGuard
# module, in the kernel VM (one boot): tests/kernel/link.sh says what.
# tests/run: the VM has a network and a CPU of its own, so it runs beside the other suites
exec "$(dirname "$0")/../kernel/vm-run" "$(dirname "$0")/../kernel/link.sh"
