#!/bin/bash
# tests/net/90-kernel-interop.sh: weftd against the Linux kernel's WireGuard
# module, in the kernel VM (one boot): tests/kernel/interop.sh says what.
# tests/run: the VM has a network and a CPU of its own, so it runs beside the other suites
exec "$(dirname "$0")/../kernel/vm-run" "$(dirname "$0")/../kernel/interop.sh"
